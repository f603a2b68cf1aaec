#include "crmsync/oauth/oauth.hpp"

#include <rapidjson/document.h>

#include <algorithm>

#include "crmsync/oauth/form.hpp"

namespace crmsync::oauth {
namespace {

constexpr std::string_view kNeedsLogin = "needs_login: ";
constexpr std::size_t kMaxField = 8 * 1024;  // no token or code Entra sends is near this

std::string base_with_slash(std::string base) {
  if (base.empty() || base.back() != '/') base += '/';
  return base;
}

// A reply of the token or device code endpoint: the JSON object, or why it is not one.
struct Reply {
  int status = 0;
  rapidjson::Document doc;
  bool json = false;
  std::string error;  // the OAuth "error" code, when the reply carries one
};

Result<Reply> post_form(http::Transport& transport, const std::string& url, const std::string& body,
                        std::string_view what) {
  http::Request req;
  req.method = "POST";
  req.url = url;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                 {"Accept", "application/json"}};
  req.body = body;
  auto res = transport.send(req);
  if (!res.ok()) return res.error().context(std::string(what));
  Reply r;
  r.status = res->status;
  r.doc.Parse(res->body.data(), res->body.size());
  r.json = !r.doc.HasParseError() && r.doc.IsObject();
  if (r.json && r.doc.HasMember("error") && r.doc["error"].IsString())
    r.error = std::string(r.doc["error"].GetString()).substr(0, 100);
  if (r.status == 429 || r.status >= 500)
    return Error::Transient(std::string(what) + ": HTTP " + std::to_string(r.status) +
                            (r.error.empty() ? "" : " " + r.error));
  if (!r.json)
    return Error::Invalid(std::string(what) + ": HTTP " + std::to_string(r.status) +
                          " with a body that is not a JSON object");
  return r;
}

// A string member of at most kMaxField bytes, printable ASCII; "" when absent.
Result<std::string> text(const Reply& r, const char* name, bool required, std::string_view what) {
  if (!r.doc.HasMember(name)) {
    if (required) return Error::Invalid(std::string(what) + ": the reply has no " + name);
    return std::string{};
  }
  const auto& v = r.doc[name];
  if (!v.IsString()) return Error::Invalid(std::string(what) + ": " + name + " is not a string");
  std::string s(v.GetString(), v.GetStringLength());
  if (s.size() > kMaxField) return Error::Invalid(std::string(what) + ": " + name + " is too long");
  if (required && s.empty()) return Error::Invalid(std::string(what) + ": " + name + " is empty");
  return s;
}

// Entra sends numbers; some servers send them as strings.
Result<std::int64_t> seconds(const Reply& r, const char* name, std::int64_t fallback,
                             std::string_view what) {
  if (!r.doc.HasMember(name)) return fallback;
  const auto& v = r.doc[name];
  std::int64_t n = -1;
  if (v.IsInt64())
    n = v.GetInt64();
  else if (v.IsString() && v.GetStringLength() > 0 && v.GetStringLength() < 10 &&
           std::all_of(v.GetString(), v.GetString() + v.GetStringLength(),
                       [](char c) { return c >= '0' && c <= '9'; }))
    n = std::stoll(v.GetString());
  if (n < 0 || n > 366 * 24 * 3600)
    return Error::Invalid(std::string(what) + ": " + name + " is not a number of seconds");
  return n;
}

Result<Tokens> read_tokens(const Reply& r, std::string_view what) {
  Tokens t;
  auto type = text(r, "token_type", false, what);
  if (!type.ok()) return type.error();
  if (!type->empty() && *type != "Bearer" && *type != "bearer")
    return Error::Invalid(std::string(what) + ": token_type " + type->substr(0, 20) +
                          " is not Bearer");
  auto access = text(r, "access_token", true, what);
  if (!access.ok()) return access.error();
  auto refresh_token = text(r, "refresh_token", false, what);
  if (!refresh_token.ok()) return refresh_token.error();
  auto scope = text(r, "scope", false, what);
  if (!scope.ok()) return scope.error();
  auto expires = seconds(r, "expires_in", 3600, what);
  if (!expires.ok()) return expires.error();
  t.access_token = std::move(*access);
  t.refresh_token = std::move(*refresh_token);
  t.scope = std::move(*scope);
  t.expires_in = *expires;
  return t;
}

std::string refused(const Reply& r) {
  std::string why = "HTTP " + std::to_string(r.status);
  if (!r.error.empty()) why += " " + r.error;
  return why;
}

}  // namespace

std::string Authority::devicecode_url() const {
  return base_with_slash(base) + tenant + "/oauth2/v2.0/devicecode";
}
std::string Authority::token_url() const {
  return base_with_slash(base) + tenant + "/oauth2/v2.0/token";
}

