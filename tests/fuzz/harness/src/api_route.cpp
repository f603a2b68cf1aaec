// Target api_route: raw request bytes, parsed by Beast's parser with the session's limits,
// then the HTTP endpoint's pure route() (crmsync/api/route.hpp), as the session does.
#include <rapidjson/document.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "crmsync/api/route.hpp"
#include "crmsync/api/server.hpp"
#include "crmsync/fuzz/harness.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync::fuzz {
namespace {

namespace http = boost::beast::http;

const status::Snapshot& sample_state() {
  static const status::Snapshot state = [] {
    status::Snapshot s;
    s.version = "0.1.0";
    s.state = "idle";
    s.role = "primary";
    s.client_id = "fuzz \"host\" <&>";
    s.profile = "default";
    s.counts["contact"] = status::KindCounts{3, 1, 1, 0, 0};
    s.errors.push_back(status::ErrorRow{"contact", "11111111-2222-3333-4444-555555555555", "AB",
                                        "invalid: \"quoted\"\n<b>", 2, UtcTime{1740816000000}});
    for (int i = 1; i <= 3; ++i)
      s.events.push_back(status::Event{i, "progress", UtcTime{1740816000000 + i}, "{\"n\":1}"});
    s.last_cycle = status::CycleInfo{};
    s.last_cycle->finished = UtcTime{1740816001000};
    s.last_cycle->result = "ok";
    return s;
  }();
  return state;
}

bool is_public(std::string_view target) {
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  return path == "/" || path == "/v1/health";
}

}  // namespace

Outcome api_route(std::string_view input) {
  Outcome out;
  const api::ServerOptions limits;
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limits.max_header));
  parser.body_limit(limits.max_body);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(input.data(), input.size()), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return out;  // the session answers 400 or closes
  auto& msg = parser.get();
  api::Request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  req.host = std::string(msg[http::field::host]);
  req.authorization = std::string(msg[http::field::authorization]);
  req.body = msg.body();

  api::RouteContext ctx;
  ctx.token = "fuzz-token-0123456789abcdef";
  ctx.port = 8787;
  ctx.max_body = limits.max_body;
  const api::Routed routed = api::route(req, sample_state(), ctx);
  out.accepted = true;
  if (routed.defer != api::Routed::Defer::kNone) {
    if (!api::token_matches(req.authorization, ctx.token))
      out.violation = "a deferred sync or event poll without the token";
    return out;
  }
  const api::Response& r = routed.response;
  if (r.status < 100 || r.status > 599) {
    out.violation = "HTTP status " + std::to_string(r.status);
    return out;
  }
  // Only the health route and the token-less page answer without the token (SPEC X4).
  if (r.status < 300 && !is_public(req.target) && !api::token_matches(req.authorization, ctx.token))
    out.violation = "a " + std::to_string(r.status) + " for " + req.target + " without the token";
  if (r.status < 300 && !api::is_loopback_host_header(req.host, ctx.port))
    out.violation = "an answer to a non-loopback Host";
  if (r.content_type == "application/json") {
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(r.body.data(), r.body.size());
    if (doc.HasParseError())
      out.violation = "a JSON reply that does not parse: " + r.body.substr(0, 200);
  }
  for (const auto& [k, v] : r.headers)
    if (v.find_first_of("\r\n") != std::string::npos) out.violation = "a header with a line break";
  return out;
}

}  // namespace crmsync::fuzz
