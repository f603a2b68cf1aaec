#include <catch2/catch.hpp>

#include "crmsync/core/original_state.hpp"

using namespace crmsync;

namespace {
FieldMap sample() {
  return FieldMap{
      {"Body", Value{std::string("line 1\nline 2\ttab & <tags> \"q\" 'a'")}},
      {"FirstName", Value{std::string("Zoë 東京 🙂")}},
      {"Padded", Value{std::string("  spaces around  ")}},
      {"Control", Value{std::string("cr\r\nbell\x07")}},
      {"Count", Value{std::int64_t{-42}}},
      {"Flag", Value{true}},
      {"When", Value{UtcTime{1740816000123}}},
      {"Birthday", Value{Date{1980, 2, 29}}},
      {"Regarding", Value{EntityRef{"account", CrmId::generate(), "Contoso & Co"}}},
      {"To", Value{PartyList{{"a@x.org", "A", std::nullopt},
                             {"", "", EntityRef{"contact", CrmId::generate(), ""}}}}},
      {"Cleared", Value{}},
  };
}
}  // namespace

TEST_CASE("C2: the original state round-trips exactly") {
  FieldMap f = sample();
  std::string xml = serialize_fields(f);
  auto back = parse_fields(xml);
  REQUIRE(back.ok());
  CHECK(*back == f);
}

TEST_CASE("C2: the same item gives the same bytes") {
  FieldMap a = sample();
  FieldMap b;
  for (auto it = a.rbegin(); it != a.rend(); ++it) b.emplace(it->first, it->second);
  CHECK(serialize_fields(a) == serialize_fields(b));
  CHECK(serialize_fields(a) == serialize_fields(*parse_fields(serialize_fields(a))));
}

// Found by fuzzing (tests/fuzz/regressions/original_state): a CR in a name or address came
// back as LF. Names and addresses are compared exactly, since Value's == ignores names.
TEST_CASE("C2: control characters in names and addresses round-trip exactly") {
  const std::string odd = "cr\r lf\n tab\t bell\x07 & \"q\"";
  FieldMap f{{"field " + odd, Value{PartyList{{odd + "@x.org", odd, std::nullopt}}}},
             {"Regarding", Value{EntityRef{"account", CrmId::generate(), odd}}}};
  auto back = parse_fields(serialize_fields(f));
  REQUIRE(back.ok());
  REQUIRE(back->count("field " + odd) == 1);
  const auto& party = std::get<PartyList>(back->at("field " + odd)).at(0);
  CHECK(party.address == odd + "@x.org");
  CHECK(party.name == odd);
  CHECK(std::get<EntityRef>(back->at("Regarding")).name == odd);
}

TEST_CASE("X3: hostile or malformed original state is rejected with a clear error") {
  auto rejected = [](std::string_view xml) {
    auto r = parse_fields(xml);
    if (r.ok()) return false;
    CHECK(r.error().kind() == ErrorKind::kInvalid);
    CHECK_THAT(r.error().message(), Catch::StartsWith("original state"));
    return true;
  };
  CHECK(rejected(""));
  CHECK(rejected("<state v=\"1\">"));
  CHECK(rejected("<state v=\"2\"/>"));
  CHECK(rejected("<other v=\"1\"/>"));
  CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"integer\">12a</f></state>"));
  CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"blob\">1</f></state>"));
  CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"text\">a</f><f n=\"x\" t=\"text\">b</f></state>"));
  CHECK(rejected("<state v=\"1\"><g/></state>"));
  CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"text\"><f/></f></state>"));
  CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"reference\" entity=\"a\" id=\"nope\"/></state>"));
  CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"text\" enc=\"b64\">!!!!</f></state>"));
  SECTION("entity expansion (billion laughs) is refused before parsing") {
    CHECK(
        rejected("<!DOCTYPE s [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><state v=\"1\">"
                 "<f n=\"x\" t=\"text\">&b;</f></state>"));
  }
  SECTION("invalid UTF-8") {
    CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"text\">\xC0\xAF</f></state>"));
    CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"text\">\xED\xA0\x80</f></state>"));
    // Character references to surrogates (found by fuzzing).
    CHECK(rejected("<state v=\"1\"><f n=\"x\" t=\"text\">&#xD800;</f></state>"));
    CHECK(rejected("<state v=\"1\"><f n=\"x&#xD800;\" t=\"null\"/></state>"));
    CHECK(
        rejected("<state v=\"1\"><f n=\"x\" t=\"parties\"><party name=\"&#xDFFF;\"/></f>"
                 "</state>"));
  }
  SECTION("deep nesting") {
    std::string deep = "<state v=\"1\"><f n=\"x\" t=\"parties\">";
    for (int i = 0; i < 100000; ++i) deep += "<party>";
    CHECK(rejected(deep));
  }
  SECTION("oversized input") {
    std::string huge = "<state v=\"1\"><f n=\"x\" t=\"text\">" +
                       std::string(kMaxOriginalStateBytes, 'a') + "</f></state>";
    CHECK(rejected(huge));
  }
}

TEST_CASE("UTF-8 validation") {
  CHECK(is_valid_utf8("plain"));
  CHECK(is_valid_utf8("Zoë 東京 🙂"));
  CHECK_FALSE(is_valid_utf8("\xff"));
  CHECK_FALSE(is_valid_utf8("\xe6\x9d"));          // truncated
  CHECK_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
}
