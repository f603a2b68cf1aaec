#include "encoding.hpp"

#include <limits>

#include "crmsync/model/ids.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync::mapi {
namespace {

constexpr std::int64_t kMsPerDay = 86'400'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::int64_t> to_filetime(UtcTime t) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / kFileTimeTicksPerMs;
  if (t.ms < -kFileTimeEpochOffsetMs)
    return Error::Invalid("time " + std::to_string(t.ms) + " ms is before 1601 (no FILETIME)");
  if (t.ms > kMax - kFileTimeEpochOffsetMs)
    return Error::Invalid("time " + std::to_string(t.ms) + " ms is past FILETIME's range");
  return (t.ms + kFileTimeEpochOffsetMs) * kFileTimeTicksPerMs;
}

Result<UtcTime> from_filetime(std::int64_t ticks) {
  if (ticks < 0) return Error::Invalid("negative FILETIME " + std::to_string(ticks));
  return UtcTime{ticks / kFileTimeTicksPerMs - kFileTimeEpochOffsetMs};
}

Result<std::int64_t> date_to_filetime(Date d) {
  return to_filetime(UtcTime{d.days_since_epoch() * kMsPerDay});
}

Result<Date> date_from_filetime(std::int64_t ticks) {
  auto t = from_filetime(ticks);
  if (!t) return t.error();
  return Date::from_days_since_epoch(floor_div(t->ms + kMsPerDay / 2, kMsPerDay));
}

std::string to_hex(const Binary& bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 15];
  }
  return out;
}

Result<Binary> from_hex(std::string_view hex, std::size_t max_bytes) {
  if (hex.empty()) return Error::Invalid("empty hex id");
  if (hex.size() % 2 != 0)
    return Error::Invalid("hex id of odd length " + std::to_string(hex.size()));
  if (hex.size() / 2 > max_bytes)
    return Error::Invalid("hex id of " + std::to_string(hex.size() / 2) + " bytes (at most " +
                          std::to_string(max_bytes) + ")");
  Binary out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return Error::Invalid("hex id with a non-hex character at " + std::to_string(2 * i));
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string entry_id_text(const Binary& bytes) {
  return to_hex(bytes);
}

Result<Binary> entry_id_bytes(std::string_view text) {
  auto b = from_hex(text, EntryId::kMaxLength / 2);
  if (!b) return b.error().context("entry id");
  return b;
}

Result<std::u16string> to_utf16(std::string_view s) {
  if (!is_valid_utf8(s)) return Error::Invalid("text is not valid UTF-8");
  std::u16string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    std::size_t n;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if (c < 0xE0) {
      cp = c & 0x1F;
      n = 2;
    } else if (c < 0xF0) {
      cp = c & 0x0F;
      n = 3;
    } else {
      cp = c & 0x07;
      n = 4;
    }
    for (std::size_t k = 1; k < n; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    i += n;
    if (cp == 0) return Error::Invalid("text with a NUL character (PT_UNICODE cannot carry it)");
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xD800 + (cp >> 10));
      out += static_cast<char16_t>(0xDC00 + (cp & 0x3FF));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

std::string to_utf8(std::u16string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char32_t cp = s[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < s.size() && s[i + 1] >= 0xDC00 &&
        s[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    append_utf8(out, cp);
  }
  return out;
}

}  // namespace crmsync::mapi
