#include "crmsync/core/track_category.hpp"

#include <algorithm>
#include <cctype>

namespace crmsync {
namespace {

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

TrackCategory::TrackCategory(std::string name) : name_(std::move(name)) {}

bool TrackCategory::present_in(const std::vector<std::string>& categories) const {
  if (!enabled()) return false;
  return std::any_of(categories.begin(), categories.end(),
                     [&](const std::string& c) { return same_name(c, name_); });
}

std::optional<Action> TrackCategory::intent(const std::vector<std::string>& categories,
                                            bool tracked, bool had_category) const {
  if (!enabled()) return std::nullopt;
  bool present = present_in(categories);
  if (present && !tracked) return Action::kTrack;
  if (!present && tracked && had_category) return Action::kUntrack;
  return std::nullopt;
}

std::optional<std::vector<std::string>> TrackCategory::in_step(
    const std::vector<std::string>& categories, bool tracked) const {
  if (!enabled()) return std::nullopt;
  bool present = present_in(categories);
  if (present == tracked) return std::nullopt;
  std::vector<std::string> out;
  out.reserve(categories.size() + 1);
  for (const auto& c : categories) {
    if (!same_name(c, name_)) out.push_back(c);
  }
  if (tracked) out.push_back(name_);
  return out;
}

Result<TrackCategory> TrackCategory::from_config(std::string_view name) {
  std::string_view t = trimmed(name);
  if (t.empty()) return TrackCategory(std::string());
  if (t.size() > 255) return Error::Invalid("sync.track_category: longer than 255 characters");
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7f) {
      return Error::Invalid("sync.track_category: contains a control character");
    }
    if (c == ',' || c == ';') {
      return Error::Invalid("sync.track_category: contains a list separator (',' or ';')");
    }
  }
  return TrackCategory(std::string(t));
}

}  // namespace crmsync
