#include "session.hpp"

#include "encoding.hpp"
#include "errors.hpp"

namespace crmsync::mapi {
namespace {

std::string last_error_text() {
  return "Windows error " + std::to_string(GetLastError());
}

template <class F>
bool resolve(HMODULE m, const char* name, F& out) {
  out = reinterpret_cast<F>(reinterpret_cast<void*>(GetProcAddress(m, name)));
  return out != nullptr;
}

HRESULT initialize(const Api& api, bool windows_service) {
  MAPIINIT_0 init{MAPI_INIT_VERSION,
                  MAPI_MULTITHREAD_NOTIFICATIONS | (windows_service ? MAPI_NT_SERVICE : 0UL)};
  return api.initialize(&init);
}

}  // namespace

Api::~Api() {
  if (module) FreeLibrary(module);
}

Result<std::shared_ptr<Api>> load_api(const std::string& library) {
  auto wide = to_utf16(library);
  if (!wide) return wide.error().context("store.library");
  auto api = std::make_shared<Api>();
  api->module = LoadLibraryW(reinterpret_cast<const wchar_t*>(wide->c_str()));
  if (!api->module) return library_missing(library, "cannot load it: " + last_error_text());
  for (auto [name, ok] :
       {std::pair{"MAPIInitialize", resolve(api->module, "MAPIInitialize", api->initialize)},
        std::pair{"MAPIUninitialize", resolve(api->module, "MAPIUninitialize", api->uninitialize)},
        std::pair{"MAPILogonEx", resolve(api->module, "MAPILogonEx", api->logon)},
        std::pair{"MAPIFreeBuffer", resolve(api->module, "MAPIFreeBuffer", api->free_buffer)},
        std::pair{"MAPIAllocateBuffer",
                  resolve(api->module, "MAPIAllocateBuffer", api->allocate_buffer)},
        std::pair{"MAPIAllocateMore",
                  resolve(api->module, "MAPIAllocateMore", api->allocate_more)}})
    if (!ok) return library_missing(library, std::string("it has no ") + name);
  return api;
}

Rows::~Rows() {
  if (!p_) return;
  for (ULONG i = 0; i < p_->cRows; ++i) api_->free_buffer(p_->aRow[i].lpProps);
  api_->free_buffer(p_);
}

Result<std::unique_ptr<Session>> Session::logon(const MapiStoreConfig& config) {
  if (config.profile.empty())
    return Error::Invalid("store.profile: name the MAPI profile (Control Panel > Mail)");
  auto profile = to_utf16(config.profile);
  if (!profile) return profile.error().context("store.profile");
  auto api = load_api(config.library);
  if (!api) return api.error();
  std::unique_ptr<Session> s(new Session(std::move(*api)));
  s->windows_service_ = config.windows_service;
  if (HRESULT h = initialize(*s->api_, s->windows_service_); FAILED(h))
    return initialize_failed(static_cast<std::uint32_t>(h));
  s->initialized_ = 1;
  s->opening_thread_ = GetCurrentThreadId();
  // No UI ever (a service has no desktop): an explicit profile, no dialog, no mail spooler.
  const ULONG flags = MAPI_EXTENDED | MAPI_UNICODE | MAPI_NEW_SESSION | MAPI_EXPLICIT_PROFILE |
                      MAPI_NO_MAIL | (config.windows_service ? MAPI_NT_SERVICE : 0UL);
  std::u16string name = std::move(*profile);
  if (HRESULT h = s->api_->logon(0, reinterpret_cast<LPTSTR>(name.data()), nullptr, flags,
                                 s->session_.out());
      FAILED(h) || !s->session_)
    return logon_failed(static_cast<std::uint32_t>(FAILED(h) ? h : hr::kLogonFailed),
                        config.profile);
  return s;
}

Result<void> Session::enter_thread() {
  const DWORD me = GetCurrentThreadId();
  if (me == opening_thread_ || me == extra_thread_) return Ok();
  if (extra_thread_ != 0)
    return Error::Internal("the MAPI store is used from a third thread (one worker only)");
  if (HRESULT h = initialize(*api_, windows_service_); FAILED(h))
    return initialize_failed(static_cast<std::uint32_t>(h));
  extra_thread_ = me;
  ++initialized_;
  return Ok();
}

Session::~Session() {
  if (session_) session_->Logoff(0, 0, 0);
  session_.reset();
  // MAPIUninitialize balances each MAPIInitialize (the last one unloads the providers).
  for (; initialized_ > 0; --initialized_) api_->uninitialize();
}

}  // namespace crmsync::mapi
