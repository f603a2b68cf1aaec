#include "message_io.hpp"

#include <type_traits>

namespace crmsync::mapi {

Binary binary_of(const SBinary& b) {
  return Binary(b.lpb, b.lpb + b.cb);
}

SBinary sbinary(const Binary& b) {
  return SBinary{static_cast<ULONG>(b.size()), const_cast<LPBYTE>(b.data())};
}

std::int64_t ticks_of(const FILETIME& ft) {
  return static_cast<std::int64_t>((static_cast<std::uint64_t>(ft.dwHighDateTime) << 32) |
                                   ft.dwLowDateTime);
}

FILETIME filetime_of(std::int64_t ticks) {
  const auto u = static_cast<std::uint64_t>(ticks);
  return FILETIME{static_cast<DWORD>(u & 0xFFFFFFFF), static_cast<DWORD>(u >> 32)};
}

std::u16string u16(const wchar_t* s) {
  return s ? std::u16string(reinterpret_cast<const char16_t*>(s)) : std::u16string();
}

// A property value from MAPI (monostate for PT_ERROR and types the adapter does not use).
PropValue from_spv(const SPropValue& v) {
  switch (PROP_TYPE(v.ulPropTag)) {
    case PT_LONG:
      return static_cast<std::int32_t>(v.Value.l);
    case PT_BOOLEAN:
      return v.Value.b != 0;
    case PT_DOUBLE:
      return v.Value.dbl;
    case PT_SYSTIME:
      return FileTime{ticks_of(v.Value.ft)};
    case PT_UNICODE:
      return u16(v.Value.lpszW);
    case PT_MV_UNICODE: {
      std::vector<std::u16string> out;
      for (ULONG i = 0; i < v.Value.MVszW.cValues; ++i) out.push_back(u16(v.Value.MVszW.lppszW[i]));
      return out;
    }
    case PT_BINARY:
      return binary_of(v.Value.bin);
  }
  return {};
}

void PropArray::add(ULONG tag, const PropValue& v) {
  SPropValue s{};
  s.ulPropTag = tag;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::int32_t>) {
          s.Value.l = x;
        } else if constexpr (std::is_same_v<T, bool>) {
          s.Value.b = x ? 1 : 0;
        } else if constexpr (std::is_same_v<T, double>) {
          s.Value.dbl = x;
        } else if constexpr (std::is_same_v<T, FileTime>) {
          s.Value.ft = filetime_of(x.ticks);
        } else if constexpr (std::is_same_v<T, std::u16string>) {
          s.Value.lpszW = wide(x);
        } else if constexpr (std::is_same_v<T, std::vector<std::u16string>>) {
          auto& ptrs = lists_.emplace_back();
          for (const auto& e : x) ptrs.push_back(wide(e));
          s.Value.MVszW.cValues = static_cast<ULONG>(ptrs.size());
          s.Value.MVszW.lppszW = ptrs.data();
        } else if constexpr (std::is_same_v<T, Binary>) {
          s.Value.bin = sbinary(binaries_.emplace_back(x));
        }
      },
      v);
  values_.push_back(s);
}

SRestriction property_restriction(ULONG relop, SPropValue& value) {
  SRestriction r{};
  r.rt = RES_PROPERTY;
  r.res.resProperty.relop = relop;
  r.res.resProperty.ulPropTag = value.ulPropTag;
  r.res.resProperty.lpProp = &value;
  return r;
}

}  // namespace crmsync::mapi