Result<DeviceCode> start_device_flow(http::Transport& transport, const Authority& authority,
                                     const std::string& scope) {
  constexpr std::string_view what = "device code endpoint";
  auto r = post_form(
      transport, authority.devicecode_url(),
      "client_id=" + form_encode(authority.client_id) + "&scope=" + form_encode(scope), what);
  if (!r.ok()) return r.error();
  if (r->status != 200)
    return Error::Permission("the sign-in service refused the device code request: " + refused(*r));
  DeviceCode d;
  for (auto [field, name] :
       {std::pair{&d.device_code, "device_code"}, std::pair{&d.user_code, "user_code"},
        std::pair{&d.verification_uri, "verification_uri"}}) {
    auto v = text(*r, name, true, what);
    if (!v.ok()) return v.error();
    *field = std::move(*v);
  }
  auto message = text(*r, "message", false, what);
  if (!message.ok()) return message.error();
  d.message = std::move(*message);
  auto expires = seconds(*r, "expires_in", 900, what);
  if (!expires.ok()) return expires.error();
  auto interval = seconds(*r, "interval", 5, what);
  if (!interval.ok()) return interval.error();
  d.expires_in = *expires;
  d.interval = std::max<std::int64_t>(1, *interval);
  if (!http::Url::parse(d.verification_uri).ok())
    return Error::Invalid(std::string(what) + ": verification_uri is not an http(s) URL");
  return d;
}

Result<Tokens> poll_device_flow(http::Transport& transport, const Authority& authority,
                                const DeviceCode& code, Clock& clock, const Sleep& sleep) {
  constexpr std::string_view what = "token endpoint";
  const MonoTime deadline = clock.mono() + std::chrono::seconds(code.expires_in);
  std::int64_t interval = code.interval;
  const std::string body =
      "grant_type=" + form_encode("urn:ietf:params:oauth:grant-type:device_code") +
      "&client_id=" + form_encode(authority.client_id) +
      "&device_code=" + form_encode(code.device_code);
  for (;;) {
    sleep(std::chrono::seconds(interval));
    if (clock.mono() > deadline)
      return Error::Permission(
          "expired_token: the code was not entered in time; run the "
          "sign-in again");
    auto r = post_form(transport, authority.token_url(), body, what);
    if (!r.ok()) {
      if (r.error().is(ErrorKind::kTransient)) continue;  // the next poll may get through
      return r.error();
    }
    if (r->status == 200) return read_tokens(*r, what);
    if (r->error == "authorization_pending") continue;
    if (r->error == "slow_down") {  // RFC 8628 3.5: five seconds more from now on
      interval += 5;
      continue;
    }
    if (r->error == "expired_token" || r->error == "code_expired")
      return Error::Permission(
          "expired_token: the code was not entered in time; run the "
          "sign-in again");
    if (r->error == "access_denied" || r->error == "authorization_declined")
      return Error::Permission("access_denied: the sign-in was declined");
    return Error::Permission("the sign-in service refused the device code: " + refused(*r));
  }
}

Result<Tokens> refresh(http::Transport& transport, const Authority& authority,
                       const std::string& refresh_token, const std::string& scope) {
  constexpr std::string_view what = "token endpoint";
  auto r =
      post_form(transport, authority.token_url(),
                "grant_type=refresh_token&client_id=" + form_encode(authority.client_id) +
                    "&refresh_token=" + form_encode(refresh_token) + "&scope=" + form_encode(scope),
                what);
  if (!r.ok()) return r.error();
  if (r->status == 200) return read_tokens(*r, what);
  if (r->error == "invalid_grant" || r->error == "interaction_required" ||
      r->error == "consent_required" || r->error == "login_required")
    return needs_login("the sign-in service refused the stored sign-in (" + r->error +
                       "); run crmsync login");
  return Error::Permission("the sign-in service refused the refresh: " + refused(*r));
}

bool is_needs_login(const Error& error) {
  return error.is(ErrorKind::kPermission) && error.message().find(kNeedsLogin) != std::string::npos;
}

Error needs_login(std::string why) {
  return Error::Permission(std::string(kNeedsLogin) + why);
}

AccessTokens::AccessTokens(Authority authority, std::string scope, std::string store_path,
                           Clock& clock, http::Transport& transport)
    : authority_(std::move(authority)),
      scope_(std::move(scope)),
      store_path_(std::move(store_path)),
      clock_(clock),
      transport_(transport) {}

Result<std::string> AccessTokens::token() {
  if (!cached_.empty() && clock_.mono() < expires_) return cached_;
  cached_.clear();
  auto stored = load_refresh_token(store_path_);
  if (!stored.ok()) return stored.error();
  if (!*stored)
    return needs_login("nobody has signed in yet (" + store_path_ + "); run crmsync login");
  seen_.push_back(**stored);
  auto t = refresh(transport_, authority_, **stored, scope_);
  if (!t.ok()) return t.error();
  if (!t->refresh_token.empty() && t->refresh_token != **stored) {
    // Rotated: the old one may stop working, so the new one is kept before it is used.
    CRMSYNC_TRY(save_refresh_token(store_path_, t->refresh_token));
    seen_.push_back(t->refresh_token);
  }
  const std::int64_t margin = std::min<std::int64_t>(60, t->expires_in / 2);
  expires_ =
      clock_.mono() + std::chrono::seconds(std::max<std::int64_t>(0, t->expires_in - margin));
  cached_ = t->access_token;
  seen_.push_back(cached_);
  if (seen_.size() > 16) seen_.erase(seen_.begin(), seen_.begin() + 8);
  return cached_;
}

std::vector<std::string> AccessTokens::secrets() const {
  return seen_;
}

}  // namespace crmsync::oauth
