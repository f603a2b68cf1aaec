// End-to-end tests of login-emulator: each test starts the real process on port 0 with a
// temporary database and talks HTTP(S) to it over loopback. JWTs are checked here with the
// test's own OpenSSL code against the JWKS; MSAL for Python is the independent client.
#include <utility>  // before Asio (Boost 1.74 needs std::exchange declared)

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <catch2/catch.hpp>

#include "crmsync/test/prerequisite.hpp"

#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"
#include "emulator/token_check.hpp"

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

const std::string kClient = "0b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const std::string kDeviceGrant = "urn:ietf:params:oauth:grant-type:device_code";
const std::string kCrmScope = "https://org.crm.dynamics.com/user_impersonation";

std::string b64url_decode(const std::string& in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    REQUIRE(v >= 0);
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) out += (out.empty() ? "" : "&") + k + "=" + url_encode(v);
  return out;
}

struct Response {
  int status = 0;  // 0: no answer (connection closed)
  std::string body;
  std::map<std::string, std::string> headers;
  rapidjson::Document json() const {
    rapidjson::Document d;
    d.Parse(body.c_str(), body.size());
    INFO(body);
    REQUIRE_FALSE(d.HasParseError());
    return d;
  }
};

std::string str(const rapidjson::Value& v, const char* k) {
  if (!v.IsObject() || !v.HasMember(k) || !v[k].IsString()) return "";
  return std::string(v[k].GetString(), v[k].GetStringLength());
}

// The JWT's payload as JSON.
rapidjson::Document claims_of(const std::string& jwt) {
  auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
  REQUIRE(dot1 != std::string::npos);
  REQUIRE(dot2 != dot1);
  std::string payload = b64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  rapidjson::Document d;
  d.Parse(payload.c_str(), payload.size());
  REQUIRE(d.IsObject());
  return d;
}

// The test's own RS256 check: the JWKS key named by the header's kid, OpenSSL EVP.
bool rs256_verifies(const std::string& jwt, const std::string& jwks) {
  auto dot1 = jwt.find('.'), dot2 = jwt.rfind('.');
  rapidjson::Document header, keys;
  std::string h = b64url_decode(jwt.substr(0, dot1));
  header.Parse(h.c_str(), h.size());
  keys.Parse(jwks.c_str(), jwks.size());
  REQUIRE(header.IsObject());
  REQUIRE(keys.IsObject());
  CHECK(str(header, "alg") == "RS256");
  CHECK(str(header, "typ") == "JWT");
  for (const auto& k : keys["keys"].GetArray()) {
    if (str(k, "kid") != str(header, "kid")) continue;
    CHECK(str(k, "kty") == "RSA");
    CHECK(str(k, "use") == "sig");
    std::string n = b64url_decode(str(k, "n")), e = b64url_decode(str(k, "e"));
    BIGNUM* bn_n =
        BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), (int)n.size(), nullptr);
    BIGNUM* bn_e =
        BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), (int)e.size(), nullptr);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    EVP_PKEY* key = nullptr;
    EVP_PKEY_fromdata_init(pctx);
    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_PUBLIC_KEY, params);
    CHECK(EVP_PKEY_get_bits(key) == 2048);
    std::string sig = b64url_decode(jwt.substr(dot2 + 1));
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                               reinterpret_cast<const unsigned char*>(jwt.data()), dot2) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return ok;
  }
  FAIL("no JWKS key with the token's kid");
  return false;
}

// A private CA and a server certificate for `localhost` made with the openssl CLI.
struct Pki {
  std::string ca, cert, key;
};
std::optional<Pki> make_pki(const fs::path& dir) {
  std::ofstream(dir / "ext.cnf") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  const std::string d = "'" + dir.string() + "'";
  std::string cmd = "(cd " + d +
                    " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                    " -keyout ca.key -out ca.pem -days 2 -subj /CN=login-emulator-test-ca"
                    " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                    " -keyout server.key -out server.csr -subj /CN=localhost"
                    " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                    " -out server.pem -days 2 -extfile ext.cnf) > " +
                    d + "/openssl.log 2>&1";
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  return Pki{(dir / "ca.pem").string(), (dir / "server.pem").string(),
             (dir / "server.key").string()};
}

// One request on a fresh connection to a local emulator; over TLS to localhost with `ca`.
Response http_request(unsigned short port_, const std::string& ca, const std::string& method,
                      const std::string& target, const std::string& body,
                      std::map<std::string, std::string> headers = {}) {
  asio::io_context io;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown) req.method_string(method);
  req.set(http::field::host, (ca.empty() ? "127.0.0.1:" : "localhost:") + std::to_string(port_));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  Response out;
  beast::error_code ec;
  auto read = [&](auto& stream) {
    http::write(stream, req, ec);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buf, parser, ec);
    if (ec) return;
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& f : res) out.headers[std::string(f.name_string())] = std::string(f.value());
  };
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
  if (ca.empty()) {
    beast::tcp_stream stream(io);
    stream.expires_after(60s);
    stream.connect(ep);
    read(stream);
  } else {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
    stream.set_verify_callback(asio::ssl::host_name_verification("localhost"));
    beast::get_lowest_layer(stream).expires_after(60s);
    beast::get_lowest_layer(stream).connect(ep);
    stream.handshake(asio::ssl::stream_base::client);
    read(stream);
  }
  return out;
}

