// emulator_token_check: tokens made here with OpenSSL (the test's own signing and encoding)
// are checked against a JWKS made here too.
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "emulator/token_check.hpp"

namespace tc = emulator::token;

namespace {

std::string b64url(const std::string& in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += a[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += a[(acc << (6 - bits)) & 63];
  return out;
}

struct Key {
  EVP_PKEY* pkey = nullptr;
  std::string kid;
  explicit Key(std::string id, unsigned bits = 2048) : kid(std::move(id)) {
    pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
    REQUIRE(pkey);
  }
  ~Key() { EVP_PKEY_free(pkey); }
  std::string param(const char* name) const {
    BIGNUM* bn = nullptr;
    REQUIRE(EVP_PKEY_get_bn_param(pkey, name, &bn) == 1);
    std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
    BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
    BN_free(bn);
    return out;
  }
  std::string jwk() const {
    return "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"" + kid + "\",\"n\":\"" +
           b64url(param(OSSL_PKEY_PARAM_RSA_N)) + "\",\"e\":\"" +
           b64url(param(OSSL_PKEY_PARAM_RSA_E)) + "\"}";
  }
  std::string sign(const std::string& input) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    REQUIRE(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey) == 1);
    REQUIRE(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    std::string sig(len, '\0');
    REQUIRE(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1);
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    return sig;
  }
  std::string jwt(const std::string& claims, const std::string& alg = "RS256") const {
    std::string input =
        b64url("{\"typ\":\"JWT\",\"alg\":\"" + alg + "\",\"kid\":\"" + kid + "\"}") + "." +
        b64url(claims);
    return input + "." + b64url(sign(input));
  }
};

std::int64_t now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::string kIss = "https://login.test/11111111-1111-1111-1111-111111111111/v2.0";
const std::string kCrm = "https://org.crm.dynamics.com";

std::string user_claims(std::int64_t exp, const std::string& aud = kCrm,
                        const std::string& iss = kIss, std::int64_t nbf = 0) {
  return "{\"aud\":\"" + aud + "\",\"iss\":\"" + iss + "\",\"iat\":" + std::to_string(now()) +
         ",\"nbf\":" + std::to_string(nbf ? nbf : now() - 10) + ",\"exp\":" + std::to_string(exp) +
         ",\"oid\":\"0000aaaa-0000-0000-0000-000000000001\",\"upn\":\"ada@example.test\","
         "\"tid\":\"11111111-1111-1111-1111-111111111111\",\"azp\":\"client-1\","
         "\"scp\":\"user_impersonation Mail.Read\"}";
}

tc::Expectations expect() {
  tc::Expectations e;
  e.issuer = kIss;
  e.audiences = {kCrm};
  return e;
}

tc::KeySet keys_of(const std::string& jwks) {
  std::string error;
  auto keys = tc::KeySet::from_jwks(jwks, error);
  INFO(error);
  REQUIRE(keys);
  return std::move(*keys);
}

}  // namespace

TEST_CASE("a good token maps to its caller", "[token]") {
  Key k("k1");
  auto keys = keys_of("{\"keys\":[" + k.jwk() + "]}");
  CHECK(keys.size() == 1);
  auto v = tc::verify(k.jwt(user_claims(now() + 600)), keys, expect());
  INFO(v.error);
  REQUIRE(v);
  CHECK_FALSE(v.caller.app);
  CHECK(v.caller.oid == "0000aaaa-0000-0000-0000-000000000001");
  CHECK(v.caller.upn == "ada@example.test");
  CHECK(v.caller.tid == "11111111-1111-1111-1111-111111111111");
  CHECK(v.caller.client_id == "client-1");
  CHECK(v.caller.scopes == std::vector<std::string>{"user_impersonation", "Mail.Read"});
  auto scoped = expect();
  scoped.scopes = {"Mail.Read"};
  CHECK(tc::verify(k.jwt(user_claims(now() + 600)), keys, scoped));
  scoped.scopes = {"Mail.ReadWrite"};
  auto missing = tc::verify(k.jwt(user_claims(now() + 600)), keys, scoped);
  CHECK(missing.problem == tc::Problem::kScope);
  CHECK_THAT(missing.error, Catch::Contains("Mail.ReadWrite"));
}

