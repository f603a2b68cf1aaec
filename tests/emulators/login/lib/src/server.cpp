#include "login_emulator/server.hpp"

#include "emulator/admin.hpp"
#include "keys.hpp"
#include "service.hpp"
#include "store.hpp"

namespace login_emulator {

namespace {

std::optional<std::string> int_flag(const std::string& v, int min, int& out, const char* name) {
  try {
    std::size_t used = 0;
    int n = std::stoi(v, &used);
    if (used != v.size() || n < min) throw std::invalid_argument(v);
    out = n;
    return std::nullopt;
  } catch (const std::exception&) {
    return std::string(name) + " needs an integer >= " + std::to_string(min);
  }
}

}  // namespace

std::optional<std::string> parse_args(int argc, char** argv, Options& o) {
  o.common.body_limit = 1u << 20;  // OAuth forms are small
  o.common.server_name = "login-emulator";
  std::vector<emulator::Flag> flags{
      {"--interval-s", true,
       [&](const std::string& v) { return int_flag(v, 0, o.interval_s, "--interval-s"); }},
      {"--code-lifetime-s", true,
       [&](const std::string& v) {
         return int_flag(v, 1, o.code_lifetime_s, "--code-lifetime-s");
       }},
      {"--token-lifetime-s", true,
       [&](const std::string& v) {
         return int_flag(v, 1, o.token_lifetime_s, "--token-lifetime-s");
       }},
      {"--public-url", true,
       [&](const std::string& v) -> std::optional<std::string> {
         if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
           return "--public-url needs an http(s) URL";
         o.public_url = v;
         while (!o.public_url.empty() && o.public_url.back() == '/') o.public_url.pop_back();
         return std::nullopt;
       }},
  };
  return emulator::parse_args(argc, argv, o.common, flags);
}

int run(const Options& options) {
  Store store(options.common.db);
  auto pem = store.meta("signing_key");
  SigningKey key(pem.value_or(""));
  if (!pem) store.set_meta("signing_key", key.pem());
  emulator::Admin admin;
  Service service(options, store, key, admin);
  return emulator::serve(
      options.common, [&](const emulator::Request& req) { return service.handle(req); },
      [&](const emulator::Listening& where) { service.listening(where); });
}

}  // namespace login_emulator
