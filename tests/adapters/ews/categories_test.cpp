// SPEC U1 and U2 in the EWS adapter on the real ews-emulator, with exchangelib (an EWS client
// written independently of crmsync) as the user in Outlook on the web: the track category
// added or removed by the user is the explorer's track or untrack, the daemon's track puts it
// on the item beside the user's own categories and once into the master category list, and
// the user's decisions through the daemon land in the change log. Every request the adapter
// sent validates against the official schema.
#include <catch2/catch.hpp>

#include <rapidjson/document.h>

#include "codec.hpp"
#include "crmsync/core/sqlite.hpp"
#include "ews_harness.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

namespace {

const std::string kOurs(kDefaultTrackCategory);

// The user (exchangelib) on the harness's mailbox; the first stdout line.
std::string user(const test::EwsHarness& h, const std::vector<std::string>& args) {
  auto r =
      ewstest::mailbox_user(ewstest::Emulator::shared(nullptr)->url(), h.email, "secret", args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return r.out.substr(0, r.out.find('\n'));
}

rapidjson::Document json(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.c_str());
  return d;
}

std::vector<std::string> strings(const rapidjson::Value& v) {
  std::vector<std::string> out;
  if (v.IsArray())
    for (const auto& s : v.GetArray()) out.emplace_back(s.GetString());
  return out;
}

// The contact's categories as the user sees them in Outlook on the web.
std::vector<std::string> categories_seen(const test::EwsHarness& h, const std::string& id) {
  auto d = json(user(h, {"show", "contact", id}));
  REQUIRE(d.IsObject());
  return strings(d["categories"]);
}

std::vector<StoreEvent> events(StoreAdapter& s, std::int64_t after) {
  auto ev = s.events_after(after, 100);
  REQUIRE(ev.ok());
  return *ev;
}

void all_requests_valid(const test::EwsHarness& h) {
  if (!ewstest::require_schema_check()) return;
  std::vector<std::string> bodies;
  {
    std::lock_guard<std::mutex> lock(ewstest::RecordingTransport::mu());
    bodies = *h.requests;
  }
  std::string errors = ewstest::schema_errors(bodies);
  INFO(errors);
  CHECK(errors.empty());
}

}  // namespace

TEST_CASE(
    "U1: the user adds the track category in Outlook on the web - the explorer's track - "
    "removes it - the explorer's untrack",
    "[ews][emulator][U1]") {
  if (!ewstest::require_exchangelib()) return;
  test::EwsHarness h;
  auto s = h.open();
  REQUIRE(events(*s, 0).empty());  // the baseline
  std::string id = user(h, {"create", "contact", R"({"given_name":"Ann","surname":"Lee"})"});
  auto created = events(*s, 0);
  REQUIRE(created.size() == 1);
  CHECK(created[0].action == Action::kCreate);
  const auto cursor = created[0].seq;

  // She ticks "Tracked to Dynamics 365" beside her own category.
  user(h, {"update", "contact", id, R"({"categories":["Red","Tracked to Dynamics 365"]})"});
  auto tracked = events(*s, cursor);
  REQUIRE(tracked.size() == 1);
  CHECK(tracked[0].action == Action::kTrack);
  CHECK(tracked[0].surface == Surface::kExplorer);
  CHECK(tracked[0].entry_id.str() == id);
  CHECK(tracked[0].kind == ItemKind::kContact);
  // The tracked mark follows the category (U1, both ways); her categories are as she left them,
  // and the adapter's own write is no further event.
  auto item = s->get(EntryId(id));
  REQUIRE(item.ok());
  CHECK(item->link.tracked);
  CHECK(item->categories == std::vector<std::string>{"Red", kOurs});
  CHECK(events(*s, tracked[0].seq).empty());

  // She unticks it: the explorer's untrack, the CRM link cleared, Red kept.
  user(h, {"update", "contact", id, R"({"categories":["Red"]})"});
  auto untracked = events(*s, tracked[0].seq);
  REQUIRE(untracked.size() == 1);
  CHECK(untracked[0].action == Action::kUntrack);
  CHECK(untracked[0].surface == Surface::kExplorer);
  CHECK_FALSE(untracked[0].delete_in_crm);
  item = s->get(EntryId(id));
  REQUIRE(item.ok());
  CHECK_FALSE(item->link.tracked);
  CHECK_FALSE(item->link.crm_id);
  CHECK(item->categories == std::vector<std::string>{"Red"});
  CHECK(events(*s, untracked[0].seq).empty());

  // Another category changes nothing of the link: an update from elsewhere.
  user(h, {"update", "contact", id, R"({"categories":["Red","Blue"]})"});
  auto other = events(*s, untracked[0].seq);
  REQUIRE(other.size() == 1);
  CHECK(other[0].action == Action::kUpdate);
  CHECK(other[0].surface == Surface::kNone);
  all_requests_valid(h);
}

