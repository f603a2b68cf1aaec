// The StoreAdapter contract, written once for every store (STYLE.md 11). Each TEMPLATE_TEST_CASE
// runs against every harness in kStores; add a harness there to run the suite on a new adapter.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <thread>

// Another test binary may compile this suite against its own harnesses: it names a header
// that defines them and STORES (tests/adapters/ews: the EWS adapter on ews-emulator).
#ifdef CRMSYNC_STORE_HARNESSES
#include CRMSYNC_STORE_HARNESSES
#else
#include "harnesses.hpp"
#define STORES test::MockMailboxHarness
#endif

using namespace crmsync;
using namespace std::chrono_literals;

namespace {

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

NewStoreItem contact(std::string first, std::string last) {
  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  n.item.fields["FirstName"] = std::move(first);
  n.item.fields["LastName"] = std::move(last);
  return n;
}

NewStoreItem task(std::string subject) {
  NewStoreItem n;
  n.folder = Folder::kTasks;
  n.item.kind = ItemKind::kTask;
  n.item.fields["Subject"] = std::move(subject);
  return n;
}

// A store that answers with its own defaults (Graph: a task's importance, status and reminder
// flag) says so with kAddsDefaults: a created item then holds at least the fields given, with
// their values. The others hold exactly those.
template <class H>
bool holds_fields(const FieldMap& got, const FieldMap& given) {
  if constexpr (requires { H::kAddsDefaults; }) {
    if (H::kAddsDefaults) {
      for (const auto& [name, value] : given) {
        auto it = got.find(name);
        if (it == got.end() || !(it->second == value)) return false;
      }
      return true;
    }
  }
  return got == given;
}

std::vector<StoreEvent> all_events(StoreAdapter& s) {
  auto r = s.events_after(0, 10'000);
  REQUIRE(r.ok());
  return *r;
}

}  // namespace

TEMPLATE_TEST_CASE("store contract: create then get returns the item", "[store][contract]",
                   STORES) {
  TestType h;
  auto s = h.open();
  NewStoreItem n = contact("Ann", "Lee");
  n.item.fields["Birthday"] = Date{1980, 2, 29};
  n.link.tracked = true;
  n.link.crm_id = guid(1);
  n.link.crm_id_pending = true;
  auto created = s->create(n);
  REQUIRE(created.ok());
  CHECK_FALSE(created->entry_id.empty());
  CHECK_FALSE(created->change_key.empty());

  auto got = s->get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->entry_id == created->entry_id);
  CHECK(got->change_key == created->change_key);
  CHECK(got->folder == Folder::kContacts);
  CHECK(got->item.kind == ItemKind::kContact);
  CHECK(got->item.fields == n.item.fields);
  CHECK(got->link == n.link);
  CHECK(got->item.modified == created->item.modified);
}

