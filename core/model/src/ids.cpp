#include "crmsync/model/ids.hpp"

#include <array>
#include <random>

namespace crmsync {

Result<CrmId> CrmId::parse(std::string_view text) {
  std::string_view s = text;
  if (s.size() == 38 && s.front() == '{' && s.back() == '}') s = s.substr(1, 36);
  if (s.size() != 36)
    return Error::Invalid("not a GUID: '" + std::string(text.substr(0, 64)) + "'");
  std::string out(36, '-');
  for (std::size_t i = 0; i < 36; ++i) {
    char c = s[i];
    bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_pos) {
      if (c != '-') return Error::Invalid("not a GUID: '" + std::string(text) + "'");
      continue;
    }
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return Error::Invalid("not a GUID: '" + std::string(text) + "'");
    out[i] = c;
  }
  return CrmId(std::move(out));
}

CrmId CrmId::generate() {
  // One generator per thread, seeded from the OS once: ids must not repeat across
  // processes (roaming clients create concurrently), so no fixed seed.
  thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }()};
  std::array<unsigned char, 16> b{};
  for (std::size_t i = 0; i < 16; i += 8) {
    std::uint64_t r = rng();
    for (std::size_t j = 0; j < 8; ++j) b[i + j] = static_cast<unsigned char>(r >> (8 * j));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 15];
  }
  return CrmId(std::move(s));
}

}  // namespace crmsync
