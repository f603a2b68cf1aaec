#include "auth.hpp"

#include <rapidjson/document.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "crmsync/oauth/form.hpp"
#include "crmsync/oauth/oauth.hpp"

namespace crmsync::crm_soap {
namespace {

using oauth::form_encode;

std::string trim(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  while (!s.empty() && ws(s.back())) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && ws(s[i])) ++i;
  return s.substr(i);
}

Result<std::string> read_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::Permission("cannot read the " + std::string(what) + " file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = trim(ss.str());
  if (s.empty())
    return Error::Permission("the " + std::string(what) + " file " + path + " is empty");
  if (s.size() > 64 * 1024)
    return Error::Permission("the " + std::string(what) + " file " + path + " is too large");
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e)
      return Error::Permission("the " + std::string(what) + " file " + path +
                               " holds characters a token cannot have");
  return s;
}

class NoToken final : public TokenSource {
 public:
  Result<std::string> token() override { return std::string{}; }
  std::vector<std::string> secrets() const override { return {}; }
};

class FileToken final : public TokenSource {
 public:
  explicit FileToken(std::string path) : path_(std::move(path)) {}
  Result<std::string> token() override {
    auto t = read_file(path_, "token");
    if (t.ok()) last_ = *t;
    return t;
  }
  bool invalidate() override { return false; }
  std::vector<std::string> secrets() const override { return {last_}; }

 private:
  std::string path_;
  std::string last_;
};

class EnvToken final : public TokenSource {
 public:
  explicit EnvToken(std::string var) : var_(std::move(var)) {}
  Result<std::string> token() override {
    const char* v = std::getenv(var_.c_str());
    std::string t = v ? trim(v) : std::string{};
    if (t.empty()) return Error::Permission("environment variable " + var_ + " holds no token");
    last_ = t;
    return t;
  }
  std::vector<std::string> secrets() const override { return {last_}; }

 private:
  std::string var_;
  std::string last_;
};

class ClientCredentials final : public TokenSource {
 public:
  ClientCredentials(SoapCrmAuth auth, Clock& clock, http::Transport& transport)
      : auth_(std::move(auth)), clock_(clock), transport_(transport) {}

  Result<std::string> token() override {
    if (!cached_.empty() && clock_.mono() < expires_) return cached_;
    cached_.clear();
    if (auth_.client_secret.empty() && !auth_.client_secret_file.empty()) {
      auto s = read_file(auth_.client_secret_file, "client secret");
      if (!s.ok()) return s.error();
      auth_.client_secret = *s;
    }
    http::Request req;
    req.method = "POST";
    req.url = auth_.token_endpoint;
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Accept", "application/json"}};
    req.body = "grant_type=client_credentials&client_id=" + form_encode(auth_.client_id) +
               "&client_secret=" + form_encode(auth_.client_secret);
    if (!auth_.scope.empty()) req.body += "&scope=" + form_encode(auth_.scope);
    if (!auth_.resource.empty()) req.body += "&resource=" + form_encode(auth_.resource);
    auto res = transport_.send(req);
    if (!res.ok()) return res.error().context("token endpoint");
    rapidjson::Document doc;
    doc.Parse(res->body.data(), res->body.size());
    const bool json = !doc.HasParseError() && doc.IsObject();
    if (res->status != 200) {
      std::string why = "HTTP " + std::to_string(res->status);
      if (json && doc.HasMember("error") && doc["error"].IsString())
        why += " " + std::string(doc["error"].GetString()).substr(0, 100);
      if (res->status == 429 || res->status >= 500)
        return Error::Transient("token endpoint: " + why);
      return Error::Permission("token endpoint refused the client credentials: " + why);
    }
    if (!json || !doc.HasMember("access_token") || !doc["access_token"].IsString())
      return Error::Permission("token endpoint reply has no access_token");
    std::string token = doc["access_token"].GetString();
    if (token.empty()) return Error::Permission("token endpoint returned an empty access_token");
    std::int64_t lifetime = 3600;
    if (doc.HasMember("expires_in")) {
      const auto& e = doc["expires_in"];
      if (e.IsInt64())
        lifetime = e.GetInt64();
      else if (e.IsString())
        lifetime = std::atoll(e.GetString());
    }
    // Renew a minute early (or halfway, for short-lived tokens).
    std::int64_t margin = std::min<std::int64_t>(60, lifetime / 2);
    expires_ = clock_.mono() + std::chrono::seconds(std::max<std::int64_t>(0, lifetime - margin));
    cached_ = token;
    seen_.push_back(token);
    if (seen_.size() > 8) seen_.erase(seen_.begin());
    return token;
  }

