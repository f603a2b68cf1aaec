// The "store" object: the mock mailbox, Exchange through EWS, Microsoft 365 through Graph, or an
// Outlook profile through MAPI. Each key's problem names its path (store.auth.token_file, ...).
#include <filesystem>

#include "checker.hpp"

namespace crmsync::config_detail {

bool has_control(const std::string& s) {
  for (unsigned char ch : s)
    if (ch < 0x20 || ch == 0x7f) return true;
  return false;
}

namespace {

// "local@domain" without spaces or control characters: sent as a header and in SOAP.
bool is_smtp_address(const std::string& s) {
  auto at = s.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= s.size() || s.find('@', at + 1) != s.npos)
    return false;
  if (s.size() > 320 || has_control(s)) return false;
  for (char ch : s)
    if (ch == ' ' || ch == '<' || ch == '>' || ch == '"' || ch == ',' || ch == ';') return false;
  return true;
}

}  // namespace

std::string url_host(const std::string& url) {
  auto start = url.find("://");
  if (start == std::string::npos) return {};
  std::string rest = url.substr(start + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.find(':'));
}

void parse_negotiate(Checker& c, const Json& auth, const std::string& path, std::string& username,
                     std::string& password_file) {
  if (!c.object(auth, path, {"type", "username", "password_file"})) return;
  if (auto u = c.string(auth, path, "username", true)) {
    auto slash = u->find('\\');
    auto at = u->find('@');
    const bool down_level = slash != std::string::npos && slash > 0 && slash + 1 < u->size() &&
                            u->find('\\', slash + 1) == std::string::npos;
    const bool upn =
        slash == std::string::npos && at != std::string::npos && at > 0 && at + 1 < u->size();
    if ((!down_level && !upn) || has_control(*u))
      c.problem(path + ".username", "must be DOMAIN\\user or user@domain");
    else
      username = *u;
  }
  if (auto f = c.existing_file(auth, path, "password_file", true)) password_file = *f;
}

