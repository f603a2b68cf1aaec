// The live MAPI plumbing (Windows only): MAPI loaded at run time, MAPIInitialize and
// MAPILogonEx undone in reverse order, COM references and MAPI memory released by RAII.
#pragma once

#include <windows.h>

#include <mapidefs.h>
#include <mapix.h>

#include <memory>
#include <string>
#include <utility>

#include "crmsync/model/result.hpp"
#include "crmsync/store_mapi/mapi_store.hpp"

namespace crmsync::mapi {

static_assert(sizeof(wchar_t) == sizeof(char16_t), "PT_UNICODE is UTF-16 on Windows");

// A COM reference: Release() on destruction.
template <class T>
class Com {
 public:
  Com() = default;
  explicit Com(T* p) : p_(p) {}
  Com(const Com&) = delete;
  Com& operator=(const Com&) = delete;
  Com(Com&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Com& operator=(Com&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~Com() { reset(); }
  void reset() {
    if (p_) p_->Release();
    p_ = nullptr;
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  // For out-parameters of MAPI calls.
  T** out() {
    reset();
    return &p_;
  }

 private:
  T* p_ = nullptr;
};

// The entry points of the MAPI DLL.
struct Api {
  HMODULE module = nullptr;
  LPMAPIINITIALIZE initialize = nullptr;
  LPMAPIUNINITIALIZE uninitialize = nullptr;
  LPMAPILOGONEX logon = nullptr;
  LPMAPIFREEBUFFER free_buffer = nullptr;
  LPMAPIALLOCATEBUFFER allocate_buffer = nullptr;
  LPMAPIALLOCATEMORE allocate_more = nullptr;
  ~Api();
};

// Loads `library` and resolves the entry points; kPermission naming what is missing.
Result<std::shared_ptr<Api>> load_api(const std::string& library);

// Memory MAPI allocated for the caller (MAPIFreeBuffer).
template <class T>
class MapiBuffer {
 public:
  explicit MapiBuffer(const Api& api) : api_(&api) {}
  MapiBuffer(const MapiBuffer&) = delete;
  MapiBuffer& operator=(const MapiBuffer&) = delete;
  ~MapiBuffer() {
    if (p_) api_->free_buffer(p_);
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T** out() { return &p_; }

 private:
  const Api* api_;
  T* p_ = nullptr;
};

// A row set from IMAPITable::QueryRows (FreeProws: each row's props, then the set).
class Rows {
 public:
  explicit Rows(const Api& api) : api_(&api) {}
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  ~Rows();
  SRowSet* get() const { return p_; }
  SRowSet** out() { return &p_; }
  ULONG size() const { return p_ ? p_->cRows : 0; }
  const SRow& operator[](ULONG i) const { return p_->aRow[i]; }

 private:
  const Api* api_;
  SRowSet* p_ = nullptr;
};

// MAPIInitialize (multithreaded notifications) and a logon to one profile, without UI.
class Session {
 public:
  static Result<std::unique_ptr<Session>> logon(const MapiStoreConfig& config);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();

  IMAPISession* get() const { return session_.get(); }
  const Api& api() const { return *api_; }
  // MAPI wants MAPIInitialize on every thread that calls it: the sync worker may not be the
  // thread that opened the store. Idempotent per thread.
  Result<void> enter_thread();

 private:
  explicit Session(std::shared_ptr<Api> api) : api_(std::move(api)) {}
  std::shared_ptr<Api> api_;
  DWORD opening_thread_ = 0;
  DWORD extra_thread_ = 0;
  int initialized_ = 0;           // MAPIInitialize calls to undo
  bool windows_service_ = false;  // MAPI_NT_SERVICE on every MAPIInitialize
  Com<IMAPISession> session_;
};

}  // namespace crmsync::mapi