TEST_CASE(
    "U1: an item tracked before categories counted is no untrack - a created one with the "
    "category is a track",
    "[ews][emulator][U1]") {
  if (!ewstest::require_exchangelib()) return;
  test::EwsHarness h;
  auto s = h.open();
  REQUIRE(events(*s, 0).empty());
  // Tracked through the CRM add-in's named property, without the category.
  std::string old = user(h, {"create", "contact", R"({"given_name":"Old","tracked":true})"});
  auto ev = events(*s, 0);
  REQUIRE(ev.size() == 1);
  user(h, {"update", "contact", old, R"({"job_title":"CTO"})"});
  auto upd = events(*s, ev.back().seq);
  REQUIRE(upd.size() == 1);
  CHECK(upd[0].action == Action::kUpdate);
  // A contact made on the phone with the category already on it.
  std::string fresh = user(
      h, {"create", "contact", R"({"given_name":"New","categories":["Tracked to Dynamics 365"]})"});
  auto made = events(*s, upd[0].seq);
  REQUIRE(made.size() == 1);
  CHECK(made[0].action == Action::kTrack);
  CHECK(made[0].entry_id.str() == fresh);
  CHECK(s->get(EntryId(fresh))->link.tracked);
}

TEST_CASE(
    "U1: the daemon's track puts the category on the item beside the user's - its untrack "
    "takes it off - the master category list gets it once",
    "[ews][emulator][U1]") {
  if (!ewstest::require_exchangelib()) return;
  test::EwsHarness h;
  auto s = h.open();
  // The user has her own master list and categories.
  user(h, {"set-master-categories", R"(["Red","Blue"])"});
  std::string id = user(h, {"create", "contact", R"({"given_name":"Bo","categories":["Blue"]})"});
  auto item = s->get(EntryId(id));
  REQUIRE(item.ok());
  CHECK(item->categories == std::vector<std::string>{"Blue"});

  // The engine tracks it (a CLI track, E2's link): the category joins hers.
  const CrmLink link{true, CrmId::generate(), false, CrmEntity::kContact};
  auto ck = s->update(item->entry_id, item->change_key, {}, link);
  REQUIRE(ck.ok());
  CHECK(categories_seen(h, id) == std::vector<std::string>{"Blue", kOurs});
  auto master = json(user(h, {"master-categories"}));
  CHECK(strings(master) == std::vector<std::string>{"Red", "Blue", kOurs});
  auto d = json(user(h, {"show", "contact", id}));
  CHECK(d["tracked"].IsTrue());

  // A record created from CRM: tracked, so it carries the category; the list is not read again.
  NewStoreItem n = ewstest::contact("From", "Crm");
  n.link = CrmLink{true, CrmId::generate(), false, CrmEntity::kContact};
  const auto reads = [&] {
    std::lock_guard<std::mutex> lock(ewstest::RecordingTransport::mu());
    return std::count_if(h.requests->begin(), h.requests->end(), [](const std::string& b) {
      return b.find("<m:GetUserConfiguration>") != std::string::npos;
    });
  };
  const auto before = reads();
  auto made = s->create(n);
  REQUIRE(made.ok());
  CHECK(made->categories == std::vector<std::string>{kOurs});
  CHECK(reads() == before);
  CHECK(strings(json(user(h, {"master-categories"}))).size() == 3);

  // The engine unlinks it (D6): ours comes off, hers stays; no event is an intent.
  auto now = s->get(item->entry_id);
  REQUIRE(now.ok());
  auto cursor = events(*s, 0).back().seq;
  REQUIRE(s->update(item->entry_id, now->change_key, {}, CrmLink{}).ok());
  CHECK(categories_seen(h, id) == std::vector<std::string>{"Blue"});
  auto after = events(*s, cursor);
  REQUIRE(after.size() == 1);
  CHECK(after[0].action == Action::kUpdate);
  all_requests_valid(h);
}

