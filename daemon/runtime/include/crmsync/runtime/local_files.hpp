// Files the daemon and the CLI share on one machine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "crmsync/model/result.hpp"

namespace crmsync {

// The API token (SPEC X4): read from `path`, or, when the file is missing, 32 random bytes
// as 64 hex digits written there with mode 0600 (its directory is created with 0700).
// kPermission when the file is readable by others than its owner.
Result<std::string> ensure_api_token(const std::string& path);
// Reads an existing token (the CLI's side); kNotFound when there is none yet.
Result<std::string> read_api_token(const std::string& path);

// Where a running daemon listens: written at start-up, removed at exit.
struct RuntimeInfo {
  std::string host;  // as connectable: "127.0.0.1", "::1"
  std::uint16_t port = 0;
  std::int64_t pid = 0;
  std::string profile;
  // "http://127.0.0.1:8787" / "http://[::1]:8787"
  std::string base_url() const;
};
Result<void> write_runtime_file(const std::string& path, const RuntimeInfo& info);
Result<RuntimeInfo> read_runtime_file(const std::string& path);
void remove_runtime_file(const std::string& path);

}  // namespace crmsync

namespace crmsync {

// One process per cache: crmsyncd and `crmsync once` take this lock (flock on
// "<cache>.lock") for as long as they use the cache. kConflict when another holds it.
class ProfileLock {
 public:
  ~ProfileLock();
  ProfileLock(const ProfileLock&) = delete;
  ProfileLock& operator=(const ProfileLock&) = delete;
  static Result<std::unique_ptr<ProfileLock>> acquire(const std::string& cache_path);

 private:
  explicit ProfileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace crmsync
