#include "crmsync/core/store_adapter.hpp"

#include <array>
#include <utility>

namespace crmsync {
namespace {

template <class E, std::size_t N>
Result<E> parse_enum(std::string_view s, const std::array<std::pair<E, std::string_view>, N>& names,
                     std::string_view what) {
  for (const auto& [value, name] : names)
    if (name == s) return value;
  std::string all;
  for (const auto& [value, name] : names) all += (all.empty() ? "" : ", ") + std::string(name);
  return Error::Invalid("unknown " + std::string(what) + " '" + std::string(s) + "' (one of " +
                        all + ")");
}

template <class E, std::size_t N>
std::string_view enum_name(E v, const std::array<std::pair<E, std::string_view>, N>& names) {
  for (const auto& [value, name] : names)
    if (value == v) return name;
  return "?";
}

constexpr std::array<std::pair<Folder, std::string_view>, 6> kFolders{{
    {Folder::kContacts, "contacts"},
    {Folder::kTasks, "tasks"},
    {Folder::kCalendar, "calendar"},
    {Folder::kInbox, "inbox"},
    {Folder::kSentItems, "sentitems"},
    {Folder::kDrafts, "drafts"},
}};
constexpr std::array<std::pair<Surface, std::string_view>, 3> kSurfaces{{
    {Surface::kNone, "none"},
    {Surface::kInspector, "inspector"},
    {Surface::kExplorer, "explorer"},
}};
constexpr std::array<std::pair<Phase, std::string_view>, 4> kPhases{{
    {Phase::kNone, "none"},
    {Phase::kSave, "save"},
    {Phase::kClose, "close"},
    {Phase::kSend, "send"},
}};
constexpr std::array<std::pair<Action, std::string_view>, 7> kActions{{
    {Action::kCreate, "create"},
    {Action::kTrack, "track"},
    {Action::kUntrack, "untrack"},
    {Action::kUpdate, "update"},
    {Action::kDelete, "delete"},
    {Action::kSetRegarding, "set-regarding"},
    {Action::kSend, "send"},
}};

}  // namespace

std::string_view to_string(Folder f) {
  return enum_name(f, kFolders);
}
Result<Folder> parse_folder(std::string_view s) {
  return parse_enum(s, kFolders, "folder");
}
std::string_view to_string(Surface s) {
  return enum_name(s, kSurfaces);
}
Result<Surface> parse_surface(std::string_view s) {
  return parse_enum(s, kSurfaces, "surface");
}
std::string_view to_string(Phase p) {
  return enum_name(p, kPhases);
}
Result<Phase> parse_phase(std::string_view s) {
  return parse_enum(s, kPhases, "phase");
}
std::string_view to_string(Action a) {
  return enum_name(a, kActions);
}
Result<Action> parse_action(std::string_view s) {
  return parse_enum(s, kActions, "action");
}

ItemKind kind_of_folder(Folder folder) {
  switch (folder) {
    case Folder::kContacts:
      return ItemKind::kContact;
    case Folder::kTasks:
      return ItemKind::kTask;
    case Folder::kCalendar:
      return ItemKind::kAppointment;
    default:
      return ItemKind::kEmail;
  }
}

Folder default_folder(ItemKind kind) {
  switch (kind) {
    case ItemKind::kContact:
      return Folder::kContacts;
    case ItemKind::kTask:
      return Folder::kTasks;
    case ItemKind::kAppointment:
      return Folder::kCalendar;
    case ItemKind::kEmail:
      return Folder::kInbox;
  }
  return Folder::kContacts;
}

std::vector<Result<StoreItem>> StoreAdapter::get_many(const std::vector<EntryId>& ids) {
  std::vector<Result<StoreItem>> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(get(id));
  return out;
}

std::vector<Result<std::optional<StoreItem>>> StoreAdapter::find_by_crm_ids(
    const std::vector<CrmId>& ids) {
  std::vector<Result<std::optional<StoreItem>>> out;
  out.reserve(ids.size());
  for (const auto& id : ids) out.push_back(find_by_crm_id(id));
  return out;
}

std::vector<Result<StoreItem>> StoreAdapter::create_many(const std::vector<NewStoreItem>& items) {
  std::vector<Result<StoreItem>> out;
  out.reserve(items.size());
  for (const auto& item : items) out.push_back(create(item));
  return out;
}

Result<std::vector<StoreItemHeader>> StoreAdapter::scan_headers_since(ItemKind kind,
                                                                      UtcTime since) {
  auto items = scan_modified_since(kind, since);
  if (!items.ok()) return items.error();
  std::vector<StoreItemHeader> out;
  out.reserve(items->size());
  for (const auto& i : *items)
    out.push_back(StoreItemHeader{i.entry_id, i.change_key, i.item.modified, i.link.tracked});
  return out;
}

Result<ChangedHeaders> StoreAdapter::headers_changed_after(ItemKind, const std::string&) {
  return Error::Invalid("this store keeps no order of its writes (has_change_positions)");
}

}  // namespace crmsync
