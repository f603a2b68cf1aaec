#include "mailbox_command.hpp"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>

#include "crmsync/model/mapping.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#include "item_json.hpp"

namespace crmsync::cli {
namespace {

constexpr const char* kFooter = R"(
Verbs:
  add KIND [--track] [--via inspector|explorer] [--folder F] FIELD=VALUE...
                 KIND is contact|task|appointment|email; prints the new entry id alone.
                 --folder: e-mails go to inbox (default), sentitems or drafts.
  set ID FIELD=VALUE... [--via inspector|explorer]      FIELD= (empty) clears a field
  delete ID [--via inspector|explorer]
  track ID [--via inspector|explorer]
  untrack ID [--delete-in-crm] [--via inspector|explorer]
  regarding ID ENTITY:GUID [--via inspector|explorer]
  category ID NAME [--remove]    adds (or removes) a category, as in any client (U1):
                 the track category (the daemon's sync.track_category, default "Tracked
                 to Dynamics 365") tracks or untracks the item as in the explorer
  send ID        sends a draft e-mail (moves it to sentitems)
  list [--kind KIND] [--json]    newest modification first
  show ID [--json]

--via inspector: the user changed the item in its form (a save event, then a close
event); --via explorer: in the list view (one event); without --via the change came
from elsewhere (another device, the web).

FIELD names and values are the store's (SPEC §7): text as entered; Importance
Low|Normal|High; task Status NotStarted|InProgress|Waiting|Deferred|Complete;
ShowTimeAs Free|Tentative|Busy|OutOfOffice; times ISO 8601 (2025-03-01T08:00:00Z);
dates YYYY-MM-DD; Regarding ENTITY:GUID; party lists "a@x.org; Bob <b@y.org>";
booleans true|false; integers as digits.

JSON (list: an array of items, show: one item):
  {"entry_id","kind","folder","tracked","crm_id","crm_id_pending","crm_entity",
   "change_key","fields":{...},"categories":[...],"modified"}
  Field values: text as strings, integers as numbers, booleans as true/false, times as
  ISO 8601 UTC strings, dates as "YYYY-MM-DD", Regarding as "entity:guid", party lists
  as arrays of {"address","name"} (with "ref":"entity:guid" when resolved). crm_id is
  null when the item has none.

Exit codes: 0 ok; 2 usage (unknown kind, field or id, malformed value, a mailbox file
that is not one or has a newer schema): nothing is written; 1 the operation failed
otherwise (e.g. the mailbox stayed busy).)";

struct MailboxOptions {
  std::string db;
  std::string via;
  std::string kind;
  std::string folder;
  std::string id;
  std::string regarding;
  std::string category;
  std::vector<std::string> assignments;
  bool track = false;
  bool remove = false;
  bool delete_in_crm = false;
  bool json = false;
};

Result<Surface> surface_of(const std::string& via) {
  if (via.empty()) return Surface::kNone;
  return parse_surface(via);
}

Result<std::unique_ptr<MockMailbox>> open(const MailboxOptions& o) {
  return open_mock_mailbox(o.db, system_clock());
}

// FIELD=VALUE... → typed values for `kind`; kInvalid naming the bad argument.
Result<FieldMap> parse_assignments(ItemKind kind, const std::vector<std::string>& args) {
  FieldMap out;
  for (const auto& a : args) {
    auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error::Invalid("expected FIELD=VALUE, got '" + a.substr(0, 64) + "'");
    std::string field = a.substr(0, eq);
    auto v = parse_store_value(kind, field, std::string_view(a).substr(eq + 1));
    if (!v) return v.error();
    out.insert_or_assign(std::move(field), std::move(*v));
  }
  return out;
}

// Adds `--via` to a verb.
void add_via(CLI::App* verb, MailboxOptions& o) {
  verb->add_option("--via", o.via, "where the user acted: inspector (form) or explorer (list)")
      ->check(CLI::IsMember({"inspector", "explorer"}));
}

int run_add(const MailboxOptions& o) {
  auto kind = parse_item_kind(o.kind);
  if (!kind) return report(kind.error());
  auto surface = surface_of(o.via);
  if (!surface) return report(surface.error());
  std::optional<Folder> folder;
  if (!o.folder.empty()) {
    auto f = parse_folder(o.folder);
    if (!f) return report(f.error());
    folder = *f;
  }
  auto fields = parse_assignments(*kind, o.assignments);
  if (!fields) return report(fields.error());
  auto mb = open(o);
  if (!mb) return report(mb.error());
  auto id = (*mb)->add(*kind, folder, *fields, o.track, *surface);
  if (!id) return report(id.error());
  std::cout << id->str() << "\n";
  return kExitOk;
}

// Opens the mailbox, checks the item exists, then runs `op(mailbox, item, surface)`.
template <class Op>
int with_item(const MailboxOptions& o, Op&& op) {
  auto surface = surface_of(o.via);
  if (!surface) return report(surface.error());
  auto mb = open(o);
  if (!mb) return report(mb.error());
  auto item = (*mb)->get(EntryId(o.id));
  if (!item) return report(item.error());
  Result<void> r = op(**mb, *item, *surface);
  if (!r) return report(r.error());
  return kExitOk;
}

int run_set(const MailboxOptions& o) {
  if (o.assignments.empty()) return usage_error("set: give at least one FIELD=VALUE");
  return with_item(o, [&](MockMailbox& mb, const StoreItem& it, Surface s) -> Result<void> {
    auto fields = parse_assignments(it.item.kind, o.assignments);
    if (!fields) return fields.error();
    return mb.set(it.entry_id, *fields, s);
  });
}

int run_list(const MailboxOptions& o) {
  std::optional<ItemKind> kind;
  if (!o.kind.empty()) {
    auto k = parse_item_kind(o.kind);
    if (!k) return report(k.error());
    kind = *k;
  }
  auto mb = open(o);
  if (!mb) return report(mb.error());
  auto items = (*mb)->list(kind);
  if (!items) return report(items.error());
  std::cout << (o.json ? items_to_json(*items) + "\n" : items_to_table(*items));
  return kExitOk;
}

int run_show(const MailboxOptions& o) {
  auto mb = open(o);
  if (!mb) return report(mb.error());
  auto item = (*mb)->get(EntryId(o.id));
  if (!item) return report(item.error());
  std::cout << (o.json ? item_to_json(*item) + "\n" : item_to_text(*item));
  return kExitOk;
}

}  // namespace

void add_mailbox_command(CLI::App& app, const GlobalOptions& /*unused by mailbox*/,
                         Dispatcher& dispatcher) {
  auto o = std::make_shared<MailboxOptions>();
  auto* mb = app.add_subcommand("mailbox", "act as the user on a mock mailbox file");
  mb->footer(kFooter);
  mb->require_subcommand(1);
  mb->add_option("--db", o->db, "the mock mailbox file (created when missing)")->required();

  auto* add = mb->add_subcommand("add", "create an item; prints its entry id");
  add->add_option("KIND", o->kind, "contact|task|appointment|email")->required();
  add->add_flag("--track", o->track, "track it in CRM");
  add->add_option("--folder", o->folder, "inbox|sentitems|drafts for e-mails");
  add_via(add, *o);
  add->add_option("FIELD=VALUE", o->assignments, "field values");
  dispatcher.add(add, [o] { return run_add(*o); });

  auto* set = mb->add_subcommand("set", "change fields of an item (FIELD= clears)");
  set->add_option("ID", o->id, "entry id")->required();
  set->add_option("FIELD=VALUE", o->assignments, "field values")->required();
  add_via(set, *o);
  dispatcher.add(set, [o] { return run_set(*o); });

  auto* del = mb->add_subcommand("delete", "delete an item");
  del->add_option("ID", o->id, "entry id")->required();
  add_via(del, *o);
  dispatcher.add(del, [o] {
    return with_item(*o, [](MockMailbox& m, const StoreItem& it, Surface s) {
      return m.remove(it.entry_id, s);
    });
  });

  auto* track = mb->add_subcommand("track", "track an item in CRM");
  track->add_option("ID", o->id, "entry id")->required();
  add_via(track, *o);
  dispatcher.add(track, [o] {
    return with_item(
        *o, [](MockMailbox& m, const StoreItem& it, Surface s) { return m.track(it.entry_id, s); });
  });

  auto* untrack = mb->add_subcommand("untrack", "stop tracking an item");
  untrack->add_option("ID", o->id, "entry id")->required();
  untrack->add_flag("--delete-in-crm", o->delete_in_crm, "also delete the CRM record");
  add_via(untrack, *o);
  dispatcher.add(untrack, [o] {
    return with_item(*o, [&](MockMailbox& m, const StoreItem& it, Surface s) {
      return m.untrack(it.entry_id, o->delete_in_crm, s);
    });
  });

  auto* regarding = mb->add_subcommand("regarding", "set the regarding record");
  regarding->add_option("ID", o->id, "entry id")->required();
  regarding->add_option("ENTITY:GUID", o->regarding, "e.g. account:6f1c...")->required();
  add_via(regarding, *o);
  dispatcher.add(regarding, [o] {
    auto ref = EntityRef::parse(o->regarding);
    if (!ref) return report(ref.error());
    return with_item(*o, [&](MockMailbox& m, const StoreItem& it, Surface s) {
      return m.set_regarding(it.entry_id, *ref, s);
    });
  });

  auto* category = mb->add_subcommand("category", "add or remove a category of an item (U1)");
  category->add_option("ID", o->id, "entry id")->required();
  category->add_option("NAME", o->category, "the category's name")->required();
  category->add_flag("--remove", o->remove, "remove it instead");
  dispatcher.add(category, [o] {
    return with_item(*o, [&](MockMailbox& m, const StoreItem& it, Surface) {
      return m.set_category(it.entry_id, o->category, !o->remove);
    });
  });

  auto* send = mb->add_subcommand("send", "send a draft e-mail");
  send->add_option("ID", o->id, "entry id")->required();
  dispatcher.add(send, [o] {
    return with_item(
        *o, [](MockMailbox& m, const StoreItem& it, Surface) { return m.send(it.entry_id); });
  });

  auto* list = mb->add_subcommand("list", "list items, newest first");
  list->add_option("--kind", o->kind, "contact|task|appointment|email");
  list->add_flag("--json", o->json, "print a JSON array");
  dispatcher.add(list, [o] { return run_list(*o); });

  auto* show = mb->add_subcommand("show", "show one item");
  show->add_option("ID", o->id, "entry id")->required();
  show->add_flag("--json", o->json, "print a JSON object");
  dispatcher.add(show, [o] { return run_show(*o); });
}

}  // namespace crmsync::cli