void parse_device_code(Checker& c, const Json& auth, const std::string& path, std::string& tenant,
                       std::string& client_id, std::string& authority) {
  if (!c.object(auth, path, {"type", "tenant", "client_id", "authority"})) return;
  if (auto v = c.string(auth, path, "tenant", true)) {
    // A path segment of the authority's URLs: a tenant id, a domain or "organizations".
    if (v->size() > 256 ||
        v->find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789.-_") != std::string::npos)
      c.problem(path + ".tenant", "must be a tenant id, a domain or \"organizations\"");
    else
      tenant = *v;
  }
  if (auto v = c.string(auth, path, "client_id", true)) {
    if (v->size() > 256 || has_control(*v))
      c.problem(path + ".client_id", "must be the public client's application id");
    else
      client_id = *v;
  }
  if (auto v = c.string(auth, path, "authority")) {
    if ((v->rfind("https://", 0) != 0 && v->rfind("http://", 0) != 0) || has_control(*v))
      c.problem(path + ".authority", "must be an http:// or https:// URL");
    else
      authority = *v;
  }
}

namespace {

void parse_ews_auth(Checker& c, const Json& auth, EwsAuthConfig& a) {
  const std::string path = "store.auth";
  if (!auth.IsObject()) {
    c.problem(path, "must be an object");
    return;
  }
  auto type = c.string(auth, path, "type", true);
  if (!type) return;
  if (*type == "basic") {
    a.type = EwsAuthConfig::Type::kBasic;
    if (!c.object(auth, path, {"type", "username", "password_file"})) return;
    if (auto u = c.string(auth, path, "username", true)) {
      // RFC 7617: the user-id of Basic cannot contain a colon.
      if (u->find(':') != std::string::npos || has_control(*u))
        c.problem(path + ".username", "must not contain ':' or control characters");
      else
        a.username = *u;
    }
    if (auto f = c.existing_file(auth, path, "password_file", true)) a.password_file = *f;
  } else if (*type == "bearer") {
    a.type = EwsAuthConfig::Type::kBearer;
    if (!c.object(auth, path, {"type", "token_file"})) return;
    if (auto f = c.existing_file(auth, path, "token_file", true)) a.token_file = *f;
  } else if (*type == "negotiate" || *type == "ntlm") {
    // Both names: NTLM (gss-ntlmssp), inside SPNEGO when the server offers Negotiate.
    a.type = EwsAuthConfig::Type::kNegotiate;
    parse_negotiate(c, auth, path, a.username, a.password_file);
  } else {
    c.problem(path + ".type", "must be \"basic\", \"bearer\" or \"negotiate\"");
  }
}

void parse_ews_store(Checker& c, const Json& store, Config& cfg) {
  auto& s = cfg.store;
  if (!c.object(store, "store",
                {"type", "url", "mailbox", "impersonate", "auth", "ca_file", "connect_timeout_ms",
                 "request_timeout_ms", "state_path"}))
    return;
  if (auto u = c.string(store, "store", "url", true)) {
    const bool https = u->rfind("https://", 0) == 0;
    const bool http = u->rfind("http://", 0) == 0;
    if ((!https && !http) || url_host(*u).empty() || has_control(*u))
      c.problem("store.url",
                "must be an https:// URL, e.g. https://mail.example.org/EWS/Exchange.asmx");
    else if (http && !is_loopback_host(url_host(*u)))
      // Basic auth and the user's mail in clear text: only to a local test server.
      c.problem("store.url", "must be https:// (http:// only for a loopback host)");
    else
      s.url = *u;
  }
  if (auto m = c.string(store, "store", "mailbox", true)) {
    if (!is_smtp_address(*m))
      c.problem("store.mailbox", "must be the mailbox's SMTP address, e.g. alice@example.com");
    else
      s.mailbox = *m;
  }
  if (auto v = c.boolean(store, "store", "impersonate")) s.impersonate = *v;
  if (auto f = c.existing_file(store, "store", "ca_file")) s.ca_file = *f;
  if (auto v = c.integer(store, "store", "connect_timeout_ms", 100, 600'000))
    s.connect_timeout_ms = *v;
  if (auto v = c.integer(store, "store", "request_timeout_ms", 100, 600'000))
    s.request_timeout_ms = *v;
  if (auto p = c.path_value(store, "store", "state_path")) s.state_path = *p;
  if (const Json* auth = Checker::member(store, "auth"))
    parse_ews_auth(c, *auth, s.auth);
  else
    c.problem("store.auth", "is required");
}

// Outlook's profile through Extended MAPI. Valid on every platform (a config file moves with
// its user); only a Windows build opens it, elsewhere the runtime says so.
void parse_mapi_store(Checker& c, const Json& store, Config& cfg) {
  if (!c.object(store, "store", {"type", "profile"})) return;
  auto p = c.string(store, "store", "profile", true);
  if (!p) return;
  // MAPI's profile names are at most 64 characters (cchProfileNameMax).
  if (p->size() > 64 || has_control(*p) || p->find_first_not_of(' ') == std::string::npos)
    c.problem("store.profile",
              "must be the name of an Outlook (MAPI) profile, 1 to 64 characters, e.g. Outlook");
  else
    cfg.store.profile = *p;
}

// Microsoft 365 through Graph: Graph's root (the adapter appends v1.0/...), "me" or the mailbox's
// user principal name, and a bearer token file or the user's own sign-in (crmsync login).
void parse_graph_auth(Checker& c, const Json& auth, GraphAuthConfig& a) {
  const std::string path = "store.auth";
  if (!auth.IsObject()) {
    c.problem(path, "must be an object");
    return;
  }
  auto type = c.string(auth, path, "type", true);
  if (!type) return;
  if (*type == "bearer") {
    a.type = GraphAuthConfig::Type::kBearer;
    if (!c.object(auth, path, {"type", "token_file"})) return;
    if (auto f = c.existing_file(auth, path, "token_file", true)) a.token_file = *f;
  } else if (*type == "device_code") {
    a.type = GraphAuthConfig::Type::kDeviceCode;
    parse_device_code(c, auth, path, a.tenant, a.client_id, a.authority);
  } else {
    c.problem(path + ".type", "must be \"bearer\" or \"device_code\" for store type graph");
  }
}

void parse_graph_store(Checker& c, const Json& store, Config& cfg) {
  auto& s = cfg.store;
  if (!c.object(store, "store",
                {"type", "url", "user", "auth", "ca_file", "connect_timeout_ms",
                 "request_timeout_ms", "state_path", "calendar_window"}))
    return;
  s.url = "https://graph.microsoft.com/";
  if (auto u = c.string(store, "store", "url")) {
    const bool https = u->rfind("https://", 0) == 0;
    const bool http = u->rfind("http://", 0) == 0;
    if ((!https && !http) || url_host(*u).empty() || has_control(*u) ||
        u->find_first_of("?#") != std::string::npos)
      c.problem("store.url", "must be Graph's root URL, e.g. https://graph.microsoft.com/");
    else if (http && !is_loopback_host(url_host(*u)))
      // The user's mail and a bearer token in clear text: only to a local test server.
      c.problem("store.url", "must be https:// (http:// only for a loopback host)");
    else
      s.url = *u;
  }
  if (auto u = c.string(store, "store", "user")) {
    const auto at = u->find('@');
    if (*u != "me" &&
        (at == std::string::npos || at == 0 || at + 1 >= u->size() || u->size() > 320 ||
         has_control(*u) || u->find_first_of(" /?#\\") != std::string::npos))
      c.problem("store.user", "must be \"me\" or the mailbox's user principal name (user@domain)");
    else
      s.user = *u;
  }
  if (auto f = c.existing_file(store, "store", "ca_file")) s.ca_file = *f;
  if (auto v = c.integer(store, "store", "connect_timeout_ms", 100, 600'000))
    s.connect_timeout_ms = *v;
  if (auto v = c.integer(store, "store", "request_timeout_ms", 100, 600'000))
    s.request_timeout_ms = *v;
  if (auto p = c.path_value(store, "store", "state_path")) s.state_path = *p;
  if (const Json* w = Checker::member(store, "calendar_window")) {
    if (c.object(*w, "store.calendar_window", {"past_days", "future_days"})) {
      if (auto v = c.integer(*w, "store.calendar_window", "past_days", 0, 3650))
        s.calendar_past_days = static_cast<int>(*v);
      if (auto v = c.integer(*w, "store.calendar_window", "future_days", 1, 3650))
        s.calendar_future_days = static_cast<int>(*v);
    }
  }
  if (const Json* auth = Checker::member(store, "auth"))
    parse_graph_auth(c, *auth, s.graph_auth);
  else
    c.problem("store.auth", "is required");
}

}  // namespace

void parse_store(Checker& c, const Json& store, Config& cfg) {
  if (!store.IsObject()) {
    c.problem("store", "must be an object");
    return;
  }
  auto type = c.string(store, "store", "type", true);
  if (!type && Checker::member(store, "type")) return;  // the wrong type: reported
  // Without a type the keys are checked as the mock mailbox's (the default).
  const std::string t = type.value_or("mock");
  cfg.store.type = t;
  if (t == "mock") {
    if (c.object(store, "store", {"type", "path"}))
      if (auto p = c.path_value(store, "store", "path", true)) cfg.store.path = *p;
  } else if (t == "ews") {
    parse_ews_store(c, store, cfg);
  } else if (t == "graph") {
    parse_graph_store(c, store, cfg);
  } else if (t == "mapi") {
    parse_mapi_store(c, store, cfg);
  } else {
    c.problem("store.type", "must be \"mock\", \"ews\", \"graph\" or \"mapi\"");
  }
}

void store_defaults(Config& cfg) {
  if (cfg.store.state_path.empty() && !cfg.cache.empty()) {
    if (cfg.store.type == "ews") cfg.store.state_path = cfg.cache + ".ews-state.db";
    if (cfg.store.type == "graph") cfg.store.state_path = cfg.cache + ".graph-state.db";
  }
}

}  // namespace crmsync::config_detail