class Emulator {
 public:
  // `ca`: the emulator serves TLS (extra has --tls-cert/--tls-key); requests verify with it.
  explicit Emulator(std::vector<std::string> extra = {}, std::string db = "", std::string ca = "")
      : ca_(std::move(ca)) {
    db_ = db.empty() ? dir_.file("login.db") : db;
    std::vector<std::string> args{LOGIN_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db", db_};
    for (auto& e : extra) args.push_back(e);
    proc_ = std::make_unique<crmsync::test::Spawned>(args, dir_.file("stderr.txt"));
    auto line = proc_->read_line(30s);
    REQUIRE(line.has_value());
    REQUIRE(line->rfind("listening on 127.0.0.1:", 0) == 0);
    port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
    REQUIRE(port_ != 0);
    tid_ = str(admin("GET", "/admin/tenant").json(), "tenant_id");
    REQUIRE(tid_.size() == 36);
  }
  int stop() {
    proc_->signal(SIGTERM);
    auto rc = proc_->wait(20s);
    REQUIRE(rc.has_value());
    return *rc;
  }

  unsigned short port() const { return port_; }
  const std::string& tid() const { return tid_; }
  std::string base() const {
    return (ca_.empty() ? "http://127.0.0.1:" : "https://localhost:") + std::to_string(port_);
  }

  // One request on a fresh connection; over TLS to localhost when the emulator serves TLS.
  Response request(const std::string& method, const std::string& target, const std::string& body,
                   std::map<std::string, std::string> headers = {}) {
    return http_request(port_, ca_, method, target, body, std::move(headers));
  }

  Response admin(const std::string& method, const std::string& path, const std::string& body = "") {
    return request(method, path, body, {{"Content-Type", "application/json"}});
  }
  void faults(const std::string& json) {
    REQUIRE(admin("POST", "/admin/faults", json).status == 200);
  }
  std::string add_user(const std::string& upn) {
    auto r = admin("POST", "/admin/users", "{\"upn\":\"" + upn + "\"}");
    REQUIRE(r.status == 200);
    return str(r.json(), "oid");
  }

  Response post_form(const std::string& endpoint, const std::string& body,
                     const std::string& tenant = "organizations") {
    return request("POST", "/" + tenant + "/oauth2/v2.0/" + endpoint, body,
                   {{"Content-Type", "application/x-www-form-urlencoded"}});
  }
  // {device_code, user_code}
  std::pair<std::string, std::string> start(const std::string& scope) {
    auto r = post_form("devicecode", form({{"client_id", kClient}, {"scope", scope}}));
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto j = r.json();
    return {str(j, "device_code"), str(j, "user_code")};
  }
  Response poll(const std::string& device_code, const std::string& client = kClient) {
    return post_form(
        "token",
        form({{"grant_type", kDeviceGrant}, {"client_id", client}, {"device_code", device_code}}));
  }
  void approve(const std::string& user_code, const std::string& upn) {
    auto r = admin("POST", "/admin/device/approve",
                   "{\"user_code\":\"" + user_code + "\",\"upn\":\"" + upn + "\"}");
    INFO(r.body);
    REQUIRE(r.status == 200);
  }
  // The whole device flow for `upn`: the token response.
  rapidjson::Document sign_in(const std::string& upn, const std::string& scope) {
    auto [device, user] = start(scope);
    approve(user, upn);
    auto r = poll(device);
    INFO(r.body);
    REQUIRE(r.status == 200);
    return r.json();
  }
  Response refresh(const std::string& rt, const std::string& scope = "",
                   const std::string& client = kClient) {
    std::vector<std::pair<std::string, std::string>> f{
        {"grant_type", "refresh_token"}, {"client_id", client}, {"refresh_token", rt}};
    if (!scope.empty()) f.push_back({"scope", scope});
    return post_form("token", form(f));
  }
  std::string jwks() {
    auto r = request("GET", "/" + tid_ + "/discovery/v2.0/keys", "");
    REQUIRE(r.status == 200);
    return r.body;
  }
  std::string stderr_text() const {
    std::ifstream in(dir_.file("stderr.txt"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  crmsync::test::TempDir dir_;
  std::string db_;
  std::string ca_;
  std::unique_ptr<crmsync::test::Spawned> proc_;
  unsigned short port_ = 0;
  std::string tid_;
};

// An Entra error: HTTP 400 (unless said), the error, and the AADSTS shape.
void check_error(const Response& r, const std::string& error, int status = 400) {
  INFO(r.body);
  CHECK(r.status == status);
  auto j = r.json();
  CHECK(str(j, "error") == error);
  std::string d = str(j, "error_description");
  CHECK(d.rfind("AADSTS", 0) == 0);
  CHECK(d.find("\r\nTrace ID: ") != std::string::npos);
  CHECK(d.find("\r\nCorrelation ID: ") != std::string::npos);
  CHECK(d.find("\r\nTimestamp: ") != std::string::npos);
  REQUIRE(j.HasMember("error_codes"));
  REQUIRE(j["error_codes"].IsArray());
  REQUIRE(j["error_codes"].Size() == 1);
  CHECK(d.rfind("AADSTS" + std::to_string(j["error_codes"][0].GetInt()) + ":", 0) == 0);
  CHECK(str(j, "timestamp").size() == 20);  // "2016-01-09 02:02:12Z"
  CHECK(str(j, "trace_id").size() == 36);
  CHECK(str(j, "correlation_id").size() == 36);
}

std::int64_t num(const rapidjson::Value& v, const char* k) {
  REQUIRE(v.HasMember(k));
  REQUIRE(v[k].IsNumber());
  return v[k].GetInt64();
}

}  // namespace

TEST_CASE("prints the listening line, keeps its key and tenant across restarts, exits on SIGTERM") {
  crmsync::test::TempDir dir;
  std::string db = dir.file("kept.db");
  std::string kid, tid;
  {
    Emulator emu({}, db);
    auto t = emu.admin("GET", "/admin/tenant").json();
    kid = str(t, "kid");
    tid = emu.tid();
    CHECK(emu.stop() == 0);
  }
  Emulator again({}, db);
  CHECK(again.tid() == tid);
  CHECK(str(again.admin("GET", "/admin/tenant").json(), "kid") == kid);
  CHECK(again.jwks().find(kid) != std::string::npos);
}

TEST_CASE("OpenID configuration and JWKS") {
  Emulator emu;
  auto cfg = emu.request("GET", "/" + emu.tid() + "/v2.0/.well-known/openid-configuration", "");
  REQUIRE(cfg.status == 200);
  auto c = cfg.json();
  const std::string t = emu.base() + "/" + emu.tid();
  CHECK(str(c, "issuer") == t + "/v2.0");
  CHECK(str(c, "token_endpoint") == t + "/oauth2/v2.0/token");
  CHECK(str(c, "device_authorization_endpoint") == t + "/oauth2/v2.0/devicecode");
  CHECK(str(c, "authorization_endpoint") == t + "/oauth2/v2.0/authorize");
  CHECK(str(c, "jwks_uri") == t + "/discovery/v2.0/keys");
  // /organizations names no tenant in its issuer, as Entra's.
  auto org = emu.request("GET", "/organizations/v2.0/.well-known/openid-configuration", "").json();
  CHECK(str(org, "issuer") == emu.base() + "/{tenantid}/v2.0");
  CHECK(str(org, "token_endpoint") == emu.base() + "/organizations/oauth2/v2.0/token");

  rapidjson::Document keys;
  std::string jwks = emu.jwks();
  keys.Parse(jwks.c_str());
  REQUIRE(keys["keys"].Size() == 1);
  const auto& k = keys["keys"][0];
  CHECK(str(k, "kty") == "RSA");
  CHECK(str(k, "use") == "sig");
  CHECK(str(k, "e") == "AQAB");
  CHECK(b64url_decode(str(k, "n")).size() == 256);
  CHECK_FALSE(str(k, "kid").empty());
  CHECK(emu.request("POST", "/" + emu.tid() + "/discovery/v2.0/keys", "").status == 405);
  check_error(emu.request("GET", "/nosuchtenant/v2.0/.well-known/openid-configuration", ""),
              "invalid_request");
}

TEST_CASE("device code flow: pending - approve - tokens that verify against the JWKS") {
  Emulator emu({"--interval-s", "0"});
  std::string oid = emu.add_user("ada@example.test");
  auto r = emu.post_form(
      "devicecode",
      form({{"client_id", kClient}, {"scope", kCrmScope + " offline_access openid profile"}}));
  REQUIRE(r.status == 200);
  CHECK(r.headers["Cache-Control"].find("no-store") != std::string::npos);
  auto dc = r.json();
  // RFC 8628 §3.2 with Entra's fields (no verification_uri_complete).
  CHECK(str(dc, "device_code").size() > 40);
  CHECK(str(dc, "user_code").size() == 9);
  CHECK(str(dc, "verification_uri") == emu.base() + "/devicelogin");
  CHECK(num(dc, "expires_in") == 900);
  CHECK(num(dc, "interval") == 0);
  CHECK(str(dc, "message").find(str(dc, "user_code")) != std::string::npos);
  CHECK_FALSE(dc.HasMember("verification_uri_complete"));

  check_error(emu.poll(str(dc, "device_code")), "authorization_pending");
  check_error(emu.poll(str(dc, "device_code")), "authorization_pending");
  emu.approve(str(dc, "user_code"), "ada@example.test");
  auto t = emu.poll(str(dc, "device_code"));
  INFO(t.body);
  REQUIRE(t.status == 200);
  auto tok = t.json();
  CHECK(str(tok, "token_type") == "Bearer");
  CHECK(str(tok, "scope") == kCrmScope + " openid profile offline_access");
  CHECK(num(tok, "expires_in") == 3599);
  CHECK(num(tok, "ext_expires_in") == 3599);
  CHECK_FALSE(str(tok, "refresh_token").empty());
  CHECK_FALSE(str(tok, "id_token").empty());

  const std::string jwks = emu.jwks();
  CHECK(rs256_verifies(str(tok, "access_token"), jwks));
  CHECK(rs256_verifies(str(tok, "id_token"), jwks));
  auto at = claims_of(str(tok, "access_token"));
  CHECK(str(at, "iss") == emu.base() + "/" + emu.tid() + "/v2.0");
  CHECK(str(at, "aud") == "https://org.crm.dynamics.com");
  CHECK(str(at, "scp") == "user_impersonation");
  CHECK(str(at, "oid") == oid);
  CHECK(str(at, "upn") == "ada@example.test");
  CHECK(str(at, "preferred_username") == "ada@example.test");
  CHECK(str(at, "tid") == emu.tid());
  CHECK(str(at, "azp") == kClient);
  CHECK(num(at, "exp") - num(at, "nbf") == 3599 + 300);
  CHECK(num(at, "iat") == num(at, "nbf"));
  CHECK_FALSE(at.HasMember("roles"));
  auto id = claims_of(str(tok, "id_token"));
  CHECK(str(id, "aud") == kClient);
  CHECK(str(id, "oid") == oid);
  CHECK(str(id, "sub") == str(at, "sub"));

  // The scaffold's token check agrees.
  std::string error;
  auto keys = emulator::token::KeySet::from_jwks(jwks, error);
  REQUIRE(keys);
  emulator::token::Expectations e;
  e.issuer = emu.base() + "/{tenantid}/v2.0";
  e.audiences = {"https://org.crm.dynamics.com"};
  e.scopes = {"user_impersonation"};
  auto v = emulator::token::verify(str(tok, "access_token"), *keys, e);
  INFO(v.error);
  CHECK(v);
  CHECK(v.caller.oid == oid);
  CHECK(v.caller.upn == "ada@example.test");

  // A device code is redeemed once.
  check_error(emu.poll(str(dc, "device_code")), "invalid_grant");
}

TEST_CASE("scopes name the audience: CRM, Graph short and long, one resource at a time") {
  Emulator emu({"--interval-s", "0"});
  emu.add_user("ada@example.test");
  auto aud_scp = [&](const std::string& scope) {
    auto tok = emu.sign_in("ada@example.test", scope);
    auto at = claims_of(str(tok, "access_token"));
    return std::make_pair(str(at, "aud"), str(at, "scp"));
  };
  CHECK(aud_scp("Mail.ReadWrite Calendars.ReadWrite") ==
        std::make_pair(std::string("https://graph.microsoft.com"),
                       std::string("Mail.ReadWrite Calendars.ReadWrite")));
  CHECK(aud_scp("https://graph.microsoft.com/Mail.ReadWrite offline_access") ==
        std::make_pair(std::string("https://graph.microsoft.com"), std::string("Mail.ReadWrite")));
  CHECK(aud_scp("https://org.crm.dynamics.com//user_impersonation").first ==
        "https://org.crm.dynamics.com");
  // Without offline_access no refresh token, without openid no id_token.
  auto bare = emu.sign_in("ada@example.test", "Mail.Read");
  CHECK_FALSE(bare.HasMember("refresh_token"));
  CHECK_FALSE(bare.HasMember("id_token"));
  CHECK(str(bare, "scope") == "Mail.Read");

  check_error(emu.post_form("devicecode",
                            form({{"client_id", kClient}, {"scope", kCrmScope + " Mail.Read"}})),
              "invalid_scope");
  check_error(emu.post_form("devicecode", form({{"client_id", kClient}, {"scope", "a\"b"}})),
              "invalid_scope");
  check_error(emu.post_form("devicecode", form({{"client_id", kClient}})), "invalid_request");
  check_error(emu.post_form("devicecode", form({{"scope", kCrmScope}})), "invalid_request");
  check_error(
      emu.post_form("devicecode", form({{"client_id", "not-a-guid"}, {"scope", kCrmScope}})),
      "unauthorized_client");
}

TEST_CASE("polling faster than the interval answers slow_down; the slow_down fault too") {
  SECTION("a poll sooner than the interval") {
    Emulator emu({"--interval-s", "60"});
    auto [device, user] = emu.start(kCrmScope);
    CHECK(num(emu.post_form("devicecode", form({{"client_id", kClient}, {"scope", kCrmScope}}))
                  .json(),
              "interval") == 60);
    check_error(emu.poll(device), "authorization_pending");  // the first poll is never early
    check_error(emu.poll(device), "slow_down");
    check_error(emu.poll(device), "slow_down");
  }
  SECTION("the next N polls, even once approved") {
    Emulator emu({"--interval-s", "0"});
    emu.add_user("ada@example.test");
    auto [device, user] = emu.start(kCrmScope);
    emu.faults("{\"slow_down\":2}");
    check_error(emu.poll(device), "slow_down");
    emu.approve(user, "ada@example.test");
    check_error(emu.poll(device), "slow_down");
    CHECK(emu.poll(device).status == 200);
  }
}

TEST_CASE("expired, denied, unknown and foreign device codes") {
  Emulator emu({"--interval-s", "0"});
  emu.add_user("ada@example.test");
  SECTION("expire_codes: pending codes expire now; approval comes too late") {
    auto [device, user] = emu.start(kCrmScope);
    emu.faults("{\"expire_codes\":true}");
    check_error(emu.poll(device), "expired_token");
    auto late = emu.admin("POST", "/admin/device/approve",
                          "{\"user_code\":\"" + user + "\",\"upn\":\"ada@example.test\"}");
    CHECK(late.status == 410);
    // A code made after the fault is fresh.
    auto [device2, user2] = emu.start(kCrmScope);
    check_error(emu.poll(device2), "authorization_pending");
  }
  SECTION("denied") {
    auto [device, user] = emu.start(kCrmScope);
    CHECK(emu.admin("POST", "/admin/device/deny", "{\"user_code\":\"" + user + "\"}").status ==
          200);
    check_error(emu.poll(device), "authorization_declined");
    CHECK(emu.admin("POST", "/admin/device/deny", "{\"user_code\":\"" + user + "\"}").status ==
          409);
  }
  SECTION("unknown or foreign codes") {
    auto [device, user] = emu.start(kCrmScope);
    check_error(emu.poll("no-such-code"), "bad_verification_code");
    check_error(emu.poll(device, "99999999-9999-4999-8999-999999999999"), "invalid_grant");
    check_error(
        emu.post_form("token", form({{"grant_type", kDeviceGrant}, {"client_id", kClient}})),
        "invalid_request");
    CHECK(emu.admin("POST", "/admin/device/approve",
                    "{\"user_code\":\"ZZZZZZZZZ\",\"upn\":\"ada@example.test\"}")
              .status == 404);
    CHECK(emu.admin("POST", "/admin/device/approve",
                    "{\"user_code\":\"" + user + "\",\"upn\":\"nobody@example.test\"}")
              .status == 404);
  }
}

TEST_CASE("refresh tokens rotate, work for another resource, and die when revoked") {
  Emulator emu({"--interval-s", "0"});
  emu.add_user("ada@example.test");
  emu.add_user("bob@example.test");
  auto tok = emu.sign_in("ada@example.test", kCrmScope + " offline_access");
  std::string rt1 = str(tok, "refresh_token");
  auto r2 = emu.refresh(rt1);
  INFO(r2.body);
  REQUIRE(r2.status == 200);
  auto tok2 = r2.json();
  std::string rt2 = str(tok2, "refresh_token");
  CHECK_FALSE(rt2.empty());
  CHECK(rt2 != rt1);
  CHECK(str(claims_of(str(tok2, "access_token")), "aud") == "https://org.crm.dynamics.com");
  // Entra does not revoke the refresh token a refresh used.
  CHECK(emu.refresh(rt1).status == 200);
  // Refresh tokens are not bound to a resource.
  auto graph = emu.refresh(rt2, "Mail.ReadWrite offline_access");
  REQUIRE(graph.status == 200);
  CHECK(str(claims_of(str(graph.json(), "access_token")), "aud") == "https://graph.microsoft.com");
  check_error(emu.refresh(rt2, "", "99999999-9999-4999-8999-999999999999"), "invalid_grant");
  check_error(emu.refresh("garbage"), "invalid_grant");

  auto bob = emu.sign_in("bob@example.test", kCrmScope + " offline_access");
  auto revoked = emu.admin("POST", "/admin/refresh/revoke", "{\"upn\":\"ada@example.test\"}");
  REQUIRE(revoked.status == 200);
  CHECK(num(revoked.json(), "revoked") >= 3);
  check_error(emu.refresh(rt1), "invalid_grant");
  check_error(emu.refresh(rt2), "invalid_grant");
  CHECK(emu.refresh(str(bob, "refresh_token")).status == 200);  // only ada's
  // Signing in again gives a working one.
  auto again = emu.sign_in("ada@example.test", kCrmScope + " offline_access");
  CHECK(emu.refresh(str(again, "refresh_token")).status == 200);
  CHECK(emu.admin("POST", "/admin/refresh/revoke", "{\"upn\":\"x@y\"}").status == 404);
}

TEST_CASE("client credentials: an app-only token without upn or scp") {
  Emulator emu;
  const std::string app = "5a5a5a5a-1111-4222-8333-444455556666";
  auto reg = emu.admin("POST", "/admin/apps",
                       "{\"client_id\":\"" + app +
                           "\",\"client_secret\":\"s3cret\",\"roles\":[\"Mail.ReadWrite\"]}");
  REQUIRE(reg.status == 200);
  std::string app_oid = str(reg.json(), "oid");
  auto ok = emu.post_form("token", form({{"grant_type", "client_credentials"},
                                         {"client_id", app},
                                         {"client_secret", "s3cret"},
                                         {"scope", "https://graph.microsoft.com/.default"}}));
  INFO(ok.body);
  REQUIRE(ok.status == 200);
  auto tok = ok.json();
  CHECK(str(tok, "token_type") == "Bearer");
  CHECK_FALSE(tok.HasMember("refresh_token"));
  CHECK(rs256_verifies(str(tok, "access_token"), emu.jwks()));
  auto at = claims_of(str(tok, "access_token"));
  CHECK(str(at, "aud") == "https://graph.microsoft.com");
  CHECK(str(at, "idtyp") == "app");
  CHECK(str(at, "oid") == app_oid);
  CHECK(str(at, "azp") == app);
  CHECK_FALSE(at.HasMember("upn"));
  CHECK_FALSE(at.HasMember("scp"));
  REQUIRE(at["roles"].IsArray());
  CHECK(std::string(at["roles"][0].GetString()) == "Mail.ReadWrite");
  // Basic client authentication (RFC 6749 §2.3.1) works as well.
  std::string basic = "NWE1YTVhNWEtMTExMS00MjIyLTgzMzMtNDQ0NDU1NTU2NjY2OnMzY3JldA==";  // app:s3cret
  auto viab = emu.request(
      "POST", "/" + emu.tid() + "/oauth2/v2.0/token",
      form({{"grant_type", "client_credentials"},
            {"scope", "https://org.crm.dynamics.com/.default"}}),
      {{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", "Basic " + basic}});
  INFO(viab.body);
  CHECK(viab.status == 200);

  check_error(emu.post_form("token", form({{"grant_type", "client_credentials"},
                                           {"client_id", app},
                                           {"client_secret", "wrong"},
                                           {"scope", "https://graph.microsoft.com/.default"}})),
              "invalid_client", 401);
  check_error(emu.post_form("token", form({{"grant_type", "client_credentials"},
                                           {"client_id", app},
                                           {"scope", "https://graph.microsoft.com/.default"}})),
              "invalid_client", 401);
  check_error(emu.post_form("token", form({{"grant_type", "client_credentials"},
                                           {"client_id", app},
                                           {"client_secret", "s3cret"},
                                           {"scope", "Mail.Read"}})),
              "invalid_scope");
  check_error(emu.post_form("token", form({{"grant_type", "client_credentials"},
                                           {"client_id", kClient},
                                           {"client_secret", "x"},
                                           {"scope", "https://graph.microsoft.com/.default"}})),
              "unauthorized_client");
}

TEST_CASE("faults: short tokens, errors, throttling, dropped replies; the log and reset") {
  Emulator emu({"--interval-s", "0"});
  emu.add_user("ada@example.test");
  emu.faults("{\"token_lifetime_s\":5}");
  auto tok = emu.sign_in("ada@example.test", kCrmScope);
  CHECK(num(tok, "expires_in") == 5);
  auto at = claims_of(str(tok, "access_token"));
  CHECK(num(at, "exp") - num(at, "nbf") == 5 + 300);

  emu.faults("{\"error_rate\":1}");
  check_error(emu.post_form("devicecode", form({{"client_id", kClient}, {"scope", kCrmScope}})),
              "temporarily_unavailable", 500);
  emu.faults("{\"throttle_rate\":1,\"retry_after_s\":7}");
  auto thr = emu.post_form("devicecode", form({{"client_id", kClient}, {"scope", kCrmScope}}));
  check_error(thr, "temporarily_unavailable", 429);
  CHECK(thr.headers["Retry-After"] == "7");
  emu.faults("{\"fail_nth\":2}");
  auto [device, user] = emu.start(kCrmScope);                     // 1st
  check_error(emu.poll(device), "temporarily_unavailable", 500);  // 2nd
  check_error(emu.poll(device), "authorization_pending");
  // A dropped reply: the tokens were issued (the code is spent), the client saw nothing.
  emu.approve(user, "ada@example.test");
  emu.faults("{\"drop_after_commit_rate\":1}");
  CHECK(emu.poll(device).status == 0);
  emu.faults("{}");
  check_error(emu.poll(device), "invalid_grant");

  auto bad = emu.admin("POST", "/admin/faults", "{\"slow_down\":-1}");
  CHECK(bad.status == 400);
  CHECK(emu.admin("POST", "/admin/faults", "{\"nonsense\":1}").status == 400);
  CHECK(emu.admin("POST", "/admin/faults", "{\"error_rate\":2}").status == 400);
  CHECK(emu.admin("POST", "/admin/faults", "{\"expire_codes\":\"yes\"}").status == 400);

  auto log = emu.admin("GET", "/admin/requests").json();
  REQUIRE(log.IsArray());
  std::set<std::string> faults, grants;
  for (const auto& e : log.GetArray()) {
    faults.insert(str(e, "fault"));
    grants.insert(str(e, "grant_type"));
    CHECK(e.HasMember("at_ms"));
  }
  CHECK(faults.count("error"));
  CHECK(faults.count("throttle"));
  CHECK(faults.count("drop"));
  CHECK(grants.count(kDeviceGrant));
  CHECK(num(emu.admin("GET", "/admin/stats").json(), "requests") ==
        static_cast<std::int64_t>(log.Size()));

  CHECK(emu.admin("POST", "/admin/reset").status == 200);
  CHECK(emu.admin("GET", "/admin/requests").body == "[]\n");
  auto [d2, u2] = emu.start(kCrmScope);
  CHECK(emu.admin("POST", "/admin/device/approve",
                  "{\"user_code\":\"" + u2 + "\",\"upn\":\"ada@example.test\"}")
            .status == 404);  // users are gone
}

TEST_CASE("hostile input to every endpoint gets a clear refusal", "[hostile]") {
  Emulator emu({"--interval-s", "0"});
  const std::string tok = "/organizations/oauth2/v2.0/token";
  const std::string dev = "/organizations/oauth2/v2.0/devicecode";
  const std::map<std::string, std::string> form_type{
      {"Content-Type", "application/x-www-form-urlencoded"}};
  SECTION("unknown and missing grant types") {
    check_error(emu.post_form("token", "grant_type=password&client_id=" + kClient),
                "unsupported_grant_type");
    check_error(emu.post_form("token", "grant_type=" + std::string(5000, 'x')),
                "unsupported_grant_type");
    check_error(emu.post_form("token", "client_id=" + kClient), "invalid_request");
    check_error(emu.post_form("token", ""), "invalid_request");
  }
  SECTION("bad form encoding, duplicates, control characters, long values") {
    for (std::string body :
         {std::string("grant_type=%zz"), std::string("grant_type=refresh_token%"),
          std::string("grant_type=a&grant_type=b"),
          std::string("grant_type=refresh_token&refresh_token=a%00b"),
          std::string("grant_type=refresh_token&refresh_token=") + std::string(20000, 'a')}) {
      INFO(body.substr(0, 80));
      check_error(emu.post_form("token", body), "invalid_request");
      check_error(emu.post_form("devicecode", body), "invalid_request");
    }
  }
  SECTION("not a form, not a POST") {
    check_error(emu.request("POST", tok, "{\"grant_type\":\"refresh_token\"}",
                            {{"Content-Type", "application/json"}}),
                "invalid_request");
    check_error(emu.request("POST", dev, "client_id=x"), "invalid_request");  // no Content-Type
    check_error(emu.request("GET", tok, ""), "invalid_request");
    check_error(emu.request("PUT", dev, "", form_type), "invalid_request");
    check_error(emu.request("GET", "/organizations/oauth2/v2.0/authorize?client_id=x", ""),
                "invalid_request");
  }
  SECTION("unknown tenants and paths") {
    check_error(emu.post_form("token", "grant_type=refresh_token", std::string(3000, 't')),
                "invalid_request");
    check_error(emu.post_form("token", "grant_type=refresh_token", "consumers"), "invalid_request");
    CHECK(emu.request("GET", "/", "").status == 404);
    CHECK(emu.request("GET", "/organizations", "").status == 404);
    CHECK(emu.request("GET", "/organizations/oauth2/v2.0/other", "").status == 404);
    CHECK(emu.request("GET", "/%00/v2.0/.well-known/openid-configuration", "").status == 400);
  }
  SECTION("huge bodies and headers close the connection with 413 / 431") {
    auto big = emu.request("POST", tok, std::string(2u << 20, 'a'), form_type);
    CHECK(big.status == 413);
    auto head = emu.request(
        "GET", "/organizations/discovery/v2.0/keys", "",
        {{"X-Filler-1", std::string(40000, 'h')}, {"X-Filler-2", std::string(40000, 'h')}});
    CHECK(head.status == 431);
  }
  SECTION("malformed HTTP gets 400, and the emulator goes on") {
    asio::io_context io;
    tcp::socket s(io);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), emu.port()));
    asio::write(s, asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
    std::string reply;
    beast::error_code ec;
    std::array<char, 512> buf{};
    for (;;) {
      auto n = s.read_some(asio::buffer(buf), ec);
      reply.append(buf.data(), n);
      if (ec) break;
    }
    CHECK(reply.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(emu.request("GET", "/organizations/discovery/v2.0/keys", "").status == 200);
  }
  SECTION("the admin API: loopback Host only, JSON objects only, checked values") {
    CHECK(emu.request("GET", "/admin/requests", "", {{"Host", "evil.example:80"}}).status == 403);
    CHECK(emu.admin("POST", "/admin/users", "[1,2]").status == 400);
    CHECK(emu.admin("POST", "/admin/users", "{\"upn\":").status == 400);
    CHECK(emu.admin("POST", "/admin/users", "{\"upn\":\"no-at-sign\"}").status == 400);
    CHECK(emu.admin("POST", "/admin/users", "{\"upn\":\"a b@c\"}").status == 400);
    CHECK(emu.admin("POST", "/admin/users", "{\"upn\":\"ada@example.test\"}").status == 200);
    CHECK(emu.admin("POST", "/admin/users", "{\"upn\":\"ADA@example.test\"}").status == 409);
    CHECK(
        emu.admin("POST", "/admin/apps", "{\"client_id\":\"x\",\"client_secret\":\"y\"}").status ==
        400);
    CHECK(emu.admin("POST", "/admin/device/approve", "{}").status == 400);
    CHECK(emu.admin("GET", "/admin/nothing").status == 404);
  }
  // Every reply above left the emulator serving.
  CHECK(emu.request("GET", "/organizations/discovery/v2.0/keys", "").status == 200);
}

TEST_CASE("TLS when asked: the scaffold's authority fetch over HTTPS with a private CA") {
  crmsync::test::TempDir dir;
  auto pki = make_pki(dir.path());
  REQUIRE_PREREQUISITE(crmsync::test::prereq::kOpenssl, pki.has_value());
  Emulator emu({"--tls-cert", pki->cert, "--tls-key", pki->key}, "", pki->ca);
  auto cfg = emu.request("GET", "/" + emu.tid() + "/v2.0/.well-known/openid-configuration", "");
  REQUIRE(cfg.status == 200);
  const std::string authority = "https://localhost:" + std::to_string(emu.port()) + "/" + emu.tid();
  CHECK(str(cfg.json(), "issuer") == authority + "/v2.0");
  std::string error;
  auto a = emulator::token::fetch_authority(authority, pki->ca, error);
  INFO(error);
  REQUIRE(a);
  CHECK(a->issuer == authority + "/v2.0");
  CHECK(a->keys.size() == 1);
  // Without the CA the certificate is refused.
  CHECK_FALSE(emulator::token::fetch_authority(authority, "", error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("MSAL for Python signs in with the device flow and refreshes (independent client)") {
  REQUIRE_PREREQUISITE(
      crmsync::test::prereq::kMsal,
      crmsync::test::run_program({"/usr/bin/python3", "-c", "import msal"}).exit_code == 0);
  crmsync::test::TempDir dir;
  auto pki = make_pki(dir.path());
  REQUIRE_PREREQUISITE(crmsync::test::prereq::kOpenssl, pki.has_value());
  Emulator emu({"--tls-cert", pki->cert, "--tls-key", pki->key, "--interval-s", "1"}, "", pki->ca);
  std::string oid = emu.add_user("ada@example.test");
  auto admin = [&](const std::string& path, const std::string& body) {
    return emu.admin("POST", path, body);
  };
  const std::string authority =
      "https://localhost:" + std::to_string(emu.port()) + "/organizations";
  const std::vector<std::string> env{"REQUESTS_CA_BUNDLE=" + pki->ca};
  SECTION("approved") {
    crmsync::test::Spawned py(
        {"/usr/bin/python3", LOGIN_MSAL_SCRIPT, authority, kClient, kCrmScope},
        dir.file("msal.err"), env);
    auto first = py.read_line(60s);
    REQUIRE(first.has_value());
    INFO(*first);
    REQUIRE(first->rfind("USER_CODE ", 0) == 0);
    auto approved = admin("/admin/device/approve", "{\"user_code\":\"" + first->substr(10) +
                                                       "\",\"upn\":\"ada@example.test\"}");
    REQUIRE(approved.status == 200);
    std::vector<std::string> lines;
    while (auto l = py.read_line(60s)) lines.push_back(*l);
    auto rc = py.wait(30s);
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    INFO(all);
    std::ifstream err(dir.file("msal.err"));
    std::stringstream es;
    es << err.rdbuf();
    INFO(es.str());
    REQUIRE(rc == 0);
    CHECK(all.find("ID_TOKEN ada@example.test " + oid) != std::string::npos);
    CHECK(all.find("ACCOUNT ada@example.test") != std::string::npos);
    CHECK(all.find("REFRESHED True") != std::string::npos);
    CHECK(all.find("msal device flow OK") != std::string::npos);
    std::string at;
    for (const auto& l : lines)
      if (l.rfind("ACCESS_TOKEN ", 0) == 0) at = l.substr(13);
    REQUIRE_FALSE(at.empty());
    auto jwks = emu.request("GET", "/organizations/discovery/v2.0/keys", "");
    CHECK(rs256_verifies(at, jwks.body));
    CHECK(str(claims_of(at), "aud") == "https://org.crm.dynamics.com");
    // The token MSAL got is one the crm-emulator accepts, as Ada (SPEC U3).
    crmsync::test::Spawned crm(
        {CRM_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db", dir.file("crm.db"), "--authority",
         authority, "--authority-ca", pki->ca, "--org-url", "https://org.crm.dynamics.com"},
        dir.file("crm.err"));
    auto crm_line = crm.read_line(30s);
    REQUIRE(crm_line.has_value());
    REQUIRE(crm_line->rfind("listening on 127.0.0.1:", 0) == 0);
    const auto crm_port =
        static_cast<unsigned short>(std::stoi(crm_line->substr(crm_line->rfind(':') + 1)));
    auto ada = http_request(crm_port, "", "POST", "/admin/users",
                            R"({"fullname":"Ada Lovelace","upn":"ada@example.test"})",
                            {{"Content-Type", "application/json"}});
    REQUIRE(ada.status == 200);
    const std::string who_am_i =
        R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)"
        R"(<Execute xmlns="http://schemas.microsoft.com/xrm/2011/Contracts/Services" )"
        R"(xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><request i:type="c:WhoAmIRequest" )"
        R"(xmlns:a="http://schemas.microsoft.com/xrm/2011/Contracts" )"
        R"(xmlns:c="http://schemas.microsoft.com/crm/2011/Contracts"><a:Parameters )"
        R"(xmlns:b="http://schemas.datacontract.org/2004/07/System.Collections.Generic"/>)"
        R"(<a:RequestId i:nil="true"/><a:RequestName>WhoAmI</a:RequestName></request>)"
        R"(</Execute></s:Body></s:Envelope>)";
    auto who = http_request(
        crm_port, "", "POST", "/XRMServices/2011/Organization.svc/web", who_am_i,
        {{"Content-Type", "text/xml; charset=utf-8"},
         {"SOAPAction",
          "http://schemas.microsoft.com/xrm/2011/Contracts/Services/IOrganizationService/Execute"},
         {"Authorization", "Bearer " + at}});
    INFO(who.body.substr(0, 2000));
    CHECK(who.status == 200);
    CHECK(who.body.find(str(ada.json(), "systemuserid")) != std::string::npos);
    crm.signal(SIGTERM);
    crm.wait(10s);
    // MSAL's requests in the log: discovery, devicecode, polls, the refresh.
    auto log = emu.admin("GET", "/admin/requests").json();
    std::set<std::string> grants;
    for (const auto& e : log.GetArray()) grants.insert(str(e, "grant_type"));
    CHECK(grants.count(kDeviceGrant));
    CHECK(grants.count("refresh_token"));
  }
  SECTION("denied") {
    crmsync::test::Spawned py(
        {"/usr/bin/python3", LOGIN_MSAL_SCRIPT, authority, kClient, kCrmScope, "deny"},
        dir.file("msal.err"), env);
    auto first = py.read_line(60s);
    REQUIRE(first.has_value());
    REQUIRE(first->rfind("USER_CODE ", 0) == 0);
    REQUIRE(admin("/admin/device/deny", "{\"user_code\":\"" + first->substr(10) + "\"}").status ==
            200);
    auto result = py.read_line(60s);
    REQUIRE(result.has_value());
    CHECK(*result == "DENIED authorization_declined");
    CHECK(py.wait(30s) == 0);
  }
}
