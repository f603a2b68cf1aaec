#include "crmsync/config/config.hpp"

#include "checker.hpp"
#include "crmsync/config/time_zone.hpp"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace crmsync {
namespace {

using namespace config_detail;

constexpr std::size_t kMaxConfigBytes = 1u << 20;

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// "host:port", "[::1]:port" → host (no brackets) and port.
bool split_listen(const std::string& s, std::string& host, std::uint16_t& port) {
  std::string port_text;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':') return false;
    host = s.substr(1, close - 1);
    port_text = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon) return false;
    host = s.substr(0, colon);
    port_text = s.substr(colon + 1);
  }
  if (host.empty() || port_text.empty() || port_text.size() > 5) return false;
  for (char c : port_text)
    if (c < '0' || c > '9') return false;
  int p = std::stoi(port_text);
  if (p > 65535) return false;
  port = static_cast<std::uint16_t>(p);
  return true;
}

void parse_auth(Checker& c, const Json& auth, Config& cfg) {
  const std::string path = "crm.auth";
  if (!auth.IsObject()) {
    c.problem(path, "must be an object");
    return;
  }
  auto type = c.string(auth, path, "type", true);
  if (!type) return;
  auto& a = cfg.crm.auth;
  if (*type == "bearer") {
    a.type = CrmAuthConfig::Type::kBearer;
    if (!c.object(auth, path, {"type", "token_file", "token_env"})) return;
    auto file = c.path_value(auth, path, "token_file");
    auto env = c.string(auth, path, "token_env");
    if (file && env) {
      c.problem(path, "give token_file or token_env, not both");
    } else if (!file && !env) {
      if (!Checker::member(auth, "token_file") && !Checker::member(auth, "token_env"))
        c.problem(path, "bearer needs token_file or token_env");
    } else if (file) {
      a.token_file = *file;
      std::error_code ec;
      if (!fs::is_regular_file(*file, ec))
        c.problem(path + ".token_file", "no such file: " + *file);
    } else {
      a.token_env = *env;
      const char* value = std::getenv(env->c_str());
      if (!value || !*value)
        c.problem(path + ".token_env", "environment variable " + *env + " is not set");
    }
  } else if (*type == "client_credentials") {
    a.type = CrmAuthConfig::Type::kClientCredentials;
    if (!c.object(auth, path,
                  {"type", "token_endpoint", "client_id", "client_secret_file", "client_secret_env",
                   "scope", "resource"}))
      return;
    if (auto v = c.string(auth, path, "token_endpoint", true)) {
      if (v->rfind("https://", 0) != 0 && v->rfind("http://", 0) != 0)
        c.problem(path + ".token_endpoint", "must be an http:// or https:// URL");
      a.token_endpoint = *v;
    }
    if (auto v = c.string(auth, path, "client_id", true)) a.client_id = *v;
    auto file = c.path_value(auth, path, "client_secret_file");
    auto env = c.string(auth, path, "client_secret_env");
    if (file && env) {
      c.problem(path, "give client_secret_file or client_secret_env, not both");
    } else if (file) {
      a.client_secret_file = *file;
      std::error_code ec;
      if (!fs::is_regular_file(*file, ec))
        c.problem(path + ".client_secret_file", "no such file: " + *file);
    } else if (env) {
      a.client_secret_env = *env;
      const char* value = std::getenv(env->c_str());
      if (!value || !*value)
        c.problem(path + ".client_secret_env", "environment variable " + *env + " is not set");
      else
        a.client_secret = value;
    } else if (!Checker::member(auth, "client_secret_file") &&
               !Checker::member(auth, "client_secret_env")) {
      c.problem(path, "client_credentials needs client_secret_file or client_secret_env");
    }
    if (auto v = c.string(auth, path, "scope")) a.scope = *v;
    if (auto v = c.string(auth, path, "resource")) a.resource = *v;
    if (a.scope.empty() && a.resource.empty() && !Checker::member(auth, "scope") &&
        !Checker::member(auth, "resource"))
      c.problem(path, "client_credentials needs scope (or resource)");
  } else if (*type == "device_code") {
    a.type = CrmAuthConfig::Type::kDeviceCode;
    parse_device_code(c, auth, path, a.tenant, a.client_id, a.authority);
  } else if (*type == "negotiate" || *type == "ntlm") {
    a.type = CrmAuthConfig::Type::kNegotiate;
    parse_negotiate(c, auth, path, a.username, a.password_file);
  } else {
    c.problem(path + ".type",
              "must be \"bearer\", \"client_credentials\", \"device_code\" or \"negotiate\"");
  }
}

