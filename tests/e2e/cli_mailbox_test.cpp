// `crmsync mailbox ...` as scripts drive it (DESIGN.md contract): the real binary, its
// stdout/stderr and exit codes; the file it writes read back through the mock mailbox.
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <regex>

#include "crmsync/core/sqlite.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/temp_dir.hpp"

using namespace crmsync;

namespace {

constexpr const char* kGuid = "6f1c0000-0000-4000-8000-000000000001";

struct Cli {
  test::TempDir dir;
  std::string db = dir.file("mailbox.db");

  test::RunResult raw(std::vector<std::string> args) const {
    args.insert(args.begin(), CRMSYNC_BIN);
    return test::run_program(args);
  }
  test::RunResult mailbox(std::vector<std::string> args) const {
    args.insert(args.begin(), {"mailbox", "--db", db});
    return raw(std::move(args));
  }
  // Runs `mailbox add ...`, requires success and the id alone on stdout.
  std::string add(std::vector<std::string> args) const {
    args.insert(args.begin(), "add");
    auto r = mailbox(std::move(args));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    static const std::regex kIdLine("[0-9A-F]{48}\n");
    REQUIRE(std::regex_match(r.out, kIdLine));
    return r.out.substr(0, 48);
  }
  void ok(std::vector<std::string> args) const {
    auto r = mailbox(std::move(args));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  rapidjson::Document json(std::vector<std::string> args) const {
    auto r = mailbox(std::move(args));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    rapidjson::Document d;
    d.Parse(r.out.c_str());
    REQUIRE_FALSE(d.HasParseError());
    return d;
  }
  rapidjson::Document show(const std::string& id) const { return json({"show", id, "--json"}); }

  std::vector<StoreEvent> events(std::int64_t after = 0) const {
    FakeClock clock;
    auto m = open_mock_mailbox(db, clock);
    REQUIRE(m.ok());
    auto ev = (*m)->events_after(after, 100'000);
    REQUIRE(ev.ok());
    return *ev;
  }
  std::int64_t last_seq() const {
    auto ev = events();
    return ev.empty() ? 0 : ev.back().seq;
  }
  // Everything a script can observe: the items as JSON and the change log.
  std::string snapshot() const {
    auto r = mailbox({"list", "--json"});
    REQUIRE(r.exit_code == 0);
    std::string s = r.out;
    for (const auto& e : events())
      s += std::to_string(e.seq) + " " + std::string(to_string(e.action)) + " " + e.entry_id.str() +
           "\n";
    return s;
  }
};

std::string str(const rapidjson::Value& v) {
  return {v.GetString(), v.GetStringLength()};
}

}  // namespace

TEST_CASE("CLI: add prints the entry id alone - show --json has the contract's shape", "[cli]") {
  Cli cli;
  std::string id = cli.add({"contact", "FirstName=Ann", "LastName=Lee", "Birthday=1980-02-29"});
  auto d = cli.show(id);
  REQUIRE(d.IsObject());
  for (const char* key : {"entry_id", "kind", "tracked", "crm_id", "fields", "modified"})
    CHECK(d.HasMember(key));
  CHECK(str(d["entry_id"]) == id);
  CHECK(str(d["kind"]) == "contact");
  CHECK(str(d["folder"]) == "contacts");
  CHECK(d["tracked"].IsFalse());
  CHECK(d["crm_id"].IsNull());
  REQUIRE(d["fields"].IsObject());
  CHECK(str(d["fields"]["FirstName"]) == "Ann");
  CHECK(str(d["fields"]["Birthday"]) == "1980-02-29");
  CHECK(std::regex_match(str(d["modified"]),
                         std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z)")));
}

TEST_CASE("CLI: list --json is an array - newest first - --kind filters - table without --json",
          "[cli]") {
  Cli cli;
  std::string a = cli.add({"contact", "FirstName=Ann"});
  std::string t = cli.add({"task", "Subject=Call back"});
  std::string b = cli.add({"contact", "FirstName=Bob"});
  cli.ok({"set", a, "LastName=Lee"});  // a is the newest now
  auto all = cli.json({"list", "--json"});
  REQUIRE(all.IsArray());
  REQUIRE(all.Size() == 3);
  CHECK(str(all[0]["entry_id"]) == a);
  auto contacts = cli.json({"list", "--kind", "contact", "--json"});
  REQUIRE(contacts.Size() == 2);
  for (const auto& it : contacts.GetArray()) CHECK(str(it["kind"]) == "contact");
  auto empty = cli.json({"list", "--kind", "email", "--json"});
  CHECK((empty.IsArray() && empty.Empty()));
  auto table = cli.mailbox({"list"});
  CHECK(table.exit_code == 0);
  CHECK(table.out.find(t) != std::string::npos);
  CHECK(table.out.find("Call back") != std::string::npos);
  auto text = cli.mailbox({"show", b});
  CHECK(text.exit_code == 0);
  CHECK(text.out.find("FirstName: Bob") != std::string::npos);
}

TEST_CASE("CLI: typed values in JSON: times - dates - choices - Regarding - party lists", "[cli]") {
  Cli cli;
  std::string id =
      cli.add({"appointment", "Subject=Review", "Start=2026-03-01T09:00:00+01:00", "Duration=90",
               "AllDayEvent=false", "Importance=High", std::string("Regarding=account:") + kGuid,
               "RequiredAttendees=a@x.org; Bob <b@y.org>"});
  auto d = cli.show(id);
  const auto& f = d["fields"];
  CHECK(str(f["Start"]) == "2026-03-01T08:00:00Z");
  CHECK(f["Duration"].GetInt64() == 90);
  CHECK(f["AllDayEvent"].IsFalse());
  CHECK(str(f["Importance"]) == "High");
  CHECK(str(f["Regarding"]) == std::string("account:") + kGuid);
  REQUIRE(f["RequiredAttendees"].IsArray());
  REQUIRE(f["RequiredAttendees"].Size() == 2);
  CHECK(str(f["RequiredAttendees"][0]["address"]) == "a@x.org");
  CHECK(str(f["RequiredAttendees"][1]["address"]) == "b@y.org");
  CHECK(str(f["RequiredAttendees"][1]["name"]) == "Bob");
}

TEST_CASE("CLI: set changes fields - FIELD= clears one", "[cli]") {
  Cli cli;
  std::string id = cli.add({"task", "Subject=Old", "Body=text", "Status=NotStarted"});
  cli.ok({"set", id, "Subject=New", "Body=", "Status=Complete"});
  auto d = cli.show(id);
  CHECK(str(d["fields"]["Subject"]) == "New");
  CHECK_FALSE(d["fields"].HasMember("Body"));
  CHECK(str(d["fields"]["Status"]) == "Complete");
  auto ev = cli.events();
  REQUIRE(ev.size() == 2);
  CHECK(ev[1].action == Action::kUpdate);
  CHECK(ev[1].surface == Surface::kNone);
}

TEST_CASE("CLI T2: --via inspector is save then close - explorer one event - none elsewhere",
          "[cli]") {
  Cli cli;
  std::string id = cli.add({"contact", "--track", "--via", "inspector", "FirstName=Ann"});
  auto ev = cli.events();
  REQUIRE(ev.size() == 4);
  CHECK((ev[0].action == Action::kCreate && ev[0].phase == Phase::kSave));
  CHECK((ev[1].action == Action::kCreate && ev[1].phase == Phase::kClose));
  CHECK((ev[2].action == Action::kTrack && ev[2].phase == Phase::kSave));
  CHECK((ev[3].action == Action::kTrack && ev[3].phase == Phase::kClose));
  for (const auto& e : ev) CHECK(e.surface == Surface::kInspector);
  CHECK(cli.show(id)["tracked"].IsTrue());

  auto seq = cli.last_seq();
  cli.ok({"set", id, "LastName=Lee", "--via", "explorer"});
  ev = cli.events(seq);
  REQUIRE(ev.size() == 1);
  CHECK((ev[0].surface == Surface::kExplorer && ev[0].phase == Phase::kNone));

  seq = cli.last_seq();
  cli.ok({"set", "--via", "inspector", id, "LastName=Li"});
  ev = cli.events(seq);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].phase == Phase::kSave);
  CHECK(ev[1].phase == Phase::kClose);

