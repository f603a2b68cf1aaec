// NTLM through GSSAPI (MIT krb5's mechglue with the gss-ntlmssp plugin): the credentials come
// from gss_acquire_cred_with_password, so no credential cache or NTLM_USER_FILE is needed on
// the client side. Tokens and passwords are never put into messages.
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "crmsync/http/auth.hpp"
#include "crmsync/http/credentials.hpp"

namespace crmsync::http {
namespace {

// 1.3.6.1.4.1.311.2.2.10 (NTLMSSP) and 1.3.6.1.5.5.2 (SPNEGO), DER-encoded.
gss_OID_desc kNtlmOid = {10, const_cast<char*>("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a")};
gss_OID_desc kSpnegoOid = {6, const_cast<char*>("\x2b\x06\x01\x05\x05\x02")};

std::string status_text(OM_uint32 code, int type, gss_OID mech) {
  std::string out;
  OM_uint32 more = 0, minor = 0;
  do {
    gss_buffer_desc buf = GSS_C_EMPTY_BUFFER;
    if (GSS_ERROR(gss_display_status(&minor, code, type, mech, &more, &buf))) break;
    if (!out.empty()) out += "; ";
    out.append(static_cast<const char*>(buf.value), buf.length);
    gss_release_buffer(&minor, &buf);
  } while (more != 0);
  return out;
}

std::string gss_text(OM_uint32 major, OM_uint32 minor, gss_OID mech) {
  std::string s = status_text(major, GSS_C_GSS_CODE, GSS_C_NO_OID);
  if (minor != 0) s += " (" + status_text(minor, GSS_C_MECH_CODE, mech) + ")";
  return s;
}

bool same_oid(const gss_OID_desc& a, const gss_OID_desc& b) {
  return a.length == b.length && std::equal(static_cast<const char*>(a.elements),
                                            static_cast<const char*>(a.elements) + a.length,
                                            static_cast<const char*>(b.elements));
}

bool has_scheme(const std::vector<std::string>& offered, std::string_view want) {
  return std::any_of(offered.begin(), offered.end(), [&](const std::string& s) {
    return s.size() == want.size() &&
           std::equal(s.begin(), s.end(), want.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
}

// A credential (user name and password, held by the mechanism) that several handshakes use.
struct Credential {
  gss_cred_id_t handle = GSS_C_NO_CREDENTIAL;
  ~Credential() {
    OM_uint32 minor = 0;
    if (handle != GSS_C_NO_CREDENTIAL) gss_release_cred(&minor, &handle);
  }
};

Result<std::shared_ptr<Credential>> acquire(gss_OID mech, const std::string& username,
                                            const std::string& password) {
  OM_uint32 minor = 0;
  gss_buffer_desc user_buf{username.size(), const_cast<char*>(username.data())};
  gss_name_t user = GSS_C_NO_NAME;
  OM_uint32 major = gss_import_name(&minor, &user_buf, GSS_C_NT_USER_NAME, &user);
  if (GSS_ERROR(major))
    return Error::Invalid("NTLM user name is not usable: " + gss_text(major, minor, mech));
  auto cred = std::make_shared<Credential>();
  gss_OID_set_desc mechs{1, mech};
  gss_buffer_desc pw{password.size(), const_cast<char*>(password.data())};
  major = gss_acquire_cred_with_password(&minor, user, &pw, GSS_C_INDEFINITE, &mechs,
                                         GSS_C_INITIATE, &cred->handle, nullptr, nullptr);
  gss_release_name(&minor, &user);
  if (GSS_ERROR(major))
    return Error::Invalid("cannot set up NTLM credentials: " + gss_text(major, minor, mech));
  if (mech == &kSpnegoOid) {
    // SPNEGO would otherwise also try Kerberos, which needs a KDC this client does not use.
    gss_OID_set_desc only_ntlm{1, &kNtlmOid};
    major = gss_set_neg_mechs(&minor, cred->handle, &only_ntlm);
    if (GSS_ERROR(major))
      return Error::Invalid("cannot limit SPNEGO to NTLM: " + gss_text(major, minor, mech));
  }
  return cred;
}

class GssHandshake final : public Handshake {
 public:
  GssHandshake(std::string scheme, gss_OID mech, std::shared_ptr<Credential> cred)
      : scheme_(std::move(scheme)), mech_(mech), cred_(std::move(cred)) {}
  ~GssHandshake() override {
    OM_uint32 minor = 0;
    if (ctx_ != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &ctx_, GSS_C_NO_BUFFER);
    if (target_ != GSS_C_NO_NAME) gss_release_name(&minor, &target_);
  }

  Result<void> init(const std::string& host) {
    OM_uint32 minor = 0;
    const std::string service = "HTTP@" + host;
    gss_buffer_desc svc{service.size(), const_cast<char*>(service.data())};
    OM_uint32 major = gss_import_name(&minor, &svc, GSS_C_NT_HOSTBASED_SERVICE, &target_);
    if (GSS_ERROR(major))
      return Error::Invalid("bad service name " + service + ": " + gss_text(major, minor, mech_));
    return Ok();
  }

  std::string scheme() const override { return scheme_; }

  Result<std::string> step(const std::string& server_token) override {
    if (complete_) return std::string();
    OM_uint32 minor = 0;
    gss_buffer_desc in{server_token.size(), const_cast<char*>(server_token.data())};
    gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
    OM_uint32 major = gss_init_sec_context(&minor, cred_->handle, &ctx_, target_, mech_, 0,
                                           GSS_C_INDEFINITE, GSS_C_NO_CHANNEL_BINDINGS,
                                           server_token.empty() ? GSS_C_NO_BUFFER : &in, nullptr,
                                           &out, nullptr, nullptr);
    std::string token(static_cast<const char*>(out.value), out.length);
    OM_uint32 ignored = 0;
    gss_release_buffer(&ignored, &out);
    if (GSS_ERROR(major)) {
      const std::string why = gss_text(major, minor, mech_);
      if (server_token.empty())
        return Error::Invalid("cannot start the " + scheme_ + " handshake: " + why);
      return Error::Invalid("cannot answer the server's " + scheme_ + " challenge: " + why);
    }
    complete_ = major == GSS_S_COMPLETE;
    return token;
  }

 private:
  std::string scheme_;
  gss_OID mech_;
  std::shared_ptr<Credential> cred_;
  gss_ctx_id_t ctx_ = GSS_C_NO_CONTEXT;
  gss_name_t target_ = GSS_C_NO_NAME;
  bool complete_ = false;
};

class GssAuthenticator final : public Authenticator {
 public:
  explicit GssAuthenticator(NegotiateOptions o) : options_(std::move(o)) {}

  bool accepts(const std::vector<std::string>& offered) const override {
    return has_scheme(offered, "Negotiate") || has_scheme(offered, "NTLM");
  }

  Result<std::unique_ptr<Handshake>> begin(const std::string& host,
                                           const std::vector<std::string>& offered) override {
    if (auto ok = negotiate_available(); !ok) return ok.error();
    auto password = read_password();
    if (!password) return password.error();
    // Negotiate first, as the server lists it (SPNEGO carrying NTLMSSP); bare NTLM otherwise.
    const bool spnego = has_scheme(offered, "Negotiate");
    gss_OID mech = spnego ? &kSpnegoOid : &kNtlmOid;
    auto cred = credential(mech, *password);
    if (!cred) return cred.error();
    auto hs = std::make_unique<GssHandshake>(spnego ? "Negotiate" : "NTLM", mech, *cred);
    if (auto r = hs->init(host); !r) return r.error();
    return std::unique_ptr<Handshake>(std::move(hs));
  }

 private:
  Result<std::string> read_password() const {
    return read_secret_file(options_.password_file, "NTLM password");
  }

  // The credential for `mech`, acquired again only when the password changed: gss-ntlmssp
  // 1.2.0 leaks about 6 KiB per gss_acquire_cred_with_password (an EVP_MD it fetches and never
  // frees; seen with ASan), which a daemon opening connections for months would feel.
  Result<std::shared_ptr<Credential>> credential(gss_OID mech, const std::string& password) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    if (EVP_Digest(password.data(), password.size(), digest, &size, EVP_sha256(), nullptr) != 1)
      return Error::Internal("SHA-256 failed");
    std::string key(reinterpret_cast<const char*>(digest), size);  // no plaintext kept
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = mech == &kSpnegoOid ? spnego_ : ntlm_;
    if (slot.cred && slot.password_sha256 == key) return slot.cred;
    auto cred = acquire(mech, options_.username, password);
    if (!cred) return cred.error();
    slot = {key, *cred};
    return *cred;
  }

  struct Slot {
    std::string password_sha256;
    std::shared_ptr<Credential> cred;
  };
  NegotiateOptions options_;
  std::mutex mu_;  // several Clients may share this authenticator
  Slot ntlm_, spnego_;
};

}  // namespace

Result<void> negotiate_available() {
  OM_uint32 minor = 0;
  gss_OID_set mechs = GSS_C_NO_OID_SET;
  OM_uint32 major = gss_indicate_mechs(&minor, &mechs);
  if (GSS_ERROR(major))
    return Error::Invalid("GSSAPI lists no mechanisms: " + gss_text(major, minor, GSS_C_NO_OID));
  bool found = false;
  for (std::size_t i = 0; i < mechs->count; ++i)
    found = found || same_oid(mechs->elements[i], kNtlmOid);
  gss_release_oid_set(&minor, &mechs);
  if (!found)
    return Error::Invalid(
        "NTLM needs the GSSAPI NTLMSSP mechanism (1.3.6.1.4.1.311.2.2.10), which is not "
        "installed: install the Debian package gss-ntlmssp");
  return Ok();
}

Result<std::shared_ptr<Authenticator>> make_negotiate_authenticator(NegotiateOptions options) {
  if (options.username.empty()) return Error::Invalid("NTLM needs a user name");
  if (options.password_file.empty()) return Error::Invalid("NTLM needs a password file");
  return std::shared_ptr<Authenticator>(std::make_shared<GssAuthenticator>(std::move(options)));
}

}  // namespace crmsync::http