  bool invalidate() override {
    cached_.clear();
    return true;
  }

  std::vector<std::string> secrets() const override {
    std::vector<std::string> s = seen_;
    s.push_back(auth_.client_secret);
    return s;
  }

 private:
  SoapCrmAuth auth_;
  Clock& clock_;
  http::Transport& transport_;
  std::string cached_;
  MonoTime expires_{};
  std::vector<std::string> seen_;
};

// Signed in as the user: access tokens from the stored refresh token (crmsync login).
class DeviceCodeToken final : public TokenSource {
 public:
  DeviceCodeToken(const SoapCrmAuth& auth, Clock& clock, http::Transport& transport)
      : tokens_(oauth::Authority{auth.authority, auth.tenant, auth.client_id}, auth.scope,
                auth.token_store, clock, transport) {}
  Result<std::string> token() override { return tokens_.token(); }
  bool invalidate() override {
    tokens_.invalidate();
    return true;
  }
  std::vector<std::string> secrets() const override { return tokens_.secrets(); }

 private:
  oauth::AccessTokens tokens_;
};

}  // namespace

Result<std::unique_ptr<TokenSource>> make_token_source(const SoapCrmAuth& auth, Clock& clock,
                                                       http::Transport& transport) {
  using T = SoapCrmAuth::Type;
  switch (auth.type) {
    case T::kNone:
    case T::kNegotiate:  // the transport's authenticator signs each connection in
      return std::unique_ptr<TokenSource>(std::make_unique<NoToken>());
    case T::kBearerFile:
      if (auth.token_file.empty()) return Error::Invalid("crm auth: token_file is required");
      return std::unique_ptr<TokenSource>(std::make_unique<FileToken>(auth.token_file));
    case T::kBearerEnv:
      if (auth.token_env.empty()) return Error::Invalid("crm auth: token_env is required");
      return std::unique_ptr<TokenSource>(std::make_unique<EnvToken>(auth.token_env));
    case T::kClientCredentials: {
      if (auth.token_endpoint.empty() || auth.client_id.empty())
        return Error::Invalid("crm auth: token_endpoint and client_id are required");
      if (auth.client_secret.empty() && auth.client_secret_file.empty())
        return Error::Invalid("crm auth: client_secret or client_secret_file is required");
      if (auto u = http::Url::parse(auth.token_endpoint); !u.ok())
        return u.error().context("crm auth: token_endpoint");
      return std::unique_ptr<TokenSource>(
          std::make_unique<ClientCredentials>(auth, clock, transport));
    }
    case T::kDeviceCode:
      if (auth.tenant.empty() || auth.client_id.empty() || auth.scope.empty() ||
          auth.token_store.empty())
        return Error::Invalid(
            "crm auth: device_code needs tenant, client_id, scope and a token store");
      if (auto u = http::Url::parse(auth.authority); !u.ok())
        return u.error().context("crm auth: authority");
      return std::unique_ptr<TokenSource>(
          std::make_unique<DeviceCodeToken>(auth, clock, transport));
  }
  return Error::Invalid("crm auth: unknown type");
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets) {
    if (s.size() < 4) continue;
    for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
      text.replace(pos, s.size(), "***");
  }
  return text;
}

Error redact(const Error& e, const std::vector<std::string>& secrets) {
  std::string m = redact(e.message(), secrets);
  if (m == e.message()) return e;
  Error out = [&] {
    switch (e.kind()) {
      case ErrorKind::kNotFound:
        return Error::NotFound(m);
      case ErrorKind::kConflict:
        return Error::Conflict(m);
      case ErrorKind::kInvalid:
        return Error::Invalid(m);
      case ErrorKind::kTransient:
        return Error::Transient(m, e.retry_after_ms());
      case ErrorKind::kPermission:
        return Error::Permission(m);
      case ErrorKind::kCorrupt:
        return Error::Corrupt(m);
      case ErrorKind::kInternal:
        break;
    }
    return Error::Internal(m);
  }();
  return std::move(out).with_retry(e.retry());
}

}  // namespace crmsync::crm_soap