TEMPLATE_TEST_CASE("store contract: create_many makes each item once - a bad item fails alone",
                   "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  std::vector<NewStoreItem> batch;
  for (int i = 0; i < 7; ++i) {
    NewStoreItem n =
        i % 2 ? task("Task " + std::to_string(i)) : contact("First" + std::to_string(i), "Last");
    n.link.tracked = true;
    n.link.crm_id = guid(100 + i);
    n.link.crm_id_pending = true;
    batch.push_back(std::move(n));
  }
  batch[3].item.fields["NoSuchField"] = std::string("x");  // X3: refused, nothing written
  NewStoreItem wrong_folder = contact("Wrong", "Folder");
  wrong_folder.folder = Folder::kTasks;
  batch.push_back(wrong_folder);

  auto made = s->create_many(batch);
  REQUIRE(made.size() == batch.size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    INFO(i);
    if (i == 3 || i == 7) {
      REQUIRE_FALSE(made[i].ok());
      CHECK(made[i].error().is(ErrorKind::kInvalid));
      continue;
    }
    REQUIRE(made[i].ok());
    CHECK(holds_fields<TestType>(made[i]->item.fields, batch[i].item.fields));  // in input order
    CHECK(made[i]->link == batch[i].link);
    auto got = s->get(made[i]->entry_id);
    REQUIRE(got.ok());
    CHECK(got->change_key == made[i]->change_key);
    ids.insert(made[i]->entry_id.str());
  }
  CHECK(ids.size() == 6);
  // Each made item once, under its own CRM id (X1); the refused ones nowhere.
  for (int i : {0, 1, 2, 4, 5, 6}) {
    auto found = s->find_by_crm_id(guid(100 + i));
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    CHECK(holds_fields<TestType>((*found)->item.fields,
                                 batch[static_cast<std::size_t>(i)].item.fields));
  }
  auto refused = s->find_by_crm_id(guid(103));
  REQUIRE(refused.ok());
  CHECK_FALSE(refused->has_value());
  // S1: the daemon's own creates are events like any other write.
  std::set<std::string> created_events;
  for (const auto& e : all_events(*s))
    if (e.action == Action::kCreate) created_events.insert(e.entry_id.str());
  CHECK(created_events == ids);
  CHECK(s->create_many({}).empty());
}

TEMPLATE_TEST_CASE(
    "store contract: get_many gives each id's item in order - a missing one alone "
    "kNotFound",
    "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  std::vector<EntryId> ids;
  std::vector<FieldMap> fields;
  for (int i = 0; i < 5; ++i) {
    NewStoreItem n = i == 2 ? task("T") : contact("G" + std::to_string(i), "Many");
    auto made = s->create(n);
    REQUIRE(made.ok());
    ids.push_back(made->entry_id);
    fields.push_back(n.item.fields);
  }
  auto gone = s->create(contact("Gone", "Soon"));
  REQUIRE(gone.ok());
  REQUIRE(s->remove(gone->entry_id).ok());
  std::vector<EntryId> asked = ids;
  asked.insert(asked.begin() + 3, gone->entry_id);
  asked.push_back(ids.front());  // the same id twice: two results

  auto got = s->get_many(asked);
  REQUIRE(got.size() == asked.size());
  for (std::size_t i = 0; i < asked.size(); ++i) {
    INFO(i);
    if (asked[i] == gone->entry_id) {
      REQUIRE_FALSE(got[i].ok());
      CHECK(got[i].error().is(ErrorKind::kNotFound));
      continue;
    }
    REQUIRE(got[i].ok());
    CHECK(got[i]->entry_id == asked[i]);
    auto one = s->get(asked[i]);
    REQUIRE(one.ok());
    CHECK(got[i]->item.fields == one->item.fields);
    CHECK(got[i]->change_key == one->change_key);
  }
  CHECK(got[2]->item.kind == ItemKind::kTask);
  CHECK(s->get_many({}).empty());
}

TEMPLATE_TEST_CASE("X1: find_by_crm_ids answers each id in order - linked, pending or absent",
                   "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  NewStoreItem a = contact("Linked", "One");
  a.link = CrmLink{true, guid(61), false, std::nullopt};
  NewStoreItem b = task("Pending");
  b.link = CrmLink{true, guid(62), true, std::nullopt};
  auto made_a = s->create(a);
  auto made_b = s->create(b);
  REQUIRE((made_a.ok() && made_b.ok()));
  REQUIRE(s->create(contact("No", "Link")).ok());

  auto found = s->find_by_crm_ids({guid(62), guid(63), guid(61), guid(62)});
  REQUIRE(found.size() == 4);
  for (const auto& f : found) REQUIRE(f.ok());
  REQUIRE(found[0]->has_value());
  CHECK((*found[0])->entry_id == made_b->entry_id);
  CHECK((*found[0])->link.crm_id_pending);
  CHECK_FALSE(found[1]->has_value());
  REQUIRE(found[2]->has_value());
  CHECK((*found[2])->entry_id == made_a->entry_id);
  REQUIRE(found[3]->has_value());
  CHECK((*found[3])->entry_id == made_b->entry_id);
  CHECK(s->find_by_crm_ids({}).empty());
}

