// SPEC U1 as a store adapter keeps it (crmsync/core/category_store.hpp): the category and the
// tracked mark in step both ways with the TrackCategory property, and the master category
// list document of [MS-OXOCFG] 2.2.5.2.2, including hostile documents.
#include <catch2/catch.hpp>

#include "crmsync/core/category_store.hpp"

using namespace crmsync;
using Cats = std::vector<std::string>;

namespace {
const UtcTime kNow = UtcTime::parse("2026-05-01T10:00:00Z").value();
const std::string kGuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
const std::string kName(kDefaultTrackCategory);
}  // namespace

TEST_CASE("U1: a write of the tracked mark keeps the category and TrackCategory in step",
          "[unit][U1]") {
  TrackCategory ours;
  // Tracking an item with the user's categories: ours appended, the others kept in order.
  auto w = keep_in_step(ours, {{"Red", "Blue"}, false, ""}, true);
  REQUIRE(w.categories);
  CHECK(*w.categories == Cats{"Red", "Blue", kName});
  CHECK(w.kept == kName);
  CHECK(w.adds_ours);
  // The user tracked it by the category: only TrackCategory is written.
  w = keep_in_step(ours, {{"tracked to dynamics 365"}, false, ""}, true);
  CHECK_FALSE(w.categories);
  CHECK(w.kept == kName);
  CHECK_FALSE(w.adds_ours);
  // In step already: nothing to write.
  CHECK(keep_in_step(ours, {{kName}, true, "TRACKED TO DYNAMICS 365"}, true).empty());
  // Untracking: ours removed, TrackCategory removed, the others kept.
  w = keep_in_step(ours, {{"Red", kName, "Blue"}, true, kName}, false);
  REQUIRE(w.categories);
  CHECK(*w.categories == Cats{"Red", "Blue"});
  REQUIRE(w.kept);
  CHECK(w.kept->empty());
  CHECK(keep_in_step(ours, {{"Red"}, false, ""}, false).empty());
  // Off: never a write.
  TrackCategory off{std::string()};
  CHECK(keep_in_step(off, {{"Red"}, false, ""}, true).empty());
  CHECK(keep_in_step(off, {{kName}, true, kName}, false).empty());
}

TEST_CASE("U1: the intent in an item another client changed", "[unit][U1]") {
  TrackCategory ours;
  struct Row {
    CategoryMark mark;
    std::optional<Action> expected;
  };
  const Row rows[] = {
      {{{kName}, false, ""}, Action::kTrack},       // the user added it
      {{{"Red"}, true, kName}, Action::kUntrack},   // the user removed the one we kept
      {{{"Red"}, true, ""}, std::nullopt},          // tracked before categories counted
      {{{"Red"}, true, "Old name"}, std::nullopt},  // kept for another name (a rename)
      {{{kName}, true, kName}, std::nullopt},       // in step
      {{{"Red"}, false, ""}, std::nullopt},
  };
  for (const auto& r : rows) {
    CAPTURE(r.mark.categories, r.mark.tracked, r.mark.kept);
    CHECK(category_intent(ours, r.mark) == r.expected);
  }
  CHECK_FALSE(category_intent(TrackCategory{std::string()}, {{kName}, false, ""}));
}

