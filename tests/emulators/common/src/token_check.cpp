#include "emulator/token_check.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <chrono>
#include <map>

#include <rapidjson/document.h>

namespace emulator::token {

namespace {

const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// An RSA public key from its base64url modulus and exponent (OpenSSL 3 EVP_PKEY_fromdata).
Pkey rsa_key(const std::string& n_raw, const std::string& e_raw) {
  BIGNUM* n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n_raw.data()),
                        static_cast<int>(n_raw.size()), nullptr);
  BIGNUM* e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e_raw.data()),
                        static_cast<int>(e_raw.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* key = nullptr;
  if (n && e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
      (params = OSSL_PARAM_BLD_to_param(bld)) &&
      (ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)) &&
      EVP_PKEY_fromdata_init(ctx) > 0)
    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
  return Pkey(key);
}

bool rs256_verify(EVP_PKEY* key, std::string_view signed_part, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok =
      ctx && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(signed_part.data()),
                       signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

std::optional<std::string> str(const rapidjson::Value& o, const char* k) {
  auto it = o.FindMember(k);
  if (it == o.MemberEnd() || !it->value.IsString()) return std::nullopt;
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

Verdict fail(Problem p, std::string msg) {
  Verdict v;
  v.problem = p;
  v.error = std::move(msg);
  return v;
}

std::vector<std::string> split_spaces(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto sp = s.find(' ', pos);
    if (sp == std::string::npos) sp = s.size();
    if (sp > pos) out.push_back(s.substr(pos, sp - pos));
    pos = sp + 1;
  }
  return out;
}

}  // namespace

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(in[k]));
  };
  for (; i + 2 < in.size(); i += 3) {
    unsigned n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += {kAlphabet[n >> 18 & 63], kAlphabet[n >> 12 & 63], kAlphabet[n >> 6 & 63],
            kAlphabet[n & 63]};
  }
  if (in.size() - i == 1) {
    unsigned n = byte(i) << 16;
    out += {kAlphabet[n >> 18 & 63], kAlphabet[n >> 12 & 63]};
  } else if (in.size() - i == 2) {
    unsigned n = byte(i) << 16 | byte(i + 1) << 8;
    out += {kAlphabet[n >> 18 & 63], kAlphabet[n >> 12 & 63], kAlphabet[n >> 6 & 63]};
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // stray low bits
  return out;
}

struct KeySet::Impl {
  std::map<std::string, Pkey> keys;
};

KeySet::KeySet() : impl_(std::make_unique<Impl>()) {}
KeySet::~KeySet() = default;
KeySet::KeySet(KeySet&&) noexcept = default;
KeySet& KeySet::operator=(KeySet&&) noexcept = default;
std::size_t KeySet::size() const {
  return impl_->keys.size();
}

std::optional<KeySet> KeySet::from_jwks(std::string_view json, std::string& error) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("keys") || !doc["keys"].IsArray()) {
    error = "the JWKS is not a JSON object with a \"keys\" array";
    return std::nullopt;
  }
  KeySet set;
  for (const auto& k : doc["keys"].GetArray()) {
    if (!k.IsObject() || str(k, "kty") != "RSA") continue;
    if (auto use = str(k, "use"); use && *use != "sig") continue;
    auto kid = str(k, "kid");
    auto n = str(k, "n");
    auto e = str(k, "e");
    std::optional<std::string> n_raw = n ? base64url_decode(*n) : std::nullopt;
    std::optional<std::string> e_raw = e ? base64url_decode(*e) : std::nullopt;
    if (!kid || !n_raw || !e_raw || n_raw->empty() || e_raw->empty()) {
      error = "a JWKS RSA key lacks a kid, or a base64url n or e";
      return std::nullopt;
    }
    Pkey key = rsa_key(*n_raw, *e_raw);
    if (!key) {
      error = "JWKS key " + *kid + " is not a usable RSA public key";
      return std::nullopt;
    }
    if (EVP_PKEY_get_bits(key.get()) < 2048) {
      error = "JWKS key " + *kid + " is shorter than 2048 bits";
      return std::nullopt;
    }
    set.impl_->keys[*kid] = std::move(key);
  }
  if (set.impl_->keys.empty()) {
    error = "the JWKS holds no RSA signing key";
    return std::nullopt;
  }
  return set;
}