void parse_document(Checker& c, const Json& root, Config& cfg) {
  if (!c.object(root, "",
                {"profile", "client_id", "role", "cache", "timezone", "log_level", "store", "crm",
                 "sync", "lease", "http"}))
    return;
  if (auto v = c.string(root, "", "profile")) {
    bool ok = v->size() <= 64;
    for (char ch : *v)
      ok = ok &&
           (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.');
    if (!ok)
      c.problem("profile", "must be at most 64 letters, digits, '-', '_' or '.'");
    else
      cfg.profile = *v;
  }
  cfg.client_id = c.string(root, "", "client_id").value_or(host_name());
  if (auto v = c.string(root, "", "role")) {
    if (auto r = parse_role(*v); r.ok())
      cfg.role = *r;
    else
      c.problem("role", "must be primary, secondary, roaming or delegate");
  }
  if (auto v = c.path_value(root, "", "cache", true)) cfg.cache = *v;
  if (auto v = c.string(root, "", "timezone")) {
    if (auto z = make_time_zone(*v); !z.ok())
      c.problem("timezone", z.error().message());
    else
      cfg.timezone = *v;
  }
  if (auto v = c.string(root, "", "log_level")) {
    static const std::set<std::string> kLevels{"trace", "debug", "info", "warn", "error"};
    if (!kLevels.count(*v))
      c.problem("log_level", "must be trace, debug, info, warn or error");
    else
      cfg.log_level = *v;
  }

  if (const Json* store = Checker::member(root, "store"))
    parse_store(c, *store, cfg);
  else
    c.problem("store", "is required");

  if (const Json* crm = Checker::member(root, "crm")) {
    if (c.object(*crm, "crm", {"url", "auth", "ca_file", "request_timeout_ms", "act_as"})) {
      if (auto u = c.string(*crm, "crm", "url", true)) {
        if (u->rfind("https://", 0) != 0 && u->rfind("http://", 0) != 0)
          c.problem("crm.url", "must be an http:// or https:// URL");
        cfg.crm.url = *u;
      }
      if (auto f = c.existing_file(*crm, "crm", "ca_file")) cfg.crm.ca_file = *f;
      if (auto v = c.integer(*crm, "crm", "request_timeout_ms", 100, 600'000))
        cfg.crm.request_timeout_ms = *v;
      if (const Json* auth = Checker::member(*crm, "auth"))
        parse_auth(c, *auth, cfg);
      else
        c.problem("crm.auth", "is required");
      if (auto v = c.string(*crm, "crm", "act_as")) {
        auto at = v->find('@');
        if (at == std::string::npos || at == 0 || at + 1 >= v->size() || v->size() > 256 ||
            has_control(*v))
          c.problem("crm.act_as", "must be the user's sign-in name (user@domain)");
        cfg.crm.act_as = *v;
      }
      // An application user would own everything it syncs: it must say whose sync it runs.
      if (cfg.crm.auth.type == CrmAuthConfig::Type::kClientCredentials && cfg.crm.act_as.empty() &&
          !Checker::member(*crm, "act_as"))
        c.problem("crm.act_as",
                  "is required with client_credentials: name the user the daemon acts for");
    }
  } else {
    c.problem("crm", "is required");
  }

  if (const Json* sync = Checker::member(root, "sync")) {
    if (c.object(*sync, "sync",
                 {"interval_minutes", "entities", "update_company_field", "reconcile_batch",
                  "mass_delete", "user_filters", "track_category"})) {
      if (auto v = c.integer(*sync, "sync", "interval_minutes", 0, std::numeric_limits<int>::max()))
        cfg.sync.interval_minutes = static_cast<int>(*v);
      if (auto v = c.boolean(*sync, "sync", "user_filters")) cfg.sync.user_filters = *v;
      if (const Json* tc = Checker::member(*sync, "track_category")) {  // U1; "" turns it off
        if (!tc->IsString()) {
          c.problem("sync.track_category", "must be a string");
        } else {
          auto name = TrackCategory::from_config({tc->GetString(), tc->GetStringLength()});
          if (name.ok())
            cfg.sync.track_category = name->name();
          else
            c.problem("", name.error().message());  // names its key already
        }
      }
      if (auto v = c.boolean(*sync, "sync", "update_company_field"))
        cfg.sync.update_company_field = *v;
      if (auto v = c.integer(*sync, "sync", "reconcile_batch", 0, 100'000))
        cfg.sync.reconcile_batch = *v;
      if (const Json* ents = Checker::member(*sync, "entities")) {
        if (!ents->IsObject()) {
          c.problem("sync.entities", "must be an object");
        } else {
          std::set<std::string> seen;
          for (auto it = ents->MemberBegin(); it != ents->MemberEnd(); ++it) {
            std::string key(it->name.GetString(), it->name.GetStringLength());
            std::string at = "sync.entities." + key;
            auto e = parse_crm_entity(key);
            if (!e.ok())
              c.problem(at,
                        "unknown entity (contact, task, appointment, email, phonecall, "
                        "letter, fax)");
            else if (!seen.insert(key).second)
              c.problem(at, "duplicate key");
            else if (!it->value.IsBool())
              c.problem(at, "must be true or false");
            else
              cfg.sync.entities[*e] = it->value.GetBool();
          }
        }
      }
      if (const Json* md = Checker::member(*sync, "mass_delete")) {
        if (c.object(*md, "sync.mass_delete", {"ratio", "min"})) {
          if (const Json* r = Checker::member(*md, "ratio")) {
            if (!r->IsNumber() || !std::isfinite(r->GetDouble()) || r->GetDouble() < 0 ||
                r->GetDouble() > 1)
              c.problem("sync.mass_delete.ratio", "must be a number from 0 to 1");
            else
              cfg.sync.mass_delete_ratio = r->GetDouble();
          }
          if (auto v = c.integer(*md, "sync.mass_delete", "min", 0,
                                 std::numeric_limits<std::int64_t>::max()))
            cfg.sync.mass_delete_min = *v;
        }
      }
    }
  }

  if (const Json* lease = Checker::member(root, "lease")) {
    if (c.object(*lease, "lease", {"ttl_seconds"}))
      if (auto v = c.integer(*lease, "lease", "ttl_seconds", 5, 86'400))
        cfg.lease.ttl_seconds = static_cast<int>(*v);
  }

  bool token_given = false;
  if (const Json* http = Checker::member(root, "http")) {
    if (c.object(*http, "http", {"listen", "token_file"})) {
      if (auto v = c.string(*http, "http", "listen")) {
        std::string host;
        std::uint16_t port = 0;
        if (!split_listen(*v, host, port))
          c.problem("http.listen", "must be HOST:PORT, e.g. 127.0.0.1:8787");
        else if (!is_loopback_host(host))
          c.problem("http.listen", "must be a loopback address (127.0.0.1, [::1], localhost)");
        else {
          cfg.http.listen = *v;
          cfg.http.host = host;
          cfg.http.port = port;
        }
      }
      if (auto v = c.path_value(*http, "http", "token_file")) {
        cfg.http.token_file = *v;
        token_given = true;
      }
    }
  }
  if (!token_given && !cfg.cache.empty())
    cfg.http.token_file = (fs::path(cfg.cache).parent_path() / "api-token").string();
  store_defaults(cfg);
}

}  // namespace

std::string default_config_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg == '/') return (fs::path(xdg) / "crmsync" / "config.json").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home && *home ? home : ".") / ".config" / "crmsync" / "config.json").string();
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 as a dotted quad.
  if (host.rfind("127.", 0) != 0) return false;
  int parts = 0, digits = 0;
  for (char ch : host) {
    if (ch == '.') {
      if (digits == 0) return false;
      ++parts;
      digits = 0;
    } else if (ch >= '0' && ch <= '9') {
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return parts == 3 && digits > 0;
}

Result<Config> parse_config(const std::string& text, const std::string& source) {
  fs::path base = fs::path(source).parent_path();
  if (base.empty()) base = ".";
  if (base.is_relative()) {
    std::error_code ec;
    auto abs = fs::absolute(base, ec);
    if (!ec) base = abs;
  }
  Checker c(source, base);
  rapidjson::Document doc;
  // Iterative parsing: deep nesting cannot overflow the stack.
  doc.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag>(text.data(),
                                                                                    text.size());
  if (doc.HasParseError()) {
    std::ostringstream os;
    os << "not valid JSON at byte " << doc.GetErrorOffset() << ": "
       << rapidjson::GetParseError_En(doc.GetParseError());
    c.problem("", os.str());
    return Error::Invalid(c.problems().front());
  }
  Config cfg;
  cfg.source = source;
  parse_document(c, doc, cfg);
  if (!c.problems().empty()) {
    std::string all;
    for (const auto& p : c.problems()) all += (all.empty() ? "" : "\n") + p;
    return Error::Invalid(all);
  }
  return cfg;
}

Result<Config> load_config(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec))
    return Error::NotFound(path + ": no such file (write one; see config/examples/)");
  if (fs::is_directory(path, ec)) return Error::Invalid(path + ": is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::Permission(path + ": cannot be read");
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxConfigBytes) return Error::Invalid(path + ": larger than 1 MiB");
  return parse_config(text, path);
}

std::vector<std::string> config_problems(const Error& e) {
  std::vector<std::string> out;
  std::istringstream in(e.message());
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

}  // namespace crmsync