TEMPLATE_TEST_CASE("store contract: get of an unknown id is kNotFound", "[store][contract]",
                   STORES) {
  TestType h;
  auto s = h.open();
  auto got = s->get(EntryId("00DEADBEEF"));
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().is(ErrorKind::kNotFound));
}

TEMPLATE_TEST_CASE("store contract: update sets and clears fields - new change key",
                   "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  auto created = s->create(contact("Ann", "Lee"));
  REQUIRE(created.ok());
  h.advance(1s);
  FieldMap changes{{"LastName", Value(std::string("Smith"))},
                   {"FirstName", Value()},
                   {"JobTitle", Value(std::string("CTO"))}};
  CrmLink link{true, guid(7), false, std::nullopt};
  auto key = s->update(created->entry_id, created->change_key, changes, link);
  REQUIRE(key.ok());
  CHECK(*key != created->change_key);

  auto got = s->get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->change_key == *key);
  CHECK(got->item.fields == FieldMap{{"LastName", Value(std::string("Smith"))},
                                     {"JobTitle", Value(std::string("CTO"))}});
  CHECK(got->link == link);
  CHECK(got->item.modified > created->item.modified);

  // Without a link, the link stays as it is.
  auto key2 =
      s->update(created->entry_id, *key, {{"JobTitle", Value(std::string("CEO"))}}, std::nullopt);
  REQUIRE(key2.ok());
  auto again = s->get(created->entry_id);
  REQUIRE(again.ok());
  CHECK(again->link == link);
}

TEMPLATE_TEST_CASE("store contract: a stale change key is kConflict and changes nothing",
                   "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  auto created = s->create(contact("Ann", "Lee"));
  REQUIRE(created.ok());
  auto key = s->update(created->entry_id, created->change_key,
                       {{"LastName", Value(std::string("Smith"))}}, std::nullopt);
  REQUIRE(key.ok());
  auto stale = s->update(created->entry_id, created->change_key,
                         {{"LastName", Value(std::string("Jones"))}}, std::nullopt);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().is(ErrorKind::kConflict));
  auto got = s->get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->change_key == *key);
  CHECK(got->item.text("LastName") == "Smith");
}

TEMPLATE_TEST_CASE("store contract: remove deletes - a second remove is kNotFound",
                   "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  auto created = s->create(contact("Ann", "Lee"));
  REQUIRE(created.ok());
  REQUIRE(s->remove(created->entry_id).ok());
  auto got = s->get(created->entry_id);
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().is(ErrorKind::kNotFound));
  auto again = s->remove(created->entry_id);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().is(ErrorKind::kNotFound));
  auto upd = s->update(created->entry_id, created->change_key, {}, std::nullopt);
  REQUIRE_FALSE(upd.ok());
  CHECK(upd.error().is(ErrorKind::kNotFound));
}

