// Moving property values in and out of MAPI's structures (internal to store_mapi, Windows
// only): SPropValue <-> PropValue, property arrays with the memory their pointers point to, tag
// arrays of any length, FILETIME and SBinary.
#pragma once

#include <list>
#include <vector>

#include "fields.hpp"
#include "session.hpp"

namespace crmsync::mapi {

// Not in the mingw-w64 headers: DeleteMessages' flag ([MS-OXCFOLD], mapidefs.h of the
// Outlook MAPI SDK: DELETE_HARD_DELETE 0x00000010) and CopyMessages' move flag (MESSAGE_MOVE
// 0x00000001).
constexpr ULONG kDeleteHardDelete = 0x00000010;
constexpr ULONG kMessageMove = 0x00000001;
// Rows per QueryRows.
constexpr ULONG kBatch = 100;

Binary binary_of(const SBinary& b);
SBinary sbinary(const Binary& b);
std::int64_t ticks_of(const FILETIME& ft);
FILETIME filetime_of(std::int64_t ticks);
std::u16string u16(const wchar_t* s);
// A property value from MAPI (monostate for PT_ERROR and types the adapter does not use).
PropValue from_spv(const SPropValue& v);

// SPropValues for SetProps, with the memory their pointers point to.
class PropArray {
 public:
  void add(ULONG tag, const PropValue& v);
  ULONG size() const { return static_cast<ULONG>(values_.size()); }
  SPropValue* data() { return values_.data(); }

 private:
  LPWSTR wide(const std::u16string& s) {
    return reinterpret_cast<LPWSTR>(strings_.emplace_back(s).data());
  }
  std::vector<SPropValue> values_;
  std::list<std::u16string> strings_;  // lists: stable addresses
  std::list<std::vector<LPWSTR>> lists_;
  std::list<Binary> binaries_;
};

// A property tag array of any length (SPropTagArray is declared with one element).
class TagArray {
 public:
  explicit TagArray(const std::vector<ULONG>& tags) : raw_(tags.size() + 1) {
    raw_[0] = static_cast<ULONG>(tags.size());
    std::copy(tags.begin(), tags.end(), raw_.begin() + 1);
  }
  SPropTagArray* get() { return reinterpret_cast<SPropTagArray*>(raw_.data()); }

 private:
  std::vector<ULONG> raw_;
};

// A restriction "property relop value" (RES_PROPERTY) over `value`, which must outlive it.
SRestriction property_restriction(ULONG relop, SPropValue& value);

}  // namespace crmsync::mapi