TEST_CASE("refusals say what is wrong", "[token][hostile]") {
  // Made once: Catch runs the case again for each section, and RSA keys take time to make.
  static const Key k("k1"), other("k1"), stranger("k2");
  auto keys = keys_of("{\"keys\":[" + k.jwk() + "]}");
  const std::string good = k.jwt(user_claims(now() + 600));

  SECTION("wrong signature: another key under the same kid") {
    auto v = tc::verify(other.jwt(user_claims(now() + 600)), keys, expect());
    CHECK(v.problem == tc::Problem::kSignature);
  }
  SECTION("payload changed after signing") {
    auto dot1 = good.find('.'), dot2 = good.rfind('.');
    std::string forged = good.substr(0, dot1 + 1) +
                         b64url(user_claims(now() + 600, "https://graph.microsoft.com")) +
                         good.substr(dot2);
    CHECK(tc::verify(forged, keys, expect()).problem == tc::Problem::kSignature);
  }
  SECTION("unknown kid") {
    auto v = tc::verify(stranger.jwt(user_claims(now() + 600)), keys, expect());
    CHECK(v.problem == tc::Problem::kUnknownKey);
    CHECK_THAT(v.error, Catch::Contains("k2"));
  }
  SECTION("wrong audience") {
    auto v =
        tc::verify(k.jwt(user_claims(now() + 600, "https://graph.microsoft.com")), keys, expect());
    CHECK(v.problem == tc::Problem::kAudience);
  }
  SECTION("wrong issuer") {
    auto v = tc::verify(k.jwt(user_claims(now() + 600, kCrm, "https://evil.test/x/v2.0")), keys,
                        expect());
    CHECK(v.problem == tc::Problem::kIssuer);
  }
  SECTION("expired, beyond the leeway") {
    auto e = expect();
    auto v = tc::verify(k.jwt(user_claims(now() - 400)), keys, e);
    CHECK(v.problem == tc::Problem::kExpired);
    e.leeway_s = 0;
    CHECK(tc::verify(k.jwt(user_claims(now() - 5)), keys, e).problem == tc::Problem::kExpired);
    e.now = now() + 10000;
    CHECK(tc::verify(good, keys, e).problem == tc::Problem::kExpired);
  }
  SECTION("not yet valid") {
    auto v = tc::verify(k.jwt(user_claims(now() + 7200, kCrm, kIss, now() + 3600)), keys, expect());
    CHECK(v.problem == tc::Problem::kNotYetValid);
  }
  SECTION("alg none and HS256 are refused by name") {
    std::string none =
        b64url("{\"alg\":\"none\",\"kid\":\"k1\"}") + "." + b64url(user_claims(now() + 600)) + ".";
    auto v = tc::verify(none, keys, expect());
    CHECK(v.problem == tc::Problem::kAlgorithm);
    CHECK_THAT(v.error, Catch::Contains("none"));
    CHECK(tc::verify(k.jwt(user_claims(now() + 600), "HS256"), keys, expect()).problem ==
          tc::Problem::kAlgorithm);
  }
  SECTION("malformed") {
    for (std::string bad :
         {std::string(""), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
          std::string("!!!.e30.AA"), b64url("[1]") + "." + b64url("{}") + ".AA",
          b64url("{\"alg\":\"RS256\"}") + "." + b64url("{}") + ".AA",
          good.substr(0, good.rfind('.')) + ".*"}) {
      INFO(bad);
      auto v = tc::verify(bad, keys, expect());
      CHECK(v.problem == tc::Problem::kMalformed);
      CHECK_FALSE(v.error.empty());
    }
  }
  SECTION("oversized") {
    std::string big = k.jwt("{\"pad\":\"" + std::string(20000, 'x') + "\"}");
    auto v = tc::verify(big, keys, expect());
    CHECK(v.problem == tc::Problem::kTooLarge);
    CHECK_THAT(v.error, Catch::Contains("16384"));
  }
}

TEST_CASE("app tokens: roles, and refused where a user is required", "[token]") {
  Key k("k1");
  auto keys = keys_of("{\"keys\":[" + k.jwk() + "]}");
  std::string app = k.jwt("{\"aud\":\"" + kCrm + "\",\"iss\":\"" + kIss +
                          "\",\"exp\":" + std::to_string(now() + 600) +
                          ",\"oid\":\"sp-1\",\"tid\":\"t\",\"azp\":\"app-1\",\"idtyp\":\"app\","
                          "\"roles\":[\"Sync.All\"]}");
  auto e = expect();
  e.scopes = {"Sync.All"};
  auto v = tc::verify(app, keys, e);
  INFO(v.error);
  REQUIRE(v);
  CHECK(v.caller.app);
  CHECK(v.caller.upn.empty());
  CHECK(v.caller.oid == "sp-1");
  e.allow_app_tokens = false;
  CHECK(tc::verify(app, keys, e).problem == tc::Problem::kAppToken);
}

TEST_CASE("an /organizations issuer stands for the token's tenant", "[token]") {
  Key k("k1");
  auto keys = keys_of("{\"keys\":[" + k.jwk() + "]}");
  auto e = expect();
  e.issuer = "https://login.test/{tenantid}/v2.0";
  CHECK(tc::verify(k.jwt(user_claims(now() + 600)), keys, e));
}

TEST_CASE("JWKS documents that are not usable", "[token][hostile]") {
  Key small("s", 1024);
  std::string error;
  CHECK_FALSE(tc::KeySet::from_jwks("not json", error));
  CHECK_FALSE(tc::KeySet::from_jwks("{\"keys\":{}}", error));
  CHECK_FALSE(tc::KeySet::from_jwks("{\"keys\":[]}", error));
  CHECK_THAT(error, Catch::Contains("no RSA signing key"));
  CHECK_FALSE(tc::KeySet::from_jwks(
      "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"x\",\"n\":\"*\",\"e\":\"AQAB\"}]}", error));
  CHECK_FALSE(tc::KeySet::from_jwks("{\"keys\":[" + small.jwk() + "]}", error));
  CHECK_THAT(error, Catch::Contains("2048"));
  // Keys of other types or uses are skipped.
  Key k("k1");
  auto keys = keys_of("{\"keys\":[{\"kty\":\"EC\",\"kid\":\"e\"}," + k.jwk() + "]}");
  CHECK(keys.size() == 1);
}

TEST_CASE("base64url round trip and strictness", "[token]") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    CHECK(tc::base64url_encode(s) == b64url(s));
    CHECK(tc::base64url_decode(tc::base64url_encode(s)) == s);
  }
  CHECK_FALSE(tc::base64url_decode("Zm9v="));  // padding is not base64url (RFC 7515)
  CHECK_FALSE(tc::base64url_decode("Zm9v+"));
  CHECK_FALSE(tc::base64url_decode("Z"));
  CHECK_FALSE(tc::base64url_decode("Zh"));  // stray bits
}