TEMPLATE_TEST_CASE("S2: scan lists items modified since - newest first", "[store][contract]",
                   STORES) {
  TestType h;
  auto s = h.open();
  auto a = s->create(contact("A", "1"));
  h.advance(1s);
  NewStoreItem tracked_b = contact("B", "2");
  tracked_b.link = CrmLink{true, guid(7), false, std::nullopt};
  auto b = s->create(tracked_b);
  h.advance(1s);
  auto c = s->create(contact("C", "3"));
  auto t = s->create(task("not a contact"));
  REQUIRE((a.ok() && b.ok() && c.ok() && t.ok()));
  h.advance(1s);
  REQUIRE(
      s->update(a->entry_id, a->change_key, {{"JobTitle", Value(std::string("x"))}}, std::nullopt)
          .ok());

  auto all = s->scan_modified_since(ItemKind::kContact, UtcTime{0});
  REQUIRE(all.ok());
  REQUIRE(all->size() == 3);
  CHECK((*all)[0].entry_id == a->entry_id);
  CHECK((*all)[1].entry_id == c->entry_id);
  CHECK((*all)[2].entry_id == b->entry_id);
  for (std::size_t i = 1; i < all->size(); ++i)
    CHECK((*all)[i - 1].item.modified >= (*all)[i].item.modified);

  auto since = s->scan_modified_since(ItemKind::kContact, c->item.modified);
  REQUIRE(since.ok());
  REQUIRE(since->size() == 2);  // at or after: c itself and the updated a
  CHECK((*since)[0].entry_id == a->entry_id);
  CHECK((*since)[1].entry_id == c->entry_id);

  auto tasks = s->scan_modified_since(ItemKind::kTask, UtcTime{0});
  REQUIRE(tasks.ok());
  REQUIRE(tasks->size() == 1);
  CHECK((*tasks)[0].entry_id == t->entry_id);

  // The headers list the same items in the same order, with what the engine compares.
  for (UtcTime from : {UtcTime{0}, c->item.modified}) {
    auto items = s->scan_modified_since(ItemKind::kContact, from);
    auto headers = s->scan_headers_since(ItemKind::kContact, from);
    REQUIRE(items.ok());
    REQUIRE(headers.ok());
    REQUIRE(headers->size() == items->size());
    for (std::size_t i = 0; i < items->size(); ++i) {
      CHECK((*headers)[i].entry_id == (*items)[i].entry_id);
      CHECK((*headers)[i].change_key == (*items)[i].change_key);
      CHECK((*headers)[i].modified == (*items)[i].item.modified);
      CHECK((*headers)[i].tracked == (*items)[i].link.tracked);
    }
  }
  auto headers = s->scan_headers_since(ItemKind::kContact, UtcTime{0});
  REQUIRE(headers.ok());
  CHECK(std::count_if(headers->begin(), headers->end(), [](const auto& x) { return x.tracked; }) ==
        1);
}

TEMPLATE_TEST_CASE("X1: find_by_crm_id finds the linked item - pending or not", "[store][contract]",
                   STORES) {
  TestType h;
  auto s = h.open();
  NewStoreItem n = contact("Ann", "Lee");
  n.link = CrmLink{true, guid(42), true, std::nullopt};
  auto created = s->create(n);
  REQUIRE(created.ok());
  REQUIRE(s->create(contact("Other", "One")).ok());

  auto found = s->find_by_crm_id(guid(42));
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->entry_id == created->entry_id);
  CHECK((*found)->link.crm_id_pending);

  auto none = s->find_by_crm_id(guid(43));
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());

  REQUIRE(s->update(created->entry_id, created->change_key, {},
                    CrmLink{true, guid(44), false, CrmEntity::kContact})
              .ok());
  auto old = s->find_by_crm_id(guid(42));
  REQUIRE(old.ok());
  CHECK_FALSE(old->has_value());
  auto moved = s->find_by_crm_id(guid(44));
  REQUIRE(moved.ok());
  REQUIRE(moved->has_value());
  CHECK_FALSE((*moved)->link.crm_id_pending);
}

