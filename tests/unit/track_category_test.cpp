// SPEC U1: the track category as the user's "Track in CRM", row by row, without a store.
#include <catch2/catch.hpp>

#include "crmsync/core/track_category.hpp"

using namespace crmsync;
using Cats = std::vector<std::string>;

TEST_CASE("U1: gaining the category is a track and losing it an untrack", "[unit][U1]") {
  TrackCategory ours;
  struct Row {
    Cats categories;
    bool tracked;
    bool had_category;
    std::optional<Action> expected;
  };
  const Row rows[] = {
      {{"Tracked to Dynamics 365"}, false, false, Action::kTrack},
      {{"Red", "tracked TO dynamics 365"}, false, false, Action::kTrack},  // any case
      {{"Tracked to Dynamics 365"}, true, true, std::nullopt},             // in step
      {{"Red"}, true, true, Action::kUntrack},
      {{}, true, true, Action::kUntrack},
      {{}, true, false, std::nullopt},  // tracked by the daemon, category not written yet
      {{"Red"}, false, false, std::nullopt},
      {{"Tracked to Dynamics"}, false, false, std::nullopt},  // a prefix is another category
  };
  for (const auto& r : rows) {
    CAPTURE(r.categories, r.tracked, r.had_category);
    CHECK(ours.intent(r.categories, r.tracked, r.had_category) == r.expected);
  }
}

TEST_CASE("U1: keeping the category in step touches only ours", "[unit][U1]") {
  TrackCategory ours("CRM");
  CHECK(ours.in_step({"Red", "Blue"}, true) == Cats{"Red", "Blue", "CRM"});
  CHECK(ours.in_step({"Red", "crm", "Blue"}, false) == Cats{"Red", "Blue"});
  CHECK_FALSE(ours.in_step({"Red", "CRM"}, true).has_value());
  CHECK_FALSE(ours.in_step({"Red"}, false).has_value());
}

TEST_CASE("U1: an empty track category turns category tracking off", "[unit][U1]") {
  auto off = TrackCategory::from_config("   ");
  REQUIRE(off.ok());
  CHECK_FALSE(off.value().enabled());
  CHECK_FALSE(off.value().intent({""}, false, false).has_value());
  CHECK_FALSE(off.value().intent({}, true, true).has_value());
  CHECK_FALSE(off.value().in_step({"Red"}, true).has_value());
}

TEST_CASE("U1: a track category with odd characters is refused or kept exactly", "[unit][U1]") {
  CHECK(TrackCategory::from_config("a;b").error().is(ErrorKind::kInvalid));
  CHECK(TrackCategory::from_config("a,b").error().is(ErrorKind::kInvalid));
  CHECK(TrackCategory::from_config(std::string("a\nb")).error().is(ErrorKind::kInvalid));
  CHECK(TrackCategory::from_config(std::string(256, 'x')).error().is(ErrorKind::kInvalid));
  auto odd = TrackCategory::from_config("  Suivi — CRM «ü» ");
  REQUIRE(odd.ok());
  CHECK(odd.value().name() == "Suivi — CRM «ü»");
  CHECK(odd.value().present_in({"Suivi — CRM «ü»"}));
}

TEST_CASE("U1: category names a mailbox would not keep are refused", "[unit][U1]") {
  for (std::string bad : {std::string(), std::string("   "), std::string("a,b"), std::string("a;b"),
                          std::string("a\x01z"), std::string("a\tb"), std::string("\xff\xfe"),
                          std::string(256, 'x'), std::string("a\x7f")}) {
    CAPTURE(bad);
    auto r = check_category_name(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
  }
  CHECK(check_category_name("  Red  ").value() == "Red");
  CHECK(check_category_name(std::string(255, 'x')).ok());
  CHECK(same_category("Tracked to DYNAMICS 365", "tracked to dynamics 365"));
  CHECK_FALSE(same_category("Red", "Redd"));
  auto e = TrackCategory::from_config("a;b");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message().rfind("sync.track_category: ", 0) == 0);
}