Verdict verify(std::string_view jwt, const KeySet& keys, const Expectations& expect) {
  if (jwt.size() > expect.max_token_bytes)
    return fail(Problem::kTooLarge, "the token is " + std::to_string(jwt.size()) +
                                        " bytes, more than " +
                                        std::to_string(expect.max_token_bytes));
  auto dot1 = jwt.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos)
    return fail(Problem::kMalformed, "the token is not a JWS in compact form (three parts)");
  auto header_raw = base64url_decode(jwt.substr(0, dot1));
  auto payload_raw = base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(jwt.substr(dot2 + 1));
  if (!header_raw || !payload_raw || !signature)
    return fail(Problem::kMalformed, "a part of the token is not base64url");
  rapidjson::Document header, payload;
  header.Parse(header_raw->data(), header_raw->size());
  if (header.HasParseError() || !header.IsObject())
    return fail(Problem::kMalformed, "the token's header is not a JSON object");
  auto alg = str(header, "alg");
  if (!alg) return fail(Problem::kMalformed, "the token's header has no alg");
  if (*alg != "RS256")
    return fail(Problem::kAlgorithm, "alg \"" + *alg + "\" is not accepted (RS256 only)");
  if (header.HasMember("crit"))
    return fail(Problem::kMalformed, "the token's header has critical extensions");
  auto kid = str(header, "kid");
  if (!kid) return fail(Problem::kMalformed, "the token's header has no kid");
  auto key = keys.impl().keys.find(*kid);
  if (key == keys.impl().keys.end())
    return fail(Problem::kUnknownKey, "no key " + *kid + " in the authority's JWKS");
  if (!rs256_verify(key->second.get(), jwt.substr(0, dot2), *signature))
    return fail(Problem::kSignature, "the token's signature does not verify");

  payload.Parse(payload_raw->data(), payload_raw->size());
  if (payload.HasParseError() || !payload.IsObject())
    return fail(Problem::kMalformed, "the token's payload is not a JSON object");
  Caller c;
  c.tid = str(payload, "tid").value_or("");
  std::string issuer = expect.issuer;
  if (auto p = issuer.find("{tenantid}"); p != std::string::npos) issuer.replace(p, 10, c.tid);
  auto iss = str(payload, "iss");
  if (!iss || *iss != issuer)
    return fail(Problem::kIssuer, "iss \"" + iss.value_or("") + "\" is not \"" + issuer + "\"");
  std::vector<std::string> auds;
  if (auto a = str(payload, "aud")) {
    auds.push_back(*a);
  } else if (payload.HasMember("aud") && payload["aud"].IsArray()) {
    for (const auto& v : payload["aud"].GetArray())
      if (v.IsString()) auds.emplace_back(v.GetString(), v.GetStringLength());
  }
  bool aud_ok = false;
  for (const auto& a : auds)
    for (const auto& want : expect.audiences) aud_ok = aud_ok || a == want;
  if (!aud_ok)
    return fail(Problem::kAudience, "aud \"" + (auds.empty() ? std::string() : auds.front()) +
                                        "\" is not this resource");
  auto number = [&](const char* k) -> std::optional<std::int64_t> {
    auto it = payload.FindMember(k);
    if (it == payload.MemberEnd() || !it->value.IsNumber()) return std::nullopt;
    return static_cast<std::int64_t>(it->value.GetDouble());
  };
  std::int64_t now = expect.now ? expect.now
                                : std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
  auto exp = number("exp");
  if (!exp) return fail(Problem::kMalformed, "the token has no numeric exp");
  if (now > *exp + expect.leeway_s)
    return fail(Problem::kExpired, "the token expired at " + std::to_string(*exp));
  if (auto nbf = number("nbf"); nbf && now + expect.leeway_s < *nbf)
    return fail(Problem::kNotYetValid, "the token is not valid before " + std::to_string(*nbf));
  c.expires = *exp;
  c.oid = str(payload, "oid").value_or("");
  c.client_id = str(payload, "azp").value_or(str(payload, "appid").value_or(""));
  if (auto scp = str(payload, "scp")) c.scopes = split_spaces(*scp);
  if (payload.HasMember("roles") && payload["roles"].IsArray())
    for (const auto& r : payload["roles"].GetArray())
      if (r.IsString()) c.roles.emplace_back(r.GetString(), r.GetStringLength());
  c.app =
      !payload.HasMember("scp") && (str(payload, "idtyp") == "app" || !payload.HasMember("upn"));
  if (!c.app) c.upn = str(payload, "upn").value_or(str(payload, "preferred_username").value_or(""));
  if (c.app && !expect.allow_app_tokens)
    return fail(Problem::kAppToken, "an app-only token where a user's token is required");
  for (const auto& want : expect.scopes) {
    const auto& have = c.app ? c.roles : c.scopes;
    bool found = false;
    for (const auto& h : have) found = found || h == want;
    if (!found)
      return fail(Problem::kScope,
                  std::string(c.app ? "role" : "scope") + " \"" + want + "\" is not granted");
  }
  if (c.oid.empty()) return fail(Problem::kMalformed, "the token has no oid");
  Verdict v;
  v.caller = std::move(c);
  return v;
}

}  // namespace emulator::token
