// Runs the real crm-emulator process for a test: port 0, a temp database, the first stdout
// line read with a deadline, SIGTERM on destruction. Admin API calls over plain HTTP.
#pragma once

#include <string>
#include <thread>

#include "crmsync/http/client.hpp"
#include "support.hpp"

namespace crmtest {

class EmulatorProcess {
 public:
  // Starts `path`; check ok() (and error()) before use.
  explicit EmulatorProcess(const std::string& path);
  ~EmulatorProcess();
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  bool ok() const { return port_ != 0; }
  const std::string& error() const { return error_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

  // One admin call; the reply (any status) or a transport error.
  crmsync::Result<crmsync::http::Response> admin(const std::string& method, const std::string& path,
                                                 const std::string& json_body = "");
  // POST /admin/users; the new user's systemuserid ("" on failure).
  std::string add_user(const std::string& fullname, const std::string& token);

 private:
  TempDir dir_;
  int pid_ = -1;
  int out_fd_ = -1;
  unsigned short port_ = 0;
  std::string error_;
  std::thread drain_;
  crmsync::http::Client admin_client_;
};

}  // namespace crmtest