TEMPLATE_TEST_CASE("S1: the daemon's writes are events in order - read with cursors",
                   "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  auto a = s->create(contact("Ann", "Lee"));
  REQUIRE(a.ok());
  auto key =
      s->update(a->entry_id, a->change_key, {{"LastName", Value(std::string("X"))}}, std::nullopt);
  REQUIRE(key.ok());
  REQUIRE(s->remove(a->entry_id).ok());

  auto ev = all_events(*s);
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].action == Action::kCreate);
  CHECK(ev[1].action == Action::kUpdate);
  CHECK(ev[2].action == Action::kDelete);
  for (const auto& e : ev) {
    CHECK(e.entry_id == a->entry_id);
    CHECK(e.kind == ItemKind::kContact);
    CHECK(e.surface == Surface::kNone);
  }
  CHECK(ev[0].seq < ev[1].seq);
  CHECK(ev[1].seq < ev[2].seq);

  auto rest = s->events_after(ev[0].seq, 100);
  REQUIRE(rest.ok());
  REQUIRE(rest->size() == 2);
  CHECK((*rest)[0].seq == ev[1].seq);
  auto one = s->events_after(0, 1);
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].seq == ev[0].seq);
  auto none = s->events_after(ev[2].seq, 100);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEMPLATE_TEST_CASE("store contract: two connections see each other's writes and events",
                   "[store][contract]", STORES) {
  TestType h;
  auto a = h.open();
  auto b = h.open();
  auto created = a->create(contact("Ann", "Lee"));
  REQUIRE(created.ok());
  auto seen = b->get(created->entry_id);
  REQUIRE(seen.ok());
  CHECK(seen->change_key == created->change_key);

  auto key = b->update(created->entry_id, seen->change_key,
                       {{"LastName", Value(std::string("Smith"))}}, std::nullopt);
  REQUIRE(key.ok());
  // a's view of the change key is stale now
  auto stale = a->update(created->entry_id, created->change_key, {}, std::nullopt);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().is(ErrorKind::kConflict));

  auto ev_a = all_events(*a);
  auto ev_b = all_events(*b);
  REQUIRE(ev_a.size() == 2);
  REQUIRE(ev_b.size() == 2);
  CHECK(ev_a[1].seq == ev_b[1].seq);
}

TEMPLATE_TEST_CASE("S1: wait_for_events wakes up for another connection's write",
                   "[store][contract]", STORES) {
  TestType h;
  auto a = h.open();
  auto b = h.open();
  REQUIRE(a->create(contact("Ann", "Lee")).ok());
  auto ev = all_events(*a);
  REQUIRE(ev.size() == 1);
  std::int64_t cursor = ev.back().seq;

  CHECK(b->wait_for_events(0, 10s));              // already there: at once
  CHECK_FALSE(b->wait_for_events(cursor, 30ms));  // nothing new: false at the deadline

  std::thread writer([&] { (void)a->create(contact("Bob", "Ray")); });
  bool woke = b->wait_for_events(cursor, 20s);
  writer.join();
  CHECK(woke);
}

TEMPLATE_TEST_CASE("X3: unknown fields and values of the wrong type are kInvalid - nothing written",
                   "[store][contract]", STORES) {
  TestType h;
  auto s = h.open();
  NewStoreItem bad = contact("Ann", "Lee");
  bad.item.fields["NoSuchField"] = std::string("x");
  auto r = s->create(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));

  NewStoreItem wrong_type = contact("Ann", "Lee");
  wrong_type.item.fields["Birthday"] = std::string("yesterday");
  auto r2 = s->create(wrong_type);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().is(ErrorKind::kInvalid));

  NewStoreItem bad_choice = task("t");
  bad_choice.item.fields["Importance"] = std::string("Urgent");
  auto r3 = s->create(bad_choice);
  REQUIRE_FALSE(r3.ok());
  CHECK(r3.error().is(ErrorKind::kInvalid));

  auto items = s->scan_modified_since(ItemKind::kContact, UtcTime{0});
  REQUIRE(items.ok());
  CHECK(items->empty());
  CHECK(all_events(*s).empty());

  auto good = s->create(contact("Ann", "Lee"));
  REQUIRE(good.ok());
  auto upd = s->update(good->entry_id, good->change_key, {{"Bogus", Value(std::int64_t{1})}},
                       std::nullopt);
  REQUIRE_FALSE(upd.ok());
  CHECK(upd.error().is(ErrorKind::kInvalid));
  auto got = s->get(good->entry_id);
  REQUIRE(got.ok());
  CHECK(got->change_key == good->change_key);
  CHECK(all_events(*s).size() == 1);
}

