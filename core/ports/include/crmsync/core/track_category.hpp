// SPEC U1: a category is the user's "Track in CRM" from any client. Every store adapter keeps
// the category and its tracked mark in step the same way, through these pure functions:
// - reading: an item whose categories gained the track category while it is not tracked is a
//   track (Action::kTrack, as from the explorer); one tracked that lost it is an untrack;
// - writing: when the daemon sets the tracked mark (a CLI track, a record created from CRM)
//   the category is added, and removed with the mark; the user's other categories stay.
// Category names compare case-insensitively (Outlook's master list is case-insensitive).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crmsync/core/store_adapter.hpp"

namespace crmsync {

// The default of sync.track_category: Dynamics 365's own tracking category.
inline constexpr std::string_view kDefaultTrackCategory = "Tracked to Dynamics 365";

// Whether two category names are the same category (case-insensitively, as Outlook compares).
bool same_category(std::string_view a, std::string_view b);

// A category name a mailbox keeps, trimmed; kInvalid naming the problem for one that is empty
// after trimming, has control characters, a comma or a semicolon (Outlook's list separators),
// is not UTF-8 or is over 255 bytes.
Result<std::string> check_category_name(std::string_view name);

class TrackCategory {
 public:
  // An empty name turns category tracking off: every function below is then a no-op.
  explicit TrackCategory(std::string name = std::string(kDefaultTrackCategory));

  bool enabled() const { return !name_.empty(); }
  const std::string& name() const { return name_; }

  bool present_in(const std::vector<std::string>& categories) const;

  // The intent a store reports for an item it saw change: kTrack when the category is present
  // and the item is not tracked, kUntrack when the item is tracked and the category is gone.
  // `had_category` is whether the category was there when the store last saw the item: an
  // item tracked by the daemon whose category the store has not written yet is no untrack.
  std::optional<Action> intent(const std::vector<std::string>& categories, bool tracked,
                               bool had_category) const;

  // `categories` with ours added (tracked) or removed (not tracked), the others untouched and
  // in their order; nullopt when nothing changes (no write needed).
  std::optional<std::vector<std::string>> in_step(const std::vector<std::string>& categories,
                                                  bool tracked) const;

  // Rejects names a mailbox would not keep (check_category_name); empty after trimming is
  // "off". Errors start with "sync.track_category: ".
  static Result<TrackCategory> from_config(std::string_view name);

 private:
  std::string name_;
};

}  // namespace crmsync
