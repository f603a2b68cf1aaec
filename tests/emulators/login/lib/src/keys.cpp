#include "keys.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <stdexcept>
#include <vector>

#include "emulator/token_check.hpp"

namespace login_emulator {

using emulator::token::base64url_encode;

namespace {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return out;
}

std::string bn_bytes(EVP_PKEY* key, const char* param) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &bn) != 1) throw std::runtime_error("no RSA parameter");
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

std::string sha256(const std::string& in) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(in.data(), in.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string guid_from(std::string b) {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    auto c = static_cast<unsigned char>(b[i]);
    s += hex[c >> 4];
    s += hex[c & 15];
  }
  return s;
}

}  // namespace

struct SigningKey::Impl {
  EVP_PKEY* key = nullptr;
  ~Impl() { EVP_PKEY_free(key); }
};

SigningKey::SigningKey(const std::string& pem) : impl_(std::make_unique<Impl>()) {
  if (pem.empty()) {
    impl_->key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    if (!impl_->key) throw std::runtime_error("cannot generate an RSA key");
    BIO* bio = BIO_new(BIO_s_mem());
    if (!bio ||
        PEM_write_bio_PrivateKey(bio, impl_->key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      BIO_free(bio);
      throw std::runtime_error("cannot write the RSA key");
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    pem_.assign(data, static_cast<std::size_t>(len));
    BIO_free(bio);
  } else {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    impl_->key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
    BIO_free(bio);
    if (!impl_->key || EVP_PKEY_get_base_id(impl_->key) != EVP_PKEY_RSA)
      throw std::runtime_error("the stored signing key is not an RSA private key");
    pem_ = pem;
  }
  n_ = base64url_encode(bn_bytes(impl_->key, OSSL_PKEY_PARAM_RSA_N));
  e_ = base64url_encode(bn_bytes(impl_->key, OSSL_PKEY_PARAM_RSA_E));
  // RFC 7638: the required members in lexicographic order, no whitespace.
  kid_ = base64url_encode(sha256("{\"e\":\"" + e_ + "\",\"kty\":\"RSA\",\"n\":\"" + n_ + "\"}"));
}

SigningKey::~SigningKey() = default;

std::string SigningKey::jwk_json() const {
  return "{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"" + kid_ + "\",\"n\":\"" + n_ + "\",\"e\":\"" +
         e_ + "\",\"alg\":\"RS256\"}";
}

std::string SigningKey::sign_jwt(const std::string& claims_json) const {
  std::string input =
      base64url_encode("{\"typ\":\"JWT\",\"alg\":\"RS256\",\"kid\":\"" + kid_ + "\"}") + "." +
      base64url_encode(claims_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  std::vector<unsigned char> sig;
  bool ok = ctx && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, impl_->key) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                           input.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(input.data()),
                        input.size()) == 1;
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("RS256 signing failed");
  return input + "." + base64url_encode(std::string(reinterpret_cast<char*>(sig.data()), len));
}

std::string random_token(std::size_t bytes) {
  return base64url_encode(random_bytes(bytes));
}

std::string random_guid() {
  std::string b = random_bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  return guid_from(b);
}

std::string random_user_code() {
  static const char* alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // 32 characters
  std::string b = random_bytes(9), out;
  for (char c : b) out += alphabet[static_cast<unsigned char>(c) & 31];
  return out;
}

std::string pairwise_subject(const std::string& seed) {
  return base64url_encode(sha256(seed));
}

}  // namespace login_emulator
