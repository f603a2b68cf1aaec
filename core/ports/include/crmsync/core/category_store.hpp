// SPEC U1 inside a store adapter (EWS, MAPI, and the stores that copy them): what a store keeps
// beside an item's categories so that the track category and the tracked mark stay in step
// in both directions, and the mailbox's master category list that gets the category once.
// Pure functions over the TrackCategory of crmsync/core/track_category.hpp; the adapters read
// and write these values on their wire.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/core/track_category.hpp"

namespace crmsync {

// An item as U1 sees it: its categories, its tracked mark, and the track category the mark
// stood for when it was last kept in step (crmsync's named property "TrackCategory"; "" for
// none). `kept` is what tells an untrack (the user removed the category crmsync had put there)
// from an item tracked before categories meant anything, and it survives restarts and is
// seen by every client of the mailbox.
struct CategoryMark {
  std::vector<std::string> categories;
  bool tracked = false;
  std::string kept;
};

// What a write of the tracked mark does to the item's categories and its TrackCategory.
struct CategoryWrite {
  std::optional<std::vector<std::string>> categories;  // nullopt: left as they are
  std::optional<std::string> kept;                     // nullopt: left; "" removes it
  bool adds_ours = false;  // the track category goes onto the item: the master list needs it
  bool empty() const { return !categories && !kept; }
};

// The write that keeps `mark`'s item in step with a tracked mark of `tracked`: the track
// category added or removed (the user's others untouched, in their order) and `kept` set to
// it or removed. Nothing when category tracking is off or the item is in step already.
CategoryWrite keep_in_step(const TrackCategory& track, const CategoryMark& mark, bool tracked);

// The user's intent in an item another client changed (TrackCategory::intent): kTrack when it
// has the track category and is not tracked, kUntrack when it is tracked and the category it
// was kept in step with is gone; nullopt otherwise or when category tracking is off.
std::optional<Action> category_intent(const TrackCategory& track, const CategoryMark& mark);

// ---- the master category list ([MS-OXOCFG] 2.2.5.2.2): the XML document Outlook keeps in
// the Calendar folder's associated message of class IPM.Configuration.CategoryList, property
// PidTagRoamingXmlStream; EWS reads and writes it as the XmlData of the "CategoryList" user
// configuration of the calendar folder. A <categories> root of <category name=... .../>.

// The colour crmsync gives the track category in the list: an index of Outlook's presets, the
// same numbers as Graph's outlookCategory "presetN" (Office's CategoryColor: 7 is Blue, 9 is
// Cranberry). Outlook's own colour for Dynamics 365's category is not documented.
inline constexpr int kTrackCategoryColor = 7;
// The longest list document the adapters read or write.
inline constexpr std::size_t kMaxCategoryListBytes = 4u << 20;

// The category names of a list document. kInvalid (naming the problem) for what is not one:
// not a <categories> root, a DOCTYPE or CDATA, unbalanced or truncated markup, an unknown
// entity, over kMaxCategoryListBytes.
Result<std::vector<std::string>> category_list_names(std::string_view xml);

// `xml` (empty: the mailbox has no list yet, a new document is made) with a category `name`
// appended to the root, its colour kTrackCategoryColor, last used `now`, with `guid` (braced
// by this function); every other byte of the document as it was, so that what other clients
// wrote there survives. nullopt when the list has that name already (case-insensitively).
// kInvalid as category_list_names.
Result<std::optional<std::string>> add_to_category_list(std::string_view xml, std::string_view name,
                                                        UtcTime now, std::string_view guid);

// How often a store adds the category to the master list: once after a success, and after a
// failure not again for kRetryAfterMs (a batch of creates asks once, not per item).
class MasterListPace {
 public:
  static constexpr std::int64_t kRetryAfterMs = 10 * 60 * 1000;
  // Runs `add` unless done or a failure was recent (then kTransient without running it).
  template <typename Add>
  Result<void> run(UtcTime now, Add&& add) {
    if (done_) return Ok();
    if (now < next_try_) return Error::Transient("the master category list: tried lately");
    Result<void> r = add(now);
    if (r.ok())
      done_ = true;
    else
      next_try_ = UtcTime{now.ms + kRetryAfterMs};
    return r;
  }

 private:
  bool done_ = false;
  UtcTime next_try_{};
};

}  // namespace crmsync
