#include "crmsync/core/track_category.hpp"

#include <algorithm>
#include <cctype>

#include "crmsync/model/text.hpp"

namespace crmsync {
namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

bool same_category(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

Result<std::string> check_category_name(std::string_view name) {
  std::string_view t = trimmed(name);
  if (t.empty()) return Error::Invalid("a category name must not be empty");
  if (t.size() > 255) return Error::Invalid("a category name is at most 255 bytes long");
  if (!is_valid_utf8(t)) return Error::Invalid("a category name must be UTF-8");
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7f)
      return Error::Invalid("a category name must not contain a control character");
    if (c == ',' || c == ';')
      return Error::Invalid("a category name must not contain a list separator (',' or ';')");
  }
  return std::string(t);
}

TrackCategory::TrackCategory(std::string name) : name_(std::move(name)) {}

bool TrackCategory::present_in(const std::vector<std::string>& categories) const {
  if (!enabled()) return false;
  return std::any_of(categories.begin(), categories.end(),
                     [&](const std::string& c) { return same_category(c, name_); });
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
    if (!same_category(c, name_)) out.push_back(c);
  }
  if (tracked) out.push_back(name_);
  return out;
}

Result<TrackCategory> TrackCategory::from_config(std::string_view name) {
  if (trimmed(name).empty()) return TrackCategory(std::string());
  auto checked = check_category_name(name);
  if (!checked) return checked.error().context("sync.track_category");
  return TrackCategory(std::move(*checked));
}

}  // namespace crmsync