TEMPLATE_TEST_CASE("X3: hostile values are rejected or stored exactly", "[store][contract]",
                   STORES) {
  TestType h;
  auto s = h.open();
  auto roundtrip_or_invalid = [&](const std::string& field, const std::string& text) {
    NewStoreItem n = contact("Ann", "Lee");
    n.item.fields[field] = text;
    auto r = s->create(n);
    if (!r.ok()) {
      CHECK(r.error().is(ErrorKind::kInvalid));
      return false;
    }
    auto got = s->get(r->entry_id);
    REQUIRE(got.ok());
    CHECK(got->item.text(field) == text);
    return true;
  };
  std::string huge(1u << 20, 'x');
  huge[12345] = '\n';
  CHECK(roundtrip_or_invalid("Body", huge));
  roundtrip_or_invalid("Body", std::string("nul\0inside\0", 11));
  roundtrip_or_invalid("FirstName", "bad \xC3\x28 utf8 \xFF");
  roundtrip_or_invalid("FirstName", "\xED\xA0\x80 surrogate");
  roundtrip_or_invalid("LastName", "quotes \" and \\ and ]} and '); DROP TABLE items; --");
  CHECK(roundtrip_or_invalid("Body", "emoji \xF0\x9F\x98\x80 and \xE2\x82\xAC"));
}

TEMPLATE_TEST_CASE(
    "S2: headers_changed_after lists what was written after a position - nothing "
    "when nothing was",
    "[store][contract][positions]", STORES) {
  TestType h;
  auto s = h.open();
  if (!s->has_change_positions()) {
    CHECK_FALSE(s->headers_changed_after(ItemKind::kContact, "").ok());
    return;  // the store keeps no order of its writes: the engine scans by time
  }
  auto a = s->create(contact("Ann", "Lee"));
  auto b = s->create(contact("Bob", "Ray"));
  auto t = s->create(task("Call"));
  REQUIRE((a.ok() && b.ok() && t.ok()));
  auto ids = [](const ChangedHeaders& c) {
    std::set<std::string> out;
    for (const auto& x : c.headers) out.insert(x.entry_id.str());
    return out;
  };
  auto all = s->headers_changed_after(ItemKind::kContact, "");
  REQUIRE(all.ok());
  CHECK(ids(*all) == std::set<std::string>{a->entry_id.str(), b->entry_id.str()});
  CHECK_FALSE(all->position.empty());

  // Nothing written since: nothing listed, whatever the store's size.
  auto none = s->headers_changed_after(ItemKind::kContact, all->position);
  REQUIRE(none.ok());
  CHECK(none->headers.empty());

  // A change after the position is listed with its new change key, and only for its kind.
  h.advance(1s);
  auto key = s->update(b->entry_id, b->change_key, {{"JobTitle", std::string("Pilot")}}, {});
  REQUIRE(key.ok());
  auto changed = s->headers_changed_after(ItemKind::kContact, none->position);
  REQUIRE(changed.ok());
  REQUIRE(changed->headers.size() == 1);
  CHECK(changed->headers[0].entry_id == b->entry_id);
  CHECK(changed->headers[0].change_key == *key);
  auto tasks = s->headers_changed_after(ItemKind::kTask, none->position);
  REQUIRE(tasks.ok());
  CHECK(tasks->headers.empty());

  // A deleted item is not listed (S1/S3 report deletions).
  REQUIRE(s->remove(a->entry_id).ok());
  auto after_delete = s->headers_changed_after(ItemKind::kContact, changed->position);
  REQUIRE(after_delete.ok());
  CHECK(after_delete->headers.empty());

  // Another connection sees the same order.
  auto other = h.open();
  auto again = other->headers_changed_after(ItemKind::kContact, none->position);
  REQUIRE(again.ok());
  CHECK(ids(*again) == std::set<std::string>{b->entry_id.str()});

  // A position the store never gave is refused.
  for (const char* bogus : {"not-a-position", "-5", "999999999"}) {
    INFO(bogus);
    auto r = s->headers_changed_after(ItemKind::kContact, bogus);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
  }
}