  seq = cli.last_seq();
  cli.ok({"set", id, "LastName=Lo"});
  ev = cli.events(seq);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].surface == Surface::kNone);
}

TEST_CASE("CLI: track - untrack --delete-in-crm - regarding - send and delete", "[cli]") {
  Cli cli;
  std::string task = cli.add({"task", "Subject=Follow up"});

  auto seq = cli.last_seq();
  cli.ok({"track", task, "--via", "explorer"});
  CHECK(cli.show(task)["tracked"].IsTrue());
  auto ev = cli.events(seq);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kTrack);
  CHECK(ev[0].surface == Surface::kExplorer);

  seq = cli.last_seq();
  cli.ok({"regarding", task, std::string("account:") + kGuid, "--via", "explorer"});
  CHECK(str(cli.show(task)["fields"]["Regarding"]) == std::string("account:") + kGuid);
  ev = cli.events(seq);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kSetRegarding);

  seq = cli.last_seq();
  cli.ok({"untrack", task, "--delete-in-crm", "--via", "inspector"});
  CHECK(cli.show(task)["tracked"].IsFalse());
  ev = cli.events(seq);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].action == Action::kUntrack);
  CHECK(ev[0].delete_in_crm);
  CHECK(ev[1].phase == Phase::kClose);

  seq = cli.last_seq();
  cli.ok({"untrack", task});
  ev = cli.events(seq);
  REQUIRE(ev.size() == 1);
  CHECK_FALSE(ev[0].delete_in_crm);

  std::string draft =
      cli.add({"email", "--folder", "drafts", "--track", "Subject=Hi", "To=c@z.org"});
  CHECK(str(cli.show(draft)["folder"]) == "drafts");
  seq = cli.last_seq();
  cli.ok({"send", draft});
  auto sent = cli.show(draft);
  CHECK(str(sent["folder"]) == "sentitems");
  CHECK(sent["tracked"].IsTrue());
  ev = cli.events(seq);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kSend);
  CHECK(ev[0].phase == Phase::kSend);
  CHECK(ev[0].surface == Surface::kInspector);

  seq = cli.last_seq();
  cli.ok({"delete", task, "--via", "explorer"});
  auto gone = cli.mailbox({"show", task, "--json"});
  CHECK(gone.exit_code == 2);
  ev = cli.events(seq);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kDelete);
  CHECK(ev[0].kind == ItemKind::kTask);
  CHECK(ev[0].entry_id.str() == task);
}

