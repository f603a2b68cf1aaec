#include <charconv>
#include <string>

#include "crmsync/http/client.hpp"

namespace crmsync::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

Result<Url> Url::parse(std::string_view text) {
  Url url;
  std::string_view rest;
  if (text.substr(0, 7) == "http://") {
    rest = text.substr(7);
  } else if (text.substr(0, 8) == "https://") {
    url.tls = true;
    url.port = 443;
    rest = text.substr(8);
  } else {
    return Error::Invalid("URL must start with http:// or https://");
  }
  auto slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return Error::Invalid("URL must not carry credentials");
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return Error::Invalid("URL has a malformed IPv6 host");
    host = authority.substr(1, close - 1);
    authority = authority.substr(close + 1);
    if (!authority.empty() && authority.front() != ':')
      return Error::Invalid("URL has a malformed IPv6 host");
    authority = authority.empty() ? authority : authority;
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  }
  if (!authority.empty()) {
    std::string_view port = authority.substr(1);
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || p != port.data() + port.size() || value == 0 || value > 65535)
      return Error::Invalid("URL has an invalid port");
    url.port = static_cast<std::uint16_t>(value);
  }
  if (host.empty()) return Error::Invalid("URL has no host");
  url.host = std::string(host);
  auto hash = path.find('#');
  if (hash != std::string_view::npos) path = path.substr(0, hash);
  if (path.empty()) {
    url.target = "/";
  } else if (path.front() == '?') {
    url.target = "/" + std::string(path);
  } else {
    url.target = std::string(path);
  }
  return url;
}

std::string Url::origin() const {
  std::string out = tls ? "https://" : "http://";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

std::string Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

}  // namespace crmsync::http