TEST_CASE("U1: a mailbox without a master list gets one - a list that is not one is left alone",
          "[ews][emulator][U1][hostile]") {
  if (!ewstest::require_exchangelib()) return;
  test::EwsHarness h;
  auto s = h.open();
  CHECK(user(h, {"master-categories"}) == "null");
  NewStoreItem n = ewstest::contact("First", "Tracked");
  n.link.tracked = true;
  REQUIRE(s->create(n).ok());
  CHECK(strings(json(user(h, {"master-categories"}))) == std::vector<std::string>{kOurs});

  // A mailbox whose list is not one crmsync reads (a DOCTYPE): the item is still written with
  // the category, and the list is left as it was.
  test::EwsHarness h2;
  const std::string broken =
      "<!DOCTYPE categories [<!ENTITY x \"y\">]><categories><category name=\"&x;\"/></categories>";
  user(h2, {"set-master-xml", broken});
  auto other = h2.open();
  NewStoreItem t = ewstest::contact("Second", "Tracked");
  t.link.tracked = true;
  auto made = other->create(t);
  REQUIRE(made.ok());
  CHECK(made->categories == std::vector<std::string>{kOurs});
  auto config = user(h2, {"show-master-xml"});
  CHECK(config == broken);
  // A batch from CRM after that failure does not ask again for each item.
  std::vector<NewStoreItem> batch;
  for (int i = 0; i < 3; ++i) {
    batch.push_back(ewstest::contact("Batch" + std::to_string(i), "Tracked"));
    batch.back().link.tracked = true;
  }
  for (const auto& r : other->create_many(batch)) CHECK(r.ok());
  std::lock_guard<std::mutex> lock(ewstest::RecordingTransport::mu());
  CHECK(std::count_if(h2.requests->begin(), h2.requests->end(), [](const std::string& b) {
          return b.find("<m:GetUserConfiguration>") != std::string::npos;
        }) == 1);
}

TEST_CASE("U1: with sync.track_category off no category is written or read as intent",
          "[ews][emulator][U1]") {
  if (!ewstest::require_exchangelib()) return;
  test::EwsHarness h;
  EwsStoreConfig c = h.config();
  c.track_category = "  ";
  auto s = h.open_with(c);
  REQUIRE(events(*s, 0).empty());
  NewStoreItem n = ewstest::contact("Off", "Tracked");
  n.link.tracked = true;
  auto made = s->create(n);
  REQUIRE(made.ok());
  CHECK(made->categories.empty());
  const auto cursor = events(*s, 0).back().seq;
  user(h, {"update", "contact", made->entry_id.str(),
           R"({"categories":["Tracked to Dynamics 365"]})"});
  auto ev = events(*s, cursor);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUpdate);
  CHECK(user(h, {"master-categories"}) == "null");
  // A name a mailbox would not keep is refused at open.
  c.track_category = "a;b";
  auto bad = open_ews_store(c, system_clock());
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().is(ErrorKind::kInvalid));
}

