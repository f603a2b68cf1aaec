// login-emulator's SQLite file: the tenant, the signing key, users, apps (confidential
// clients), device codes and refresh tokens.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "emulator/sqlite.hpp"

namespace login_emulator {

struct User {
  std::string oid, upn, name;
};

struct App {
  std::string client_id, secret, oid;  // oid: the app's service principal
  std::vector<std::string> roles;
};

struct DeviceCode {
  std::string device_code, user_code, client_id, scope;
  std::int64_t expires_at = 0;    // UTC seconds
  std::int64_t last_poll_ms = 0;  // 0: never polled
  std::string state = "pending";  // pending, approved, denied, redeemed
  std::string oid;                // the approving user
};

struct RefreshToken {
  std::string token, oid, client_id, scope;
  std::int64_t issued_at = 0;
  bool revoked = false;
};

class Store {
 public:
  explicit Store(const std::string& path);

  std::optional<std::string> meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);

  User add_user(const std::string& upn, const std::string& name);
  std::optional<User> user_by_upn(const std::string& upn);
  std::optional<User> user_by_oid(const std::string& oid);

  App add_app(const std::string& client_id, const std::string& secret,
              const std::vector<std::string>& roles);
  std::optional<App> app(const std::string& client_id);

  void add_device_code(const DeviceCode& d);
  std::optional<DeviceCode> device_code(const std::string& device_code);
  std::optional<DeviceCode> device_by_user_code(const std::string& user_code);
  void set_device_state(const std::string& device_code, const std::string& state,
                        const std::string& oid);
  void set_last_poll(const std::string& device_code, std::int64_t ms);
  // Pending and approved codes expire at `now`; returns how many.
  std::int64_t expire_codes(std::int64_t now);

  void add_refresh(const RefreshToken& t);
  std::optional<RefreshToken> refresh(const std::string& token);
  // Revokes every refresh token of the user; returns how many.
  std::int64_t revoke_refresh(const std::string& oid);

  // Wipes users, apps, device codes and refresh tokens; keeps the tenant and the key.
  void reset();

 private:
  emulator::Db db_;
};

}  // namespace login_emulator
