// FILETIME <-> UTC, hex entry ids and UTF-16: the edges (epoch, before 1970 and 1601, far
// future, sub-millisecond ticks) and hostile input.
#include <catch2/catch.hpp>

#include <windows.h>

#include <cstring>
#include <limits>

#include "encoding.hpp"

using namespace crmsync;
using namespace crmsync::mapi;

namespace {

std::int64_t ticks_of(const SYSTEMTIME& st) {
  FILETIME ft;
  REQUIRE(SystemTimeToFileTime(&st, &ft));
  return (static_cast<std::int64_t>(ft.dwHighDateTime) << 32) | ft.dwLowDateTime;
}

}  // namespace

TEST_CASE("FILETIME of the Unix epoch and back", "[mapi][filetime]") {
  CHECK(to_filetime(UtcTime{0}).value() == 116'444'736'000'000'000);
  CHECK(from_filetime(116'444'736'000'000'000).value() == UtcTime{0});
  // Windows agrees: SystemTimeToFileTime of 1970-01-01T00:00:00.
  SYSTEMTIME st{1970, 1, 4, 1, 0, 0, 0, 0};
  CHECK(ticks_of(st) == 116'444'736'000'000'000);
}

TEST_CASE("FILETIME agrees with Windows for a modern instant with milliseconds",
          "[mapi][filetime]") {
  SYSTEMTIME st{2025, 3, 6, 1, 8, 30, 15, 123};
  auto t = UtcTime::parse("2025-03-01T08:30:15.123Z").value();
  CHECK(to_filetime(t).value() == ticks_of(st));
  CHECK(from_filetime(ticks_of(st)).value() == t);
}

TEST_CASE("FILETIME before 1970 and at 1601", "[mapi][filetime]") {
  auto t = UtcTime::parse("1969-12-31T23:59:59.999Z").value();
  CHECK(t.ms == -1);
  CHECK(to_filetime(t).value() == 116'444'736'000'000'000 - 10'000);
  CHECK(from_filetime(116'444'736'000'000'000 - 10'000).value() == t);
  SYSTEMTIME st{1900, 1, 1, 1, 0, 0, 0, 0};
  auto t1900 = UtcTime::parse("1900-01-01T00:00:00Z").value();
  CHECK(to_filetime(t1900).value() == ticks_of(st));
  CHECK(from_filetime(0).value().ms == -kFileTimeEpochOffsetMs);
  CHECK(to_filetime(UtcTime{-kFileTimeEpochOffsetMs}).value() == 0);
  auto before = to_filetime(UtcTime{-kFileTimeEpochOffsetMs - 1});
  REQUIRE_FALSE(before.ok());
  CHECK(before.error().is(ErrorKind::kInvalid));
}

TEST_CASE("FILETIME sub-millisecond ticks truncate towards the past", "[mapi][filetime]") {
  const std::int64_t epoch = 116'444'736'000'000'000;
  CHECK(from_filetime(epoch + 9'999).value() == UtcTime{0});
  CHECK(from_filetime(epoch + 10'000).value() == UtcTime{1});
  CHECK(from_filetime(epoch - 1).value() == UtcTime{-1});
  CHECK(from_filetime(epoch - 10'000).value() == UtcTime{-1});
  CHECK(from_filetime(epoch - 10'001).value() == UtcTime{-2});
}

TEST_CASE("FILETIME far future - year 9999 and the end of the range", "[mapi][filetime]") {
  SYSTEMTIME st{9999, 12, 5, 31, 23, 59, 59, 999};
  auto t = UtcTime::parse("9999-12-31T23:59:59.999Z").value();
  CHECK(to_filetime(t).value() == ticks_of(st));
  CHECK(from_filetime(ticks_of(st)).value() == t);
  const std::int64_t max = std::numeric_limits<std::int64_t>::max();
  auto last = from_filetime(max);
  REQUIRE(last.ok());
  CHECK(to_filetime(*last).ok());
  auto past = to_filetime(UtcTime{last->ms + 1});
  REQUIRE_FALSE(past.ok());
  CHECK(past.error().is(ErrorKind::kInvalid));
  CHECK_FALSE(to_filetime(UtcTime{std::numeric_limits<std::int64_t>::max()}).ok());
  CHECK_FALSE(from_filetime(-1).ok());
  CHECK_FALSE(from_filetime(std::numeric_limits<std::int64_t>::min()).ok());
}

TEST_CASE("FILETIME dates are midnight UTC and read back as the nearest midnight",
          "[mapi][filetime]") {
  const Date d{1980, 2, 29};
  const std::int64_t midnight = date_to_filetime(d).value();
  CHECK(from_filetime(midnight).value() == UtcTime::parse("1980-02-29T00:00:00Z").value());
  const std::int64_t hour = 36'000'000'000;
  // Outlook in UTC+12 stores local midnight as 12:00 the day before; UTC-11 as 11:00 the day.
  CHECK(date_from_filetime(midnight - 12 * hour + 1).value() == d);
  CHECK(date_from_filetime(midnight + 11 * hour).value() == d);
  CHECK(date_from_filetime(midnight - 13 * hour).value() == Date{1980, 2, 28});
  CHECK(date_from_filetime(date_to_filetime(Date{1601, 1, 1}).value()).value() == Date{1601, 1, 1});
  CHECK(date_from_filetime(date_to_filetime(Date{1965, 7, 4}).value()).value() == Date{1965, 7, 4});
  CHECK_FALSE(date_to_filetime(Date{1600, 12, 31}).ok());
}

TEST_CASE("entry id hex round-trips every byte", "[mapi][entryid]") {
  Binary all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  Binary first(all.begin(), all.begin() + 200);
  const std::string hex = entry_id_text(first);
  CHECK(hex.size() == 400);
  CHECK(hex.substr(0, 8) == "00010203");
  CHECK(hex.find_first_not_of("0123456789ABCDEF") == std::string::npos);
  CHECK(entry_id_bytes(hex).value() == first);
  CHECK(from_hex("00ff7Fa0", 16).value() == Binary{0x00, 0xFF, 0x7F, 0xA0});
  CHECK(to_hex(Binary{}) == "");
}

TEST_CASE("entry id hex rejects hostile text", "[mapi][entryid]") {
  for (std::string_view bad :
       {std::string_view(""), std::string_view("0"), std::string_view("ABC"),
        std::string_view("0G"), std::string_view("00 1"), std::string_view("0x00"),
        std::string_view("-1"), std::string_view("\xC3\xA9\xC3\xA9"),
        std::string_view("00\0\0", 4)}) {
    INFO("'" << bad << "'");
    auto r = entry_id_bytes(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    CHECK(r.error().message().find("entry id") != std::string::npos);
  }
  // More than EntryId's 400 characters (200 bytes) is refused before any byte is decoded.
  auto longer = entry_id_bytes(std::string(402, 'A'));
  REQUIRE_FALSE(longer.ok());
  CHECK(longer.error().message().find("201 bytes") != std::string::npos);
  CHECK(entry_id_bytes(std::string(1'000'000, 'Z')).error().is(ErrorKind::kInvalid));
}

TEST_CASE("UTF-16 round-trips every plane and refuses what PT_UNICODE cannot carry",
          "[mapi][utf16]") {
  const std::string text = "Zo\xC3\xAB \xE2\x82\xAC \xF0\x9F\x98\x80 \xE4\xB8\xAD";  // Zoë € 😀 中
  auto w = to_utf16(text);
  REQUIRE(w.ok());
  CHECK(*w == u"Zo\u00EB \u20AC \U0001F600 \u4E2D");
  CHECK(to_utf8(*w) == text);
  // Windows agrees on the UTF-16 form.
  wchar_t buf[64];
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text.data(),
                              static_cast<int>(text.size()), buf, 64);
  REQUIRE(n == static_cast<int>(w->size()));
  CHECK(std::memcmp(buf, w->data(), n * sizeof(wchar_t)) == 0);

  CHECK_FALSE(to_utf16("a\xFF").ok());
  CHECK_FALSE(to_utf16("\xC0\xAF").ok());              // overlong '/'
  CHECK_FALSE(to_utf16("\xED\xA0\x80").ok());          // a surrogate in UTF-8
  CHECK_FALSE(to_utf16(std::string("a\0b", 3)).ok());  // NUL ends a PT_UNICODE string
  CHECK(to_utf16("").value().empty());
  // A lone surrogate from a corrupt store string is replaced, not passed on.
  std::u16string lone = u"a";
  lone += static_cast<char16_t>(0xD800);
  lone += u"b";
  CHECK(to_utf8(lone) ==
        "a\xEF\xBF\xBD"
        "b");
}
