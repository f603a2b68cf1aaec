#include "scope.hpp"

#include "emulator/http.hpp"

namespace login_emulator {

namespace {

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
bool scope_token_ok(const std::string& s) {
  if (s.empty() || s.size() > 512) return false;
  for (unsigned char c : s)
    if (c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e) return false;
  return true;
}

void add(std::string& out, const std::string& s) {
  if (!out.empty()) out += ' ';
  out += s;
}

}  // namespace

std::string Scope::scp() const {
  std::string s;
  for (const auto& n : names) add(s, n);
  return s;
}

std::string Scope::response() const {
  std::string s;
  for (const auto& e : echoed) add(s, e);
  if (openid) add(s, "openid");
  if (profile) add(s, "profile");
  if (email) add(s, "email");
  if (offline_access) add(s, "offline_access");
  return s;
}

std::string Scope::stored() const {
  std::string s;
  if (default_scope)
    add(s, resource + "/.default");
  else
    for (const auto& n : names) add(s, resource == kGraph ? n : resource + "/" + n);
  if (openid) add(s, "openid");
  if (profile) add(s, "profile");
  if (email) add(s, "email");
  if (offline_access) add(s, "offline_access");
  return s;
}

std::optional<Scope> parse_scope(const std::string& text, int& code, std::string& error) {
  Scope sc;
  std::size_t pos = 0;
  bool any = false;
  while (pos < text.size()) {
    auto sp = text.find(' ', pos);
    if (sp == std::string::npos) sp = text.size();
    std::string item = text.substr(pos, sp - pos);
    pos = sp + 1;
    if (item.empty()) continue;
    any = true;
    if (!scope_token_ok(item)) {
      code = 70011;
      error = "The provided value for the input parameter 'scope' is not valid.";
      return std::nullopt;
    }
    if (emulator::iequals(item, "openid")) {
      sc.openid = true;
      continue;
    }
    if (emulator::iequals(item, "profile")) {
      sc.profile = true;
      continue;
    }
    if (emulator::iequals(item, "email")) {
      sc.email = true;
      continue;
    }
    if (emulator::iequals(item, "offline_access")) {
      sc.offline_access = true;
      continue;
    }
    std::string resource = kGraph, name = item;
    if (auto slash = item.rfind('/'); slash != std::string::npos) {
      resource = item.substr(0, slash);
      name = item.substr(slash + 1);
      while (!resource.empty() && resource.back() == '/') resource.pop_back();  // "host//x"
      auto scheme = resource.find("://");
      if (resource.empty() || name.empty() ||
          (scheme != std::string::npos && scheme + 3 >= resource.size())) {
        code = 70011;
        error = "The provided value for the input parameter 'scope' is not valid. The scope " +
                item + " is not valid.";
        return std::nullopt;
      }
    }
    if (emulator::iequals(resource, kGraph)) resource = kGraph;
    if (!sc.resource.empty() && sc.resource != resource) {
      code = 28000;
      error =
          "Provided value for the input parameter scope is not valid because it contains more "
          "than one resource. Scope " +
          text + " is not valid.";
      return std::nullopt;
    }
    sc.resource = resource;
    if (name == ".default") {
      sc.default_scope = true;
      continue;
    }
    bool seen = false;
    for (const auto& n : sc.names) seen = seen || emulator::iequals(n, name);
    if (seen) continue;
    sc.names.push_back(name);
    sc.echoed.push_back(resource == kGraph ? name : resource + "/" + name);
  }
  if (!any) {
    code = 900144;
    error = "The request body must contain the following parameter: 'scope'.";
    return std::nullopt;
  }
  if (sc.resource.empty()) sc.resource = kGraph;  // only OIDC scopes: a Graph token
  if (sc.names.empty()) {
    // Only OIDC scopes, or ".default": no consent model here, so the emulator grants what an
    // app registration usually has: Graph's User.Read, another resource's user_impersonation.
    std::string name = sc.resource == kGraph ? "User.Read" : "user_impersonation";
    sc.names.push_back(name);
    sc.echoed.push_back(sc.resource == kGraph ? name : sc.resource + "/" + name);
  }
  return sc;
}

}  // namespace login_emulator