TEST_CASE(
    "U2: the user's decisions through the daemon are the explorer's events - track and "
    "untrack set the mark and the category",
    "[ews][emulator][U2]") {
  test::EwsHarness h;
  auto s = h.open();
  REQUIRE(events(*s, 0).empty());
  NewStoreItem n = ewstest::contact("Dee", "Cide");
  auto made = s->create(n);
  REQUIRE(made.ok());
  const auto start = events(*s, 0).back().seq;
  StoreEvent decision;
  decision.kind = ItemKind::kContact;
  decision.entry_id = made->entry_id;

  decision.action = Action::kTrack;
  auto seq = s->record_decision(decision);
  REQUIRE(seq.ok());
  auto ev = events(*s, start);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].seq == *seq);
  CHECK(ev[0].action == Action::kTrack);
  CHECK(ev[0].surface == Surface::kExplorer);
  CHECK(ev[0].phase == Phase::kNone);
  auto item = s->get(made->entry_id);
  REQUIRE(item.ok());
  CHECK(item->link.tracked);
  CHECK(item->categories == std::vector<std::string>{kOurs});
  CHECK(events(*s, *seq).empty());  // the mark's write is not reported again

  decision.action = Action::kSetRegarding;
  auto regarding = s->record_decision(decision);
  REQUIRE(regarding.ok());
  CHECK(*regarding > *seq);

  decision.action = Action::kUntrack;
  decision.delete_in_crm = true;
  auto untrack = s->record_decision(decision);
  REQUIRE(untrack.ok());
  ev = events(*s, *regarding);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kUntrack);
  CHECK(ev[0].delete_in_crm);
  CHECK(ev[0].surface == Surface::kExplorer);
  item = s->get(made->entry_id);
  REQUIRE(item.ok());
  CHECK_FALSE(item->link.tracked);
  CHECK(item->categories.empty());

  // Unknown items and other actions: a clear error, nothing logged.
  decision.entry_id = EntryId("AAMkAGI2TG93AAA=");
  auto unknown = s->record_decision(decision);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().is(ErrorKind::kNotFound));
  decision.entry_id = made->entry_id;
  decision.action = Action::kUpdate;
  auto other = s->record_decision(decision);
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().is(ErrorKind::kInvalid));
  CHECK(events(*s, *untrack).empty());
  all_requests_valid(h);
}

TEST_CASE("S1: a state file of version 1 migrates - its events keep their order and read back",
          "[ews][emulator][state]") {
  test::EwsHarness h;
  EwsStoreConfig c = h.config("old-state.db");
  {
    auto db = sql::Database::open(c.state_path);
    REQUIRE(db.ok());
    REQUIRE(
        db->exec("CREATE TABLE sync_state(folder TEXT PRIMARY KEY, state TEXT NOT NULL);"
                 "CREATE TABLE known(entry_id TEXT PRIMARY KEY, folder TEXT NOT NULL,"
                 " change_key TEXT NOT NULL);"
                 "CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
                 " entry_id TEXT NOT NULL, action TEXT NOT NULL, at_ms INTEGER NOT NULL);"
                 "INSERT INTO events(kind, entry_id, action, at_ms)"
                 " VALUES('contact', 'OLD', 'update', 1767225600000);")
            .ok());
    REQUIRE(db->set_user_version(1).ok());
  }
  auto s = h.open_with(c);
  auto ev = events(*s, 0);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].entry_id.str() == "OLD");
  CHECK(ev[0].action == Action::kUpdate);
  CHECK(ev[0].surface == Surface::kNone);
  CHECK(ev[0].at == UtcTime{1'767'225'600'000});
  auto n = s->create(ewstest::contact("After", "Migration"));
  REQUIRE(n.ok());
  ev = events(*s, 0);
  REQUIRE(ev.size() == 2);
  CHECK(ev[1].seq > ev[0].seq);
  // A newer version than this binary's is refused, the file left alone.
  {
    auto db = sql::Database::open(c.state_path);
    REQUIRE(db->set_user_version(99).ok());
  }
  auto newer = open_ews_store(c, system_clock());
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().is(ErrorKind::kCorrupt));
}

// ---- the codec alone (no emulator)

