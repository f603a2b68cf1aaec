// The authority's endpoints (v2.0: devicecode, token, keys, openid-configuration) and its
// admin routes, over the Store. One request at a time (the scaffold's serving thread).
#pragma once

#include <string>

#include "emulator/admin.hpp"
#include "emulator/http.hpp"
#include "emulator/server.hpp"
#include "keys.hpp"
#include "login_emulator/server.hpp"
#include "store.hpp"

namespace login_emulator {

class Service {
 public:
  // Registers the admin routes and the login-specific fault keys on `admin`.
  Service(const Options& options, Store& store, SigningKey& key, emulator::Admin& admin);

  const std::string& tenant_id() const { return tid_; }
  // Where the listener is: the base URL of requests without a usable Host header.
  void listening(const emulator::Listening& where);
  emulator::Reply handle(const emulator::Request& req);

 private:
  struct Form;
  emulator::Reply protocol(const emulator::Request& req, std::string& grant_type);
  emulator::Reply devicecode(const emulator::Request& req, const Form& form);
  emulator::Reply token(const emulator::Request& req, const Form& form, std::string& grant_type);
  emulator::Reply device_code_grant(const emulator::Request& req, const Form& form);
  emulator::Reply refresh_grant(const emulator::Request& req, const Form& form);
  emulator::Reply client_credentials_grant(const emulator::Request& req, const Form& form);
  emulator::Reply openid_configuration(const emulator::Request& req, const std::string& tenant);
  emulator::Reply error(const emulator::Request& req, int status, const std::string& error,
                        int code, const std::string& description);
  emulator::Reply issue_user_tokens(const emulator::Request& req, const User& user,
                                    const std::string& client_id, const std::string& scope_text,
                                    bool client_info, bool rotate);
  std::string base(const emulator::Request& req) const;
  std::string issuer(const emulator::Request& req) const;
  bool known_tenant(const std::string& tenant) const;
  int access_lifetime() const;
  void register_admin(emulator::Admin& admin);

  Options options_;
  Store& store_;
  SigningKey& key_;
  emulator::Admin* admin_ = nullptr;
  std::string tid_;
  std::string fallback_base_;
  // Faults of this emulator (POST /admin/faults).
  int slow_down_ = 0;         // the next N device code polls answer slow_down
  int token_lifetime_s_ = 0;  // 0: options_.token_lifetime_s
};

}  // namespace login_emulator
