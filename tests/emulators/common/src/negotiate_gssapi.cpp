// The acceptor over MIT GSSAPI: no acceptor credential (gss-ntlmssp needs none for NTLM; it
// looks the user up in NTLM_USER_FILE at each AUTHENTICATE message).
#include <gssapi/gssapi.h>

#include "emulator/negotiate.hpp"

namespace emulator {
namespace {

gss_OID_desc kNtlm = {10, const_cast<char*>("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a")};

std::string describe(OM_uint32 major, OM_uint32 minor) {
  std::string out;
  for (int type : {GSS_C_GSS_CODE, GSS_C_MECH_CODE}) {
    OM_uint32 more = 0, m = 0;
    do {
      gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
      if (GSS_ERROR(gss_display_status(&m, type == GSS_C_GSS_CODE ? major : minor, type,
                                       GSS_C_NO_OID, &more, &b)))
        break;
      out += std::string(static_cast<char*>(b.value), b.length) + "; ";
      gss_release_buffer(&m, &b);
    } while (more);
  }
  return out;
}

}  // namespace

std::string negotiate_unavailable() {
  OM_uint32 minor = 0;
  gss_OID_set mechs = GSS_C_NO_OID_SET;
  if (GSS_ERROR(gss_indicate_mechs(&minor, &mechs))) return "GSSAPI lists no mechanisms";
  bool found = false;
  for (size_t i = 0; i < mechs->count; ++i) {
    const auto& m = mechs->elements[i];
    found = found || (m.length == kNtlm.length &&
                      std::string(static_cast<char*>(m.elements), m.length) ==
                          std::string(static_cast<char*>(kNtlm.elements), kNtlm.length));
  }
  gss_release_oid_set(&minor, &mechs);
  return found ? "" : "the NTLMSSP GSSAPI mechanism is not installed (Debian package gss-ntlmssp)";
}

struct Acceptor::Impl {
  gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
  ~Impl() {
    OM_uint32 minor = 0;
    if (ctx != GSS_C_NO_CONTEXT) gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
  }
};

Acceptor::Acceptor() : impl_(std::make_unique<Impl>()) {}
Acceptor::~Acceptor() = default;

Acceptor::Step Acceptor::step(const std::string& client_token) {
  Step s;
  OM_uint32 minor = 0, ignored = 0;
  gss_buffer_desc in{client_token.size(), const_cast<char*>(client_token.data())};
  gss_buffer_desc out = GSS_C_EMPTY_BUFFER;
  gss_name_t src = GSS_C_NO_NAME;
  OM_uint32 major = gss_accept_sec_context(&minor, &impl_->ctx, GSS_C_NO_CREDENTIAL, &in,
                                           GSS_C_NO_CHANNEL_BINDINGS, &src, nullptr, &out, nullptr,
                                           nullptr, nullptr);
  s.token.assign(static_cast<char*>(out.value), out.length);
  gss_release_buffer(&ignored, &out);
  if (GSS_ERROR(major)) {
    s.error = describe(major, minor);
    if (src != GSS_C_NO_NAME) gss_release_name(&ignored, &src);
    return s;
  }
  if (major & GSS_S_CONTINUE_NEEDED) {
    s.state = Step::kContinue;
  } else {
    s.state = Step::kComplete;
    gss_buffer_desc name = GSS_C_EMPTY_BUFFER;
    if (!GSS_ERROR(gss_display_name(&minor, src, &name, nullptr))) {
      s.name.assign(static_cast<char*>(name.value), name.length);
      gss_release_buffer(&ignored, &name);
      while (!s.name.empty() && s.name.back() == '\0') s.name.pop_back();  // gss-ntlmssp counts it
    }
  }
  if (src != GSS_C_NO_NAME) gss_release_name(&ignored, &src);
  return s;
}

}  // namespace emulator