namespace {

std::string text(const Result<std::string>& r) {
  if (!r) FAIL(r.error().describe());
  return *r;
}

ews::Message get_config_reply(const std::string& payload) {
  auto msgs = ews::parse_response(
      "GetUserConfiguration", 200,
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
      "<m:GetUserConfigurationResponse "
      "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
      "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><m:ResponseMessages>"
      "<m:GetUserConfigurationResponseMessage ResponseClass=\"Success\">"
      "<m:ResponseCode>NoError</m:ResponseCode>" +
          payload +
          "</m:GetUserConfigurationResponseMessage></m:ResponseMessages>"
          "</m:GetUserConfigurationResponse></s:Body></s:Envelope>");
  REQUIRE(msgs.ok());
  return msgs->front();
}

}  // namespace

TEST_CASE("U1: the codec writes and reads categories and TrackCategory - schema valid",
          "[ews][codec][U1]") {
  NewStoreItem n = ewstest::contact("Ann", "Lee");
  n.link.tracked = true;
  CategoryWrite w;
  w.categories = std::vector<std::string>{"Red", kOurs};
  w.kept = kOurs;
  const ews::ItemRef ref{"AAMkAGI=", "CQAAABYA"};
  std::vector<std::string> ops = {
      text(ews::create_item(n, "UTC", w)),
      text(ews::update_item(ItemKind::kContact, ref, {}, CrmLink{true, {}, false, {}}, "UTC", w)),
      text(ews::update_mark(ItemKind::kTask, ref, true, w)),
      text(ews::update_mark(ItemKind::kAppointment, ref, false,
                            CategoryWrite{std::vector<std::string>{}, std::string(), false})),
      ews::get_category_list(),
      ews::create_category_list("<categories xmlns=\"CategoryList.xsd\"/>"),
      ews::update_category_list("<categories/>"),
      ews::get_items({"AAMkAGI="}, false),
      ews::sync_folder_items(Folder::kContacts, "", 10),
  };
  CHECK_THAT(ops[0], Catch::Contains("<t:Categories><t:String>Red</t:String><t:String>"
                                     "Tracked to Dynamics 365</t:String></t:Categories>"));
  CHECK_THAT(ops[0], Catch::Contains("PropertyName=\"TrackCategory\""));
  // An untrack clears the link, takes the categories and TrackCategory away.
  CHECK_THAT(ops[3],
             Catch::Contains("<t:DeleteItemField><t:FieldURI FieldURI=\"item:Categories\""));
  CHECK_THAT(ops[3], Catch::Contains("<t:Value>false</t:Value>"));
  // A track sets Tracked alone of the link.
  CHECK(ops[2].find("PropertyName=\"CrmId\"") == std::string::npos);
  if (ewstest::require_schema_check()) {
    std::vector<std::string> envelopes;
    for (const auto& op : ops) envelopes.push_back(ews::envelope(op));
    auto errors = ewstest::schema_errors(envelopes);
    INFO(errors);
    CHECK(errors.empty());
  }
  // Text XML cannot carry is refused.
  CategoryWrite bad;
  bad.categories = std::vector<std::string>{"a\x01"};
  CHECK(ews::create_item(n, "UTC", bad).error().is(ErrorKind::kInvalid));
  CHECK(ews::update_mark(ItemKind::kContact, ref, true, bad).error().is(ErrorKind::kInvalid));
}

TEST_CASE("U1: a master list reply - decoded - hostile XmlData refused", "[ews][codec][U1]") {
  CHECK(*ews::user_config_xml_of(get_config_reply(
            "<m:UserConfiguration><t:UserConfigurationName Name=\"CategoryList\">"
            "<t:DistinguishedFolderId Id=\"calendar\"/></t:UserConfigurationName>"
            "<t:XmlData>PGNhdGVnb3JpZXMvPg==</t:XmlData></m:UserConfiguration>")) ==
        "<categories/>");
  CHECK(ews::user_config_xml_of(get_config_reply("<m:UserConfiguration/>"))->empty());
  for (const std::string& bad :
       {std::string(
            "<m:UserConfiguration><t:XmlData>not base64!</t:XmlData></m:UserConfiguration>"),
        std::string(""),
        "<m:UserConfiguration><t:XmlData>" + std::string(kMaxCategoryListBytes * 2, 'A') +
            "</t:XmlData></m:UserConfiguration>"}) {
    auto r = ews::user_config_xml_of(get_config_reply(bad));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
  }
}
