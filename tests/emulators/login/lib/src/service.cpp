#include "service.hpp"

#include <ctime>
#include <stdexcept>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "emulator/token_check.hpp"
#include "scope.hpp"

namespace login_emulator {

using emulator::Reply;
using emulator::Request;

namespace {

constexpr const char* kDeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";
constexpr std::size_t kMaxParam = 16 * 1024;
constexpr std::int64_t kRefreshLifetimeS = 90 * 24 * 3600;  // Entra: 90 days

std::int64_t now_s() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

// "2016-01-09 02:02:12Z", as Entra's error timestamps.
std::string entra_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

bool is_guid(const std::string& s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? c != '-' : !std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

// A Host header value safe to put into URLs: host name or address, optional port.
bool plain_host(const std::string& h) {
  if (h.empty() || h.size() > 255) return false;
  for (unsigned char c : h)
    if (!std::isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']') return false;
  return true;
}

std::optional<std::string> base64_std_decode(const std::string& in) {
  static const std::string a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : in) {
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad) return std::nullopt;
    auto v = a.find(c);
    if (v == std::string::npos) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// A small JSON object writer.
class Obj {
 public:
  Obj() { w_.StartObject(); }
  Obj& s(const char* k, const std::string& v) {
    w_.Key(k);
    w_.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
    return *this;
  }
  Obj& i(const char* k, std::int64_t v) {
    w_.Key(k);
    w_.Int64(v);
    return *this;
  }
  Obj& strings(const char* k, const std::vector<std::string>& v) {
    w_.Key(k);
    w_.StartArray();
    for (const auto& x : v) w_.String(x.c_str(), static_cast<rapidjson::SizeType>(x.size()));
    w_.EndArray();
    return *this;
  }
  Obj& ints(const char* k, const std::vector<int>& v) {
    w_.Key(k);
    w_.StartArray();
    for (int x : v) w_.Int(x);
    w_.EndArray();
    return *this;
  }
  std::string str() {
    w_.EndObject();
    return b_.GetString();
  }

 private:
  rapidjson::StringBuffer b_;
  rapidjson::Writer<rapidjson::StringBuffer> w_{b_};
};

Reply no_store(Reply r) {
  r.with("Cache-Control", "no-store, no-cache").with("Pragma", "no-cache");
  return r;
}

}  // namespace

struct Service::Form {
  std::vector<std::pair<std::string, std::string>> items;
  const std::string* get(const char* name) const {
    for (const auto& [k, v] : items)
      if (k == name) return &v;
    return nullptr;
  }
  std::string value(const char* name) const {
    auto* v = get(name);
    return v ? *v : std::string();
  }
};

Service::Service(const Options& options, Store& store, SigningKey& key, emulator::Admin& admin)
    : options_(options), store_(store), key_(key) {
  auto tid = store_.meta("tenant_id");
  if (!tid) {
    tid = random_guid();
    store_.set_meta("tenant_id", *tid);
  }
  tid_ = *tid;
  register_admin(admin);
}

void Service::listening(const emulator::Listening& where) {
  fallback_base_ = std::string(where.tls ? "https" : "http") + "://" + where.host + ":" +
                   std::to_string(where.port);
}

std::string Service::base(const Request& req) const {
  if (!options_.public_url.empty()) return options_.public_url;
  std::string host = req.header("Host");
  if (!plain_host(host)) return fallback_base_;
  return std::string(req.tls ? "https" : "http") + "://" + host;
}

std::string Service::issuer(const Request& req) const {
  return base(req) + "/" + tid_ + "/v2.0";
}

bool Service::known_tenant(const std::string& tenant) const {
  return emulator::iequals(tenant, tid_) || tenant == "common" || tenant == "organizations";
}

int Service::access_lifetime() const {
  return token_lifetime_s_ > 0 ? token_lifetime_s_ : options_.token_lifetime_s;
}

Reply Service::error(const Request& req, int status, const std::string& error, int code,
                     const std::string& description) {
  std::string trace = random_guid();
  std::string correlation = req.header("client-request-id");
  if (!is_guid(correlation)) correlation = random_guid();
  std::string ts = entra_timestamp();
  std::string text = "AADSTS" + std::to_string(code) + ": " + description +
                     "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + correlation +
                     "\r\nTimestamp: " + ts;
  Reply r = Reply::json(status, Obj()
                                    .s("error", error)
                                    .s("error_description", text)
                                    .ints("error_codes", {code})
                                    .s("timestamp", ts)
                                    .s("trace_id", trace)
                                    .s("correlation_id", correlation)
                                    .str());
  r.with("x-ms-request-id", trace).with("client-request-id", correlation);
  return no_store(std::move(r));
}

Reply Service::handle(const Request& req) {
  if (auto admin = admin_->handle(req)) return *admin;
  const std::int64_t arrived = emulator::now_ms();
  auto decision = admin_->faults().roll();
  std::string grant_type;
  Reply reply;
  if (decision.kind == decision.kError) {
    reply = error(req, 500, "temporarily_unavailable", 50000,
                  "There was an error issuing a token. (injected by login-emulator)");
  } else if (decision.kind == decision.kThrottle) {
    reply = error(req, 429, "temporarily_unavailable", 90055,
                  "There are too many incoming requests. (injected by login-emulator)");
    reply.with("Retry-After", std::to_string(decision.retry_after_s));
  } else {
    try {
      reply = protocol(req, grant_type);
    } catch (const std::exception& e) {
      reply = error(req, 500, "temporarily_unavailable", 50000,
                    std::string("login-emulator failed: ") + e.what());
    }
    reply.drop = decision.drop;
  }
  reply.latency_ms = decision.latency_ms;
  reply.fault = decision.label();
  emulator::RequestLog::Entry e;
  e.method = req.method;
  e.path = req.path;
  e.body = req.body;
  e.status = reply.drop ? 0 : reply.status;
  e.at_ms = arrived;
  e.fault = reply.fault;
  e.extra.emplace_back("grant_type", grant_type);
  admin_->log().add(std::move(e));
  return reply;
}

Reply Service::protocol(const Request& req, std::string& grant_type) {
  if (req.path == "/devicelogin") {
    if (req.method != "GET") return Reply::text(405, "GET only\n").with("Allow", "GET");
    return Reply::text(200,
                       "login-emulator: there is no sign-in page; a test approves a code with\n"
                       "POST /admin/device/approve {\"user_code\",\"upn\"}\n");
  }
  if (req.path.size() < 2 || req.path[0] != '/') return Reply::text(404, "not found\n");
  auto slash = req.path.find('/', 1);
  if (slash == std::string::npos) return Reply::text(404, "not found\n");
  std::string tenant = req.path.substr(1, slash - 1);
  std::string rest = req.path.substr(slash);
  enum { kDevice, kToken, kKeys, kConfig, kAuthorize } which;
  if (rest == "/oauth2/v2.0/devicecode")
    which = kDevice;
  else if (rest == "/oauth2/v2.0/token")
    which = kToken;
  else if (rest == "/discovery/v2.0/keys")
    which = kKeys;
  else if (rest == "/v2.0/.well-known/openid-configuration")
    which = kConfig;
  else if (rest == "/oauth2/v2.0/authorize")
    which = kAuthorize;
  else
    return Reply::text(404, "not found\n");
  if (!known_tenant(tenant)) {
    std::string shown = tenant.size() > 64 ? tenant.substr(0, 64) + "..." : tenant;
    return error(req, 400, "invalid_request", 90002,
                 "Tenant '" + shown +
                     "' not found. Check to make sure you have the correct tenant ID and are "
                     "signing into the correct cloud.");
  }
  if (which == kKeys || which == kConfig) {
    if (req.method != "GET") return Reply::text(405, "GET only\n").with("Allow", "GET");
    if (which == kKeys) return Reply::json(200, "{\"keys\":[" + key_.jwk_json() + "]}");
    return openid_configuration(req, tenant);
  }
  if (which == kAuthorize)
    return error(req, 400, "invalid_request", 90023,
                 "login-emulator serves no authorization endpoint: use the device code flow.");
  if (req.method != "POST")
    return error(req, 400, "invalid_request", 900561,
                 "The endpoint only accepts POST requests. Received a " + req.method.substr(0, 16) +
                     " request.");
  const char* first = which == kToken ? "grant_type" : "client_id";
  std::string type = req.header("Content-Type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (!emulator::iequals(type, "application/x-www-form-urlencoded"))
    return error(
        req, 400, "invalid_request", 900144,
        std::string("The request body must contain the following parameter: '") + first + "'.");
  Form form;
  if (!emulator::parse_form(req.body, form.items))
    return error(req, 400, "invalid_request", 9002313,
                 "Invalid request. Request is malformed or invalid: the body is not "
                 "application/x-www-form-urlencoded.");
  for (std::size_t i = 0; i < form.items.size(); ++i) {
    const auto& [k, v] = form.items[i];
    for (std::size_t j = 0; j < i; ++j)
      if (form.items[j].first == k)
        return error(req, 400, "invalid_request", 9002313,
                     "Invalid request. Request is malformed or invalid: the parameter '" +
                         k.substr(0, 64) + "' is given more than once.");
    if (v.size() > kMaxParam || k.size() > 256)
      return error(req, 400, "invalid_request", 9002313,
                   "Invalid request. Request is malformed or invalid: the parameter '" +
                       k.substr(0, 64) + "' is too long.");
    for (unsigned char c : v)
      if (c < 0x20 || c == 0x7f)
        return error(req, 400, "invalid_request", 9002313,
                     "Invalid request. Request is malformed or invalid: the parameter '" +
                         k.substr(0, 64) + "' holds control characters.");
  }
  if (which == kDevice) return devicecode(req, form);
  return token(req, form, grant_type);
}

Reply Service::openid_configuration(const Request& req, const std::string& tenant) {
  const std::string b = base(req);
  const std::string t = b + "/" + tenant;
  const bool own = emulator::iequals(tenant, tid_);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str(), static_cast<rapidjson::SizeType>(v.size()));
  };
  auto list = [&](const char* k, std::initializer_list<const char*> v) {
    w.Key(k);
    w.StartArray();
    for (const char* x : v) w.String(x);
    w.EndArray();
  };
  w.StartObject();
  str("token_endpoint", t + "/oauth2/v2.0/token");
  list("token_endpoint_auth_methods_supported", {"client_secret_post", "client_secret_basic"});
  str("jwks_uri", t + "/discovery/v2.0/keys");
  list("response_modes_supported", {"query", "fragment", "form_post"});
  list("subject_types_supported", {"pairwise"});
  list("id_token_signing_alg_values_supported", {"RS256"});
  list("response_types_supported", {"code", "id_token", "code id_token", "id_token token"});
  list("scopes_supported", {"openid", "profile", "email", "offline_access"});
  // A /common or /organizations configuration names no tenant, as Entra's: "{tenantid}".
  str("issuer", b + "/" + (own ? tid_ : std::string("{tenantid}")) + "/v2.0");
  w.Key("request_uri_parameter_supported");
  w.Bool(false);
  str("authorization_endpoint", t + "/oauth2/v2.0/authorize");
  str("device_authorization_endpoint", t + "/oauth2/v2.0/devicecode");
  list("grant_types_supported",
       {"urn:ietf:params:oauth:grant-type:device_code", "refresh_token", "client_credentials"});
  list("claims_supported", {"sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "ver",
                            "preferred_username", "upn", "email", "scp", "roles", "idtyp"});
  str("tenant_region_scope", "EU");
  str("cloud_instance_name", "login-emulator");
  w.EndObject();
  return Reply::json(200, buf.GetString());
}

Reply Service::devicecode(const Request& req, const Form& form) {
  std::string client_id = form.value("client_id");
  if (client_id.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'client_id'.");
  if (!is_guid(client_id))
    return error(req, 400, "unauthorized_client", 700016,
                 "Application with identifier '" + client_id.substr(0, 64) +
                     "' was not found in the directory '" + tid_ + "'.");
  int code = 0;
  std::string why;
  auto scope = parse_scope(form.value("scope"), code, why);
  if (!scope)
    return error(req, 400, code == 900144 ? "invalid_request" : "invalid_scope", code, why);
  DeviceCode d;
  d.device_code = random_token(96);
  d.client_id = client_id;
  d.scope = scope->stored();
  d.expires_at = now_s() + options_.code_lifetime_s;
  for (int attempt = 0;; ++attempt) {
    d.user_code = random_user_code();
    if (!store_.device_by_user_code(d.user_code)) break;
    if (attempt > 20) throw std::runtime_error("no free user code");
  }
  store_.add_device_code(d);
  const std::string uri = base(req) + "/devicelogin";
  return no_store(Reply::json(
      200, Obj()
               .s("user_code", d.user_code)
               .s("device_code", d.device_code)
               .s("verification_uri", uri)
               .i("expires_in", options_.code_lifetime_s)
               .i("interval", options_.interval_s)
               .s("message", "To sign in, use a web browser to open the page " + uri +
                                 " and enter the code " + d.user_code + " to authenticate.")
               .str()));
}

Reply Service::token(const Request& req, const Form& form, std::string& grant_type) {
  grant_type = form.value("grant_type");
  if (grant_type.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'grant_type'.");
  if (grant_type == kDeviceGrant) return device_code_grant(req, form);
  if (grant_type == "refresh_token") return refresh_grant(req, form);
  if (grant_type == "client_credentials") return client_credentials_grant(req, form);
  std::string shown = grant_type.size() > 64 ? grant_type.substr(0, 64) + "..." : grant_type;
  grant_type = shown;
  return error(req, 400, "unsupported_grant_type", 70003,
               "The app requested an unsupported grant type '" + shown + "'.");
}

Reply Service::device_code_grant(const Request& req, const Form& form) {
  std::string client_id = form.value("client_id");
  std::string code = form.value("device_code");
  if (client_id.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'client_id'.");
  if (code.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'device_code'.");
  auto d = store_.device_code(code);
  if (!d)
    return error(req, 400, "bad_verification_code", 70018,
                 "The provided value for the input parameter 'device_code' is not valid: no "
                 "such device code.");
  if (d->client_id != client_id)
    return error(req, 400, "invalid_grant", 70000,
                 "The provided value for the input parameter 'device_code' is not valid: it was "
                 "issued to another client.");
  if (d->state == "redeemed")
    return error(req, 400, "invalid_grant", 70000,
                 "The provided value for the input parameter 'device_code' is not valid: it was "
                 "already redeemed.");
  if (d->state == "denied")
    return error(req, 400, "authorization_declined", 65004,
                 "The end user declined the authorization request.");
  if (now_s() >= d->expires_at)
    return error(req, 400, "expired_token", 70019,
                 "Verification code expired. Have the user sign in again.");
  const std::int64_t now = emulator::now_ms();
  store_.set_last_poll(d->device_code, now);
  bool too_fast = options_.interval_s > 0 && d->last_poll_ms > 0 &&
                  now - d->last_poll_ms < options_.interval_s * 1000LL;
  if (slow_down_ > 0 || too_fast) {
    if (slow_down_ > 0) --slow_down_;
    return error(req, 400, "slow_down", 70016,
                 "OAuth 2.0 device flow error. Polling too fast: wait the interval (5 seconds "
                 "more after each slow_down) between polls.");
  }
  if (d->state == "pending")
    return error(req, 400, "authorization_pending", 70016,
                 "OAuth 2.0 device flow error. Authorization is pending. Continue polling.");
  auto user = store_.user_by_oid(d->oid);
  if (!user)
    return error(req, 400, "invalid_grant", 70000,
                 "The user who approved this device code no longer exists.");
  Reply r =
      issue_user_tokens(req, *user, client_id, d->scope, form.value("client_info") == "1", false);
  if (r.status == 200) store_.set_device_state(d->device_code, "redeemed", d->oid);
  return r;
}

Reply Service::refresh_grant(const Request& req, const Form& form) {
  std::string client_id = form.value("client_id");
  std::string token = form.value("refresh_token");
  if (client_id.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'client_id'.");
  if (token.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'refresh_token'.");
  auto rt = store_.refresh(token);
  if (!rt)
    return error(req, 400, "invalid_grant", 9002313,
                 "Invalid request. Request is malformed or invalid: the refresh token is not "
                 "one of this authority's.");
  if (rt->revoked)
    return error(req, 400, "invalid_grant", 50173,
                 "The provided grant has expired due to it being revoked, a fresh auth token is "
                 "needed. The user might have changed or reset their password.");
  if (rt->client_id != client_id)
    return error(req, 400, "invalid_grant", 70000,
                 "Provided grant is invalid or malformed: the refresh token was issued to "
                 "another client.");
  if (now_s() > rt->issued_at + kRefreshLifetimeS)
    return error(req, 400, "invalid_grant", 700082,
                 "The refresh token has expired due to inactivity.");
  auto user = store_.user_by_oid(rt->oid);
  if (!user)
    return error(req, 400, "invalid_grant", 70000,
                 "Provided grant is invalid or malformed: its user no longer exists.");
  const std::string* scope = form.get("scope");
  return issue_user_tokens(req, *user, client_id, scope ? *scope : rt->scope,
                           form.value("client_info") == "1", true);
}

Reply Service::client_credentials_grant(const Request& req, const Form& form) {
  std::string client_id = form.value("client_id");
  std::string secret = form.value("client_secret");
  std::string auth = req.header("Authorization");
  if (auth.size() > 6 && emulator::iequals(auth.substr(0, 6), "basic ")) {
    // RFC 6749 §2.3.1: form-encoded id and secret, base64, joined by ':'.
    auto decoded = base64_std_decode(auth.substr(6));
    auto colon = decoded ? decoded->find(':') : std::string::npos;
    std::string id, pw;
    if (colon == std::string::npos ||
        !emulator::percent_decode(decoded->substr(0, colon), id, true) ||
        !emulator::percent_decode(decoded->substr(colon + 1), pw, true) ||
        (!client_id.empty() && client_id != id))
      return error(req, 401, "invalid_client", 7000215,
                   "Invalid client secret provided: the Basic credentials are malformed.");
    client_id = id;
    secret = pw;
  }
  if (client_id.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'client_id'.");
  auto app = store_.app(client_id);
  if (!app)
    return error(req, 400, "unauthorized_client", 700016,
                 "Application with identifier '" + client_id.substr(0, 64) +
                     "' was not found in the directory '" + tid_ + "'.");
  if (secret.empty())
    return error(req, 401, "invalid_client", 7000218,
                 "The request body must contain the following parameter: 'client_assertion' or "
                 "'client_secret'.");
  if (secret != app->secret)
    return error(req, 401, "invalid_client", 7000215, "Invalid client secret provided.");
  std::string text = form.value("scope");
  if (text.empty())
    return error(req, 400, "invalid_request", 900144,
                 "The request body must contain the following parameter: 'scope'.");
  int code = 0;
  std::string why;
  auto scope = parse_scope(text, code, why);
  if (!scope || !scope->default_scope || scope->openid || scope->profile || scope->email ||
      scope->offline_access || text.find(' ') != std::string::npos)
    return error(req, 400, "invalid_scope", 1002012,
                 "The provided value for scope " + text.substr(0, 256) +
                     " is not valid. Client credential flows must have a scope value with "
                     "/.default suffixed to the resource identifier (application ID URI).");
  const std::int64_t now = now_s();
  const int life = access_lifetime();
  Obj claims;
  claims.s("aud", scope->resource)
      .s("iss", issuer(req))
      .i("iat", now - 300)
      .i("nbf", now - 300)
      .i("exp", now + life)
      .s("azp", client_id)
      .s("azpacr", "1")
      .s("idtyp", "app")
      .s("oid", app->oid);
  if (!app->roles.empty()) claims.strings("roles", app->roles);
  claims.s("sub", app->oid).s("tid", tid_).s("uti", random_token(16)).s("ver", "2.0");
  return no_store(Reply::json(200, Obj()
                                       .s("token_type", "Bearer")
                                       .i("expires_in", life)
                                       .i("ext_expires_in", life)
                                       .s("access_token", key_.sign_jwt(claims.str()))
                                       .str()));
}

Reply Service::issue_user_tokens(const Request& req, const User& user, const std::string& client_id,
                                 const std::string& scope_text, bool client_info, bool rotate) {
  int code = 0;
  std::string why;
  auto scope = parse_scope(scope_text, code, why);
  if (!scope)
    return error(req, 400, code == 900144 ? "invalid_request" : "invalid_scope", code, why);
  const std::int64_t now = now_s();
  const int life = access_lifetime();
  const std::string iss = issuer(req);
  const std::string sub = pairwise_subject(user.oid + "|" + client_id);
  std::string access = key_.sign_jwt(Obj()
                                         .s("aud", scope->resource)
                                         .s("iss", iss)
                                         .i("iat", now - 300)
                                         .i("nbf", now - 300)
                                         .i("exp", now + life)
                                         .s("azp", client_id)
                                         .s("azpacr", "0")
                                         .s("idtyp", "user")
                                         .s("name", user.name)
                                         .s("oid", user.oid)
                                         .s("preferred_username", user.upn)
                                         .s("scp", scope->scp())
                                         .s("sub", sub)
                                         .s("tid", tid_)
                                         .s("upn", user.upn)
                                         .s("uti", random_token(16))
                                         .s("ver", "2.0")
                                         .str());
  Obj out;
  out.s("token_type", "Bearer")
      .s("scope", scope->response())
      .i("expires_in", life)
      .i("ext_expires_in", life)
      .s("access_token", access);
  if (scope->offline_access || rotate) {
    RefreshToken rt;
    rt.token = random_token(96);
    rt.oid = user.oid;
    rt.client_id = client_id;
    Scope kept = *scope;
    kept.offline_access = true;
    rt.scope = kept.stored();
    rt.issued_at = now;
    store_.add_refresh(rt);
    out.s("refresh_token", rt.token);
  }
  if (scope->openid) {
    Obj id;
    id.s("aud", client_id)
        .s("iss", iss)
        .i("iat", now - 300)
        .i("nbf", now - 300)
        .i("exp", now + 3600)
        .s("name", user.name)
        .s("oid", user.oid)
        .s("preferred_username", user.upn);
    if (scope->email) id.s("email", user.upn);
    id.s("sub", sub).s("tid", tid_).s("ver", "2.0");
    out.s("id_token", key_.sign_jwt(id.str()));
  }
  if (client_info)
    out.s("client_info",
          emulator::token::base64url_encode(Obj().s("uid", user.oid).s("utid", tid_).str()));
  return no_store(Reply::json(200, out.str()));
}

// ------------------------------------------------------------------ admin

void Service::register_admin(emulator::Admin& admin) {
  admin_ = &admin;
  using emulator::json_error;
  using emulator::string_member;
  emulator::FaultInjector::Extension ext;
  ext.check = [](const std::string& k, const rapidjson::Value& v) -> std::optional<std::string> {
    auto whole = [&](double min) {
      return v.IsNumber() && v.GetDouble() >= min && v.GetDouble() <= 1e9 &&
             v.GetDouble() == static_cast<double>(static_cast<long long>(v.GetDouble()));
    };
    if (k == "slow_down")
      return whole(0) ? std::nullopt
                      : std::optional<std::string>("\"slow_down\" must be a non-negative integer");
    if (k == "token_lifetime_s")
      return whole(1) ? std::nullopt
                      : std::optional<std::string>("\"token_lifetime_s\" must be an integer >= 1");
    if (k == "expire_codes")
      return v.IsBool() || (v.IsNumber() && (v.GetDouble() == 0 || v.GetDouble() == 1))
                 ? std::nullopt
                 : std::optional<std::string>("\"expire_codes\" must be true or false");
    return emulator::FaultInjector::kUnknown;
  };
  ext.clear = [this] {
    slow_down_ = 0;
    token_lifetime_s_ = 0;
  };
  ext.apply = [this](const std::string& k, const rapidjson::Value& v) {
    if (k == "slow_down") slow_down_ = static_cast<int>(v.GetDouble());
    if (k == "token_lifetime_s") token_lifetime_s_ = static_cast<int>(v.GetDouble());
    if (k == "expire_codes" && (v.IsBool() ? v.GetBool() : v.GetDouble() == 1))
      store_.expire_codes(now_s());
  };
  admin.faults().extend(std::move(ext));
  admin.on_reset([this] { store_.reset(); });

  admin.on("POST", "/admin/users", [this](const Request&, const rapidjson::Document& body) {
    auto upn = string_member(body, "upn");
    auto bad = [](const std::string& s) {
      for (unsigned char c : s)
        if (c <= 0x20 || c == 0x7f) return true;
      return false;
    };
    if (!upn || upn->empty() || upn->size() > 256 || upn->find('@') == std::string::npos ||
        bad(*upn))
      return json_error(400, "\"upn\" must be a user principal name like ada@example.test");
    std::string name = string_member(body, "name").value_or(upn->substr(0, upn->find('@')));
    if (store_.user_by_upn(*upn)) return json_error(409, "this user already exists");
    User u = store_.add_user(*upn, name);
    return Reply::json(200, Obj().s("oid", u.oid).s("upn", u.upn).str() + "\n");
  });
  admin.on("POST", "/admin/apps", [this](const Request&, const rapidjson::Document& body) {
    auto id = string_member(body, "client_id");
    auto secret = string_member(body, "client_secret");
    if (!id || !is_guid(*id) || !secret || secret->empty())
      return json_error(400, "\"client_id\" (a GUID) and \"client_secret\" are required");
    std::vector<std::string> roles;
    if (body.HasMember("roles")) {
      if (!body["roles"].IsArray()) return json_error(400, "\"roles\" must be an array");
      for (const auto& r : body["roles"].GetArray()) {
        std::string s = r.IsString() ? r.GetString() : "";
        if (s.empty() || s.find_first_of(" \t\r\n\"\\") != std::string::npos)
          return json_error(400, "each role must be a non-empty string without spaces");
        roles.push_back(s);
      }
    }
    if (store_.app(*id)) return json_error(409, "this app already exists");
    App a = store_.add_app(*id, *secret, roles);
    return Reply::json(200, Obj().s("client_id", a.client_id).s("oid", a.oid).str() + "\n");
  });
  auto pending_code = [this](const rapidjson::Document& body,
                             std::optional<DeviceCode>& out) -> std::optional<Reply> {
    auto code = string_member(body, "user_code");
    if (!code || code->empty()) return json_error(400, "\"user_code\" must be a string");
    out = store_.device_by_user_code(upper(*code));
    if (!out) return json_error(404, "no such user code");
    if (out->state != "pending") return json_error(409, "the code is already " + out->state);
    if (now_s() >= out->expires_at) return json_error(410, "the code has expired");
    return std::nullopt;
  };
  admin.on("POST", "/admin/device/approve",
           [this, pending_code](const Request&, const rapidjson::Document& body) {
             std::optional<DeviceCode> d;
             if (auto refused = pending_code(body, d)) return *refused;
             auto upn = string_member(body, "upn");
             auto user = upn ? store_.user_by_upn(*upn) : std::nullopt;
             if (!user) return json_error(404, "no such user (POST /admin/users first)");
             store_.set_device_state(d->device_code, "approved", user->oid);
             return Reply::json(200, "{}\n");
           });
  admin.on("POST", "/admin/device/deny",
           [this, pending_code](const Request&, const rapidjson::Document& body) {
             std::optional<DeviceCode> d;
             if (auto refused = pending_code(body, d)) return *refused;
             store_.set_device_state(d->device_code, "denied", "");
             return Reply::json(200, "{}\n");
           });
  admin.on("POST", "/admin/refresh/revoke",
           [this](const Request&, const rapidjson::Document& body) {
             auto upn = string_member(body, "upn");
             auto user = upn ? store_.user_by_upn(*upn) : std::nullopt;
             if (!user) return json_error(404, "no such user");
             auto n = store_.revoke_refresh(user->oid);
             return Reply::json(200, Obj().i("revoked", n).str() + "\n");
           });
  admin.on("GET", "/admin/tenant", [this](const Request&, const rapidjson::Document&) {
    return Reply::json(200, Obj().s("tenant_id", tid_).s("kid", key_.kid()).str() + "\n");
  });
}

}  // namespace login_emulator
