// SPEC U1 through MAPI properties, without a session: an item's categories (PidNameKeywords),
// tracked mark and crmsync's TrackCategory read and written, the named property in crmsync's
// set, the configuration-data tags of the master category list against [MS-OXPROPS].
#include <catch2/catch.hpp>

#include <map>

#include "fields.hpp"

using namespace crmsync;
using namespace crmsync::mapi;

namespace {

const std::string kOurs(kDefaultTrackCategory);

struct Bag {
  std::map<PropRef, PropValue> props;
  void apply(const std::vector<PropWrite>& writes) {
    for (const auto& w : writes) {
      if (std::holds_alternative<std::monostate>(w.value)) {
        props.erase(w.ref);
      } else {
        CHECK(type_of(w.value) == w.ref.type());
        props[w.ref] = w.value;
      }
    }
  }
  PropLookup lookup() const {
    return [this](const PropRef& r) -> const PropValue* {
      auto it = props.find(r);
      return it == props.end() ? nullptr : &it->second;
    };
  }
};

}  // namespace

TEST_CASE("U1: categories - the tracked mark and TrackCategory through MAPI properties",
          "[mapi][U1]") {
  Bag bag;
  bag.props[PropRef{Named::kKeywords}] = std::vector<std::u16string>{u"Red", u"Caf\u00e9"};
  auto mark = decode_mark(bag.lookup());
  REQUIRE(mark.ok());
  CHECK(mark->categories == std::vector<std::string>{"Red", "Caf\xc3\xa9"});
  CHECK_FALSE(mark->tracked);
  CHECK(mark->kept.empty());

  // The daemon's track: ours appended, TrackCategory set; read back the same.
  TrackCategory track;
  auto link = encode_link(CrmLink{true, CrmId::generate(), false, CrmEntity::kContact});
  REQUIRE(link.ok());
  bag.apply(*link);
  auto writes = encode_mark(keep_in_step(track, *mark, true));
  REQUIRE(writes.ok());
  bag.apply(*writes);
  mark = decode_mark(bag.lookup());
  REQUIRE(mark.ok());
  CHECK(mark->categories == std::vector<std::string>{"Red", "Caf\xc3\xa9", kOurs});
  CHECK(mark->tracked);
  CHECK(mark->kept == kOurs);
  CHECK_FALSE(category_intent(track, *mark));

  // The user removes ours in another client: the intent is an untrack.
  bag.props[PropRef{Named::kKeywords}] = std::vector<std::u16string>{u"Red"};
  mark = decode_mark(bag.lookup());
  REQUIRE(mark.ok());
  CHECK(category_intent(track, *mark) == Action::kUntrack);
  // The untrack's write: no categories left of ours, TrackCategory deleted.
  writes = encode_mark(keep_in_step(track, *mark, false));
  REQUIRE(writes.ok());
  bag.apply(*writes);
  CHECK(bag.props.count(PropRef{Named::kTrackCategory}) == 0);
  // An empty list deletes Keywords.
  writes = encode_mark(CategoryWrite{std::vector<std::string>{}, std::nullopt, false});
  REQUIRE(writes.ok());
  bag.apply(*writes);
  CHECK(bag.props.count(PropRef{Named::kKeywords}) == 0);

  // Values of the wrong type and text MAPI cannot carry are refused.
  bag.props[PropRef{Named::kKeywords}] = std::u16string(u"not a list");
  CHECK(decode_mark(bag.lookup()).error().is(ErrorKind::kInvalid));
  bag.props.erase(PropRef{Named::kKeywords});
  bag.props[PropRef{Named::kTrackCategory}] = std::int32_t{1};
  CHECK(decode_mark(bag.lookup()).error().is(ErrorKind::kInvalid));
  CHECK(encode_mark(
            CategoryWrite{std::vector<std::string>{std::string("a\0b", 3)}, std::nullopt, false})
            .error()
            .is(ErrorKind::kInvalid));
  CHECK(encode_mark(CategoryWrite{std::nullopt, std::string("\xff"), false})
            .error()
            .is(ErrorKind::kInvalid));
}

TEST_CASE(
    "U1: TrackCategory is crmsync's named property read with every item - the category "
    "list's tags are those of MS-OXPROPS",
    "[mapi][U1][props]") {
  const NamedProp& p = named(Named::kTrackCategory);
  CHECK(p.set == kPsetidCrmsync);
  CHECK(std::get<std::u16string_view>(p.name) == u"TrackCategory");
  CHECK(p.type == PropType::kUnicode);
  for (ItemKind kind : kAllItemKinds) {
    const auto cols = props_to_read(kind);
    CHECK(std::count(cols.begin(), cols.end(), PropRef{Named::kTrackCategory}) == 1);
    CHECK(std::count(cols.begin(), cols.end(), PropRef{Named::kKeywords}) == 1);
  }
  CHECK(tag::kRoamingXmlStream == 0x7C080102u);  // PidTagRoamingXmlStream, PtypBinary
  CHECK(tag::kRoamingDatatypes == 0x7C060003u);  // PidTagRoamingDatatypes, PtypInteger32
  CHECK(kCategoryListClass == u"IPM.Configuration.CategoryList");
}
