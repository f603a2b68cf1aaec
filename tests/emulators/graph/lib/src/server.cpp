#include "graph_emulator/server.hpp"

#include <iostream>
#include <stdexcept>

#include "csdl.hpp"
#include "service.hpp"
#include "store.hpp"
#include "util.hpp"

#ifndef GRAPH_EMULATOR_DEFAULT_CSDL
#define GRAPH_EMULATOR_DEFAULT_CSDL "../shared/reference/graph/v1.0-Prod.csdl"
#endif

namespace graph_emulator {

std::optional<std::string> parse_args(int argc, char** argv, Options& o) {
  o.common.server_name = "graph-emulator";
  // The scaffold's cut-off (413, connection closed) sits above the emulator's own 4 MiB limit,
  // which answers Graph's JSON error and keeps the connection.
  o.common.body_limit = 16u << 20;
  o.csdl = GRAPH_EMULATOR_DEFAULT_CSDL;
  // What the listener refuses (oversized, malformed HTTP) is answered in Graph's error shape too.
  o.common.refusal = [](int status, const std::string& text) {
    const char* code = status == 413   ? "RequestEntityTooLarge"
                       : status == 431 ? "RequestHeaderFieldsTooLarge"
                                       : "BadRequest";
    return error_reply(GraphError(status, code, trim(text)), "");
  };
  std::vector<emulator::Flag> flags{
      {"--authority", true,
       [&](const std::string& v) -> std::optional<std::string> {
         if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
           return "--authority needs an http(s) URL";
         o.authority = v;
         while (!o.authority.empty() && o.authority.back() == '/') o.authority.pop_back();
         return std::nullopt;
       }},
      {"--authority-ca", true,
       [&](const std::string& v) -> std::optional<std::string> {
         o.authority_ca = v;
         return std::nullopt;
       }},
      {"--csdl", true,
       [&](const std::string& v) -> std::optional<std::string> {
         o.csdl = v;
         return std::nullopt;
       }},
  };
  return emulator::parse_args(argc, argv, o.common, flags);
}

int run(const Options& options) {
  std::string error;
  auto csdl = Csdl::load(options.csdl, error);
  if (!csdl) throw std::runtime_error(error);
  std::optional<emulator::token::Authority> authority;
  if (!options.authority.empty()) {
    authority = emulator::token::fetch_authority(options.authority, options.authority_ca, error);
    if (!authority) throw std::runtime_error("--authority " + options.authority + ": " + error);
  }
  Store store(options.common.db);
  emulator::Admin admin;
  Service service(options, store, *csdl, admin, std::move(authority));
  return emulator::serve(options.common,
                         [&](const emulator::Request& req) { return service.handle(req); });
}

}  // namespace graph_emulator