TEST_CASE("U1: the master category list gets the category once, the rest kept byte for byte",
          "[unit][U1]") {
  // Outlook's document (attributes of other clients included), default namespace.
  const std::string outlook =
      "<?xml version=\"1.0\"?>\n<categories default=\"Red category\" lastSavedSession=\"2\" "
      "xmlns=\"CategoryList.xsd\">\n  <category name=\"Red category\" color=\"0\" "
      "keyboardShortcut=\"0\" guid=\"{00d19ed5-75f6-47e4-a99a-5c3b0ebce48b}\" x-other=\"1\"/>\n"
      "  <!-- a comment -->\n  <category name=\"R&amp;D &#233;quipe\" color=\"7\"/>\n"
      "</categories>\n";
  auto names = category_list_names(outlook);
  REQUIRE(names.ok());
  CHECK(*names == Cats{"Red category", "R&D \xc3\xa9quipe"});
  auto added = add_to_category_list(outlook, kName, kNow, kGuid);
  REQUIRE(added.ok());
  REQUIRE(*added);
  const std::string& doc = **added;
  // Everything before the end tag is as it was; ours comes last.
  CHECK(doc.compare(0, outlook.find("</categories>"), outlook, 0, outlook.find("</categories>")) ==
        0);
  CHECK_THAT(doc, Catch::Contains("<category name=\"Tracked to Dynamics 365\" color=\"7\""));
  CHECK_THAT(doc, Catch::Contains("guid=\"{" + kGuid + "}\""));
  CHECK_THAT(doc, Catch::Contains("lastTimeUsed=\"2026-05-01T10:00:00Z\""));
  CHECK_THAT(doc, Catch::EndsWith("/></categories>\n"));
  auto again = category_list_names(doc);
  REQUIRE(again.ok());
  CHECK(again->size() == 3);
  // Once: a second add, in any case, changes nothing.
  auto twice = add_to_category_list(doc, "TRACKED TO DYNAMICS 365", kNow, kGuid);
  REQUIRE(twice.ok());
  CHECK_FALSE(*twice);

  // No list yet: a new document with ours alone.
  auto fresh = add_to_category_list("", kName, kNow, kGuid);
  REQUIRE(fresh.ok());
  REQUIRE(*fresh);
  CHECK(*category_list_names(**fresh) == Cats{kName});
  // An empty root, and a prefixed root: the element follows the root's form.
  auto empty_root =
      add_to_category_list("<categories xmlns=\"CategoryList.xsd\"/>", kName, kNow, kGuid);
  REQUIRE(empty_root.ok());
  CHECK(*category_list_names(**empty_root) == Cats{kName});
  auto prefixed = add_to_category_list(
      "<c:categories xmlns:c=\"CategoryList.xsd\"><c:category name=\"A\"/></c:categories>", kName,
      kNow, kGuid);
  REQUIRE(prefixed.ok());
  CHECK_THAT(**prefixed, Catch::Contains("<c:category name=\"Tracked to Dynamics 365\""));
  CHECK(*category_list_names(**prefixed) == Cats{"A", kName});
  // A UTF-8 byte order mark stays in front.
  auto bom = add_to_category_list("\xEF\xBB\xBF<categories/>", kName, kNow, kGuid);
  REQUIRE(bom.ok());
  CHECK_THAT(**bom, Catch::StartsWith("\xEF\xBB\xBF<categories>"));
  // A name that needs escaping is escaped.
  auto odd = add_to_category_list("", "A & B <\"x\">", kNow, kGuid);
  REQUIRE(odd.ok());
  CHECK(*category_list_names(**odd) == Cats{"A & B <\"x\">"});
}

TEST_CASE("U1: hostile or malformed category lists are refused - nothing written",
          "[unit][U1][hostile]") {
  const char* bad[] = {
      "<!DOCTYPE categories [<!ENTITY x \"y\">]><categories/>",
      "<categories><![CDATA[x]]></categories>",
      "<other xmlns=\"CategoryList.xsd\"/>",
      "<categories><category name=\"a\"/>",                     // not closed
      "<categories><category name=\"a/></categories>",          // unterminated attribute
      "<categories><category name=a/></categories>",            // no quotes
      "<categories><category name=\"&bogus;\"/></categories>",  // unknown entity
      "<categories><category name=\"&#0;\"/></categories>",
      "<categories><category name=\"&#x110000;\"/></categories>",
      "<categories><category name=\"&#xD800;\"/></categories>",
      "<categories></other>",
      "<categories/><categories/>",
      "text<categories/>",
      "<categories/>trailing",
      "<categories><category name=\"a\"",
      "<!-- never closed <categories/>",
      "</categories>",
      "<categories><x><y></x></y></categories>",
      "< categories/>",
  };
  for (const char* doc : bad) {
    INFO(doc);
    auto names = category_list_names(doc);
    REQUIRE_FALSE(names.ok());
    CHECK(names.error().is(ErrorKind::kInvalid));
    CHECK_FALSE(add_to_category_list(doc, kName, kNow, kGuid).ok());
  }
  // Too deep, too large.
  std::string deep = "<categories>";
  for (int i = 0; i < 100; ++i) deep += "<x>";
  for (int i = 0; i < 100; ++i) deep += "</x>";
  CHECK_FALSE(category_list_names(deep + "</categories>").ok());
  std::string huge = "<categories>" + std::string(kMaxCategoryListBytes, ' ') + "</categories>";
  CHECK_FALSE(category_list_names(huge).ok());
}

TEST_CASE(
    "U1: the master list is asked once after a success - after a failure not for ten "
    "minutes",
    "[unit][U1]") {
  MasterListPace pace;
  int calls = 0;
  auto fail = [&](UtcTime) -> Result<void> {
    ++calls;
    return Error::Invalid("refused");
  };
  auto succeed = [&](UtcTime) -> Result<void> {
    ++calls;
    return Ok();
  };
  const UtcTime t0 = kNow;
  CHECK_FALSE(pace.run(t0, fail).ok());
  auto soon = pace.run(UtcTime{t0.ms + MasterListPace::kRetryAfterMs - 1}, succeed);
  CHECK(soon.error().is(ErrorKind::kTransient));  // not asked again yet
  CHECK(calls == 1);
  CHECK(pace.run(UtcTime{t0.ms + MasterListPace::kRetryAfterMs}, succeed).ok());
  CHECK(calls == 2);
  CHECK(pace.run(UtcTime{t0.ms + 2 * MasterListPace::kRetryAfterMs}, fail).ok());  // done
  CHECK(calls == 2);
}
