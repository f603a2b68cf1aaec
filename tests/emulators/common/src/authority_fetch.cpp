// fetch_authority: two GETs (OpenID configuration, JWKS) with Beast, over TLS when https.
#include <utility>  // before Asio: Boost 1.74 needs std::exchange declared

#include <rapidjson/document.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "emulator/token_check.hpp"

namespace emulator::token {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxDocument = 1u << 20;

struct Url {
  bool tls = false;
  std::string host, port, target;
};

std::optional<Url> parse_url(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return std::nullopt;
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = u.tls ? "443" : "80";
  }
  if (u.host.empty()) return std::nullopt;
  return u;
}

template <class Stream>
std::optional<std::string> get_on(Stream& stream, const Url& u, std::string& error) {
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, u.host + ":" + u.port);
  req.set(http::field::accept, "application/json");
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxDocument);
  http::read(stream, buf, parser);
  auto res = parser.release();
  if (res.result() != http::status::ok) {
    error = "GET " + u.target + ": HTTP " + std::to_string(res.result_int());
    return std::nullopt;
  }
  return res.body();
}

std::optional<std::string> get(const std::string& url, const std::string& ca_file,
                               std::string& error) {
  auto u = parse_url(url);
  if (!u) {
    error = "not an http(s) URL: " + url;
    return std::nullopt;
  }
  try {
    asio::io_context io;
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(u->host, u->port);
    if (!u->tls) {
      beast::tcp_stream stream(io);
      stream.expires_after(std::chrono::seconds(30));
      stream.connect(endpoints);
      return get_on(stream, *u, error);
    }
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    if (ca_file.empty())
      ctx.set_default_verify_paths();
    else
      ctx.load_verify_file(ca_file);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), u->host.c_str()))
      throw std::runtime_error("cannot set SNI");
    stream.set_verify_callback(asio::ssl::host_name_verification(u->host));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(stream).connect(endpoints);
    stream.handshake(asio::ssl::stream_base::client);
    return get_on(stream, *u, error);
  } catch (const std::exception& e) {
    error = "GET " + url + ": " + e.what();
    return std::nullopt;
  }
}

}  // namespace

std::optional<Authority> fetch_authority(const std::string& authority_url,
                                         const std::string& ca_file, std::string& error) {
  std::string base = authority_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  auto config = get(base + "/v2.0/.well-known/openid-configuration", ca_file, error);
  if (!config) return std::nullopt;
  rapidjson::Document doc;
  doc.Parse(config->data(), config->size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("issuer") ||
      !doc["issuer"].IsString() || !doc.HasMember("jwks_uri") || !doc["jwks_uri"].IsString()) {
    error = "the OpenID configuration lacks issuer or jwks_uri";
    return std::nullopt;
  }
  Authority a;
  a.issuer = doc["issuer"].GetString();
  auto jwks = get(doc["jwks_uri"].GetString(), ca_file, error);
  if (!jwks) return std::nullopt;
  auto keys = KeySet::from_jwks(*jwks, error);
  if (!keys) return std::nullopt;
  a.keys = std::move(*keys);
  return a;
}

}  // namespace emulator::token