TEST_CASE("CLI U1: category adds the track category as in any client - it tracks the item",
          "[cli]") {
  Cli cli;
  std::string id = cli.add({"contact", "FirstName=Ann"});
  cli.ok({"category", id, "Red"});
  std::int64_t before = cli.last_seq();
  cli.ok({"category", id, "Tracked to Dynamics 365"});
  auto d = cli.show(id);
  CHECK(d["tracked"].GetBool());
  REQUIRE(d["categories"].IsArray());
  REQUIRE(d["categories"].Size() == 2);
  CHECK(str(d["categories"][0]) == "Red");
  auto ev = cli.events(before);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].action == Action::kTrack);
  CHECK(ev[0].surface == Surface::kExplorer);

  cli.ok({"category", id, "tracked to dynamics 365", "--remove"});
  d = cli.show(id);
  CHECK_FALSE(d["tracked"].GetBool());
  CHECK(d["categories"].Size() == 1);
  CHECK(cli.events(before).back().action == Action::kUntrack);

  std::string snap = cli.snapshot();
  for (const char* bad : {"a;b", "a,b", "", "x\x01y"}) {
    INFO(bad);
    auto r = cli.mailbox({"category", id, bad});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("category name"));
  }
  CHECK(cli.snapshot() == snap);
}

TEST_CASE("CLI: usage errors exit 2 with a message and leave the mailbox unchanged", "[cli]") {
  Cli cli;
  std::string contact = cli.add({"contact", "FirstName=Ann"});
  std::string email = cli.add({"email", "Subject=Received"});
  const std::string before = cli.snapshot();
  const std::string missing(48, 'A');

  const std::vector<std::vector<std::string>> cases = {
      {"add", "widget", "Subject=x"},
      {"add", "contact", "Bogus=1"},
      {"add", "contact", "FirstName"},
      {"add", "contact", "=x"},
      {"add", "contact", "Birthday=2025-02-30"},
      {"add", "task", "Importance=Urgent"},
      {"add", "task", "Status=Done"},
      {"add", "appointment", "Start=tomorrow"},
      {"add", "appointment", "Duration=ninety"},
      {"add", "email", "To=not an address"},
      {"add", "contact", "--folder", "inbox", "FirstName=x"},
      {"add", "contact", "--via", "web", "FirstName=x"},
      {"add"},
      {"set", contact, "Nope=1"},
      {"set", contact, "Birthday=1999-13-01"},
      {"set", contact},
      {"set", missing, "FirstName=x"},
      {"delete", missing},
      {"track", missing},
      {"untrack", missing, "--delete-in-crm"},
      {"regarding", contact, std::string("account:") + kGuid},
      {"regarding", email, "account:not-a-guid"},
      {"regarding", missing, std::string("account:") + kGuid},
      {"send", email},
      {"send", contact},
      {"show", missing, "--json"},
      {"list", "--kind", "widget", "--json"},
      {"frobnicate"},
      {},
  };
  for (const auto& args : cases) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO("crmsync mailbox --db F " << joined);
    auto r = cli.mailbox(args);
    CHECK(r.exit_code == 2);
    CHECK_FALSE(r.err.empty());
    CHECK(r.out.empty());
  }
  CHECK(cli.snapshot() == before);

  auto no_db = cli.raw({"mailbox", "list", "--json"});
  CHECK(no_db.exit_code == 2);
  auto no_command = cli.raw({});
  CHECK(no_command.exit_code == 2);
  auto unknown = cli.raw({"frobnicate"});
  CHECK(unknown.exit_code == 2);
}

TEST_CASE("CLI: --config is accepted before or after the subcommand", "[cli]") {
  Cli cli;
  std::string config = cli.dir.file("config.json");
  std::string id = cli.add({"contact", "--config", config, "FirstName=Ann"});
  CHECK(cli.raw({"--config", config, "mailbox", "--db", cli.db, "list", "--json"}).exit_code == 0);
  CHECK(cli.raw({"mailbox", "--config", config, "--db", cli.db, "show", id}).exit_code == 0);
  CHECK(cli.raw({"mailbox", "--db", cli.db, "list", "--json", "--config", config}).exit_code == 0);
  CHECK(cli.raw({"mailbox", "--db", cli.db, "track", id, "--config", config}).exit_code == 0);
  CHECK(cli.raw({"mailbox", "--db", cli.db, "--config=" + config, "untrack", id}).exit_code == 0);
  CHECK(cli.raw({"mailbox", "--db", cli.db, "send", id, "--config", config}).exit_code == 2);
}

TEST_CASE("CLI: --help exits 0 and documents the JSON shape", "[cli]") {
  Cli cli;
  auto r = cli.raw({"mailbox", "--help"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("\"entry_id\"") != std::string::npos);
  CHECK(cli.raw({"--help"}).exit_code == 0);
}

TEST_CASE("C4: the CLI refuses a mailbox with a newer schema - exit 2 - file untouched", "[cli]") {
  Cli cli;
  cli.add({"contact", "FirstName=Ann"});
  {
    auto db = sql::Database::open(cli.db);
    REQUIRE(db.ok());
    REQUIRE(db->set_user_version(MockMailbox::kSchemaVersion + 1).ok());
  }
  auto r = cli.mailbox({"add", "contact", "FirstName=Bob"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("newer") != std::string::npos);
  auto l = cli.mailbox({"list", "--json"});
  CHECK(l.exit_code == 2);
  {
    auto db = sql::Database::open(cli.db);
    REQUIRE(db.ok());
    auto n = db->prepare("SELECT count(*) FROM items");
    REQUIRE(n.ok());
    REQUIRE(*n->step());
    CHECK(n->int64(0) == 1);
  }
}
