// SPEC U1 and U2 end to end: the real crm-emulator, crmsyncd and crmsync processes with the
// mock mailbox. The user tracks by category from any client, and settles what the seed's
// Outlook buttons settled through the CLI, the HTTP routes and the status page (headless
// Chromium, clicked through over the DevTools protocol). Waits are conditions with deadlines.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "crmsync/model/value.hpp"
#include "crmsync/test/devtools.hpp"
#include "crmsync/test/prerequisite.hpp"
#include "daemon_env.hpp"

using namespace crmsync;
using namespace crmsync::test::e2e;
using namespace std::chrono_literals;

namespace {

constexpr const char* kTrackCategory = "Tracked to Dynamics 365";

// The CRM record's attributes as the emulator keeps them, or null when it is gone.
rapidjson::Document crm_record(const Env& env, const std::string& entity, const std::string& id) {
  rapidjson::Document all;
  all.Parse(admin(env, "GET", "/admin/records/" + entity).c_str());
  REQUIRE(all.IsArray());
  rapidjson::Document out;
  for (auto& r : all.GetArray())
    if (std::string(r["id"].GetString()) == id) out.CopyFrom(r["attributes"], out.GetAllocator());
  return out;
}
bool in_crm(const Env& env, const std::string& entity, const std::string& id) {
  return crm_record(env, entity, id).IsObject();
}

rapidjson::Document json_of(const test::RunResult& r) {
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  rapidjson::Document d;
  d.Parse(r.out.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

std::string crm_id_of(const Env& env, const std::string& entry_id) {
  auto item = env.show(entry_id);
  REQUIRE(item["crm_id"].IsString());
  return item["crm_id"].GetString();
}

// One request to the daemon's endpoint with its token.
http::Response call(const Env& env, const std::string& method, const std::string& path,
                    const std::string& body = "") {
  http::Client client;
  http::Request req;
  req.method = method;
  req.url = env.base_url() + path;
  req.headers = {{"Authorization", "Bearer " + env.api_token()},
                 {"Content-Type", "application/json"}};
  req.body = body;
  auto r = client.send(req);
  REQUIRE(r.ok());
  return *r;
}

// The entry id of the first task the demo CRM brought into the mailbox.
std::vector<std::string> mailbox_tasks(const Env& env) {
  auto list = json_of(env.mailbox({"list", "--kind", "task", "--json"}));
  std::vector<std::string> out;
  for (const auto& t : list.GetArray())
    if (t["tracked"].GetBool()) out.push_back(t["entry_id"].GetString());
  return out;
}

}  // namespace

TEST_CASE(
    "U1 T2: a category added to a contact reaches CRM at the next cycle - at once on a "
    "running daemon",
    "[e2e][daemon][U1]") {
  Env env;
  env.write_config(0);  // no periodic sync: only the next cycle or T2 can sync
  auto later = env.add({"contact", "FirstName=Cat", "LastName=Egory"});
  REQUIRE(env.mailbox({"category", later, "Red"}).exit_code == 0);
  REQUIRE(env.mailbox({"category", later, kTrackCategory}).exit_code == 0);
  CHECK(env.show(later)["tracked"].GetBool());
  auto once = env.cli({"once"});
  INFO(once.out << once.err);
  REQUIRE(once.exit_code == 0);
  auto record = crm_record(env, "contact", crm_id_of(env, later));
  REQUIRE(record.IsObject());
  CHECK(std::string(record["lastname"].GetString()) == "Egory");

  env.start_daemon();
  auto now = env.add({"contact", "FirstName=Right", "LastName=Away"});
  REQUIRE(env.mailbox({"category", now, "tracked to dynamics 365"}).exit_code == 0);
  bool synced = test::eventually([&] { return env.show(now)["crm_id"].IsString(); }, 30s);
  INFO(env.log());
  REQUIRE(synced);
  CHECK_THAT(env.log(), Catch::Contains("immediate: 1 item(s)"));
  CHECK(in_crm(env, "contact", crm_id_of(env, now)));
  // The user's own categories stay as they were; ours is kept as the user spelled it.
  auto cats = env.show(later)["categories"].GetArray();
  REQUIRE(cats.Size() == 2);
  CHECK(std::string(cats[0].GetString()) == "Red");
}

TEST_CASE("U1 D2: a contact that loses the category is untracked - its record stays in CRM",
          "[e2e][daemon][U1]") {
  Env env;
  env.write_config(0);
  auto id = env.add({"contact", "--track", "FirstName=Un", "LastName=Tracked"});
  CHECK(env.show(id)["categories"][0].GetString() == std::string(kTrackCategory));
  REQUIRE(env.cli({"once"}).exit_code == 0);
  const std::string crm_id = crm_id_of(env, id);
  env.start_daemon();
  REQUIRE(env.mailbox({"category", id, kTrackCategory, "--remove"}).exit_code == 0);
  CHECK_FALSE(env.show(id)["tracked"].GetBool());
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  CHECK(env.show(id)["crm_id"].IsNull());
  CHECK(in_crm(env, "contact", crm_id));  // D2: not asked to delete: unlinked only
  CHECK(env.status()["counts"]["contact"]["mapped"].GetInt() == 300);  // the demo's
}

TEST_CASE("U2 D4 D11: crmsync untrack ID --delete-in-crm on an open task deletes it in CRM",
          "[e2e][daemon][U2]") {
  Env env;
  env.write_config(0);
  env.start_daemon();
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  auto items = json_of(env.cli({"items", "--kind", "task", "--tracked", "--json"}));
  REQUIRE(items.Size() == 20);  // the demo's open tasks of the user
  const std::string task = items[0]["entry_id"].GetString();
  const std::string crm_id = items[0]["crm_id"].GetString();
  auto r = env.cli({"untrack", task, "--delete-in-crm"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("untrack " + task) && Catch::Contains("next sync"));
  CHECK(in_crm(env, "task", crm_id));  // T2: an untrack in the explorer waits
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  CHECK_FALSE(in_crm(env, "task", crm_id));
  CHECK_FALSE(env.show(task)["tracked"].GetBool());  // the item stays in the mailbox
  // A replay: refused (exit 1), nothing sent.
  auto again = env.cli({"untrack", task, "--delete-in-crm"});
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("is not tracked"));
}

TEST_CASE("U2 T2: regarding --search lists CRM records by name - setting one reaches CRM at once",
          "[e2e][daemon][U2]") {
  Env env;
  env.write_config(0);
  env.start_daemon();
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  auto found = json_of(env.cli({"regarding", "--search", "contoso", "--json"}));
  REQUIRE(found.Size() == 1);  // the demo organization's account
  CHECK(std::string(found[0]["name"].GetString()) == "Contoso Ltd");
  const std::string regarding = found[0]["regarding"].GetString();
  REQUIRE(regarding.rfind("account:", 0) == 0);
  CHECK_THAT(env.cli({"regarding", "--search", "contoso"}).out,
             Catch::Contains(regarding) && Catch::Contains("Contoso Ltd"));
  CHECK(env.cli({"regarding", "--search", "no such name"}).out == "no CRM record has that name\n");

  auto tasks = json_of(env.cli({"items", "--kind", "task", "--tracked", "--json"}));
  REQUIRE(tasks.Size() > 0);
  const std::string task = tasks[0]["entry_id"].GetString();
  const std::string crm_id = tasks[0]["crm_id"].GetString();
  auto set = env.cli({"regarding", task, regarding});
  INFO(set.out << set.err);
  REQUIRE(set.exit_code == 0);
  CHECK_THAT(set.out, Catch::Contains("syncs now"));
  // T2: set regarding in the explorer replicates at once, no manual sync.
  bool there = test::eventually(
      [&] {
        auto r = crm_record(env, "task", crm_id);
        return r.IsObject() && r.HasMember("regardingobjectid") &&
               r["regardingobjectid"].IsObject() &&
               "account:" + std::string(r["regardingobjectid"]["id"].GetString()) == regarding;
      },
      30s);
  INFO(env.log());
  CHECK(there);
  CHECK(env.cli({"regarding", task, regarding}).exit_code == 1);  // a replay
  auto contact = json_of(env.cli({"items", "--kind", "contact", "--limit", "1", "--json"}));
  REQUIRE(contact.Size() == 1);
  auto refused = env.cli({"regarding", contact[0]["entry_id"].GetString(), regarding});
  CHECK(refused.exit_code == 2);
  CHECK_THAT(refused.err, Catch::Contains("has no Regarding"));
}

TEST_CASE("U2 M3: a conflict is resolved from the CLI - the mailbox's value reaches CRM",
          "[e2e][daemon][U2]") {
  Env env;
  env.write_config(0);
  auto id = env.add({"contact", "--track", "FirstName=Con", "LastName=Flict", "JobTitle=Founder"});
  REQUIRE(env.cli({"once"}).exit_code == 0);
  const std::string crm_id = crm_id_of(env, id);
  REQUIRE(env.mailbox({"set", id, "JobTitle=CEO"}).exit_code == 0);
  auto stored = UtcTime::parse(env.show(id)["modified"].GetString());
  REQUIRE(stored.ok());
  REQUIRE(test::wait_past_second(stored->ms));  // CRM keeps whole seconds: its edit is later
  admin(env, "POST", "/admin/users", R"({"fullname":"Bob Other","token":"bob-token"})");
  crm_update_as_other_user(env, "bob-token", crm_id, {{"jobtitle", "CTO"}});
  env.start_daemon();
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  auto conflicts = json_of(env.cli({"conflicts", "--json"}));
  REQUIRE(conflicts.Size() == 1);
  const auto conflict_id = std::to_string(conflicts[0]["id"].GetInt64());
  CHECK(std::string(conflicts[0]["base_value"].GetString()) == "Founder");
  auto table = env.cli({"conflicts"});
  CHECK_THAT(table.out, Catch::Contains("JobTitle") && Catch::Contains("Founder") &&
                            Catch::Contains("CTO") && Catch::Contains("CEO"));

  auto resolved = env.cli({"conflicts", "resolve", conflict_id, "--keep", "mailbox"});
  INFO(resolved.out << resolved.err);
  REQUIRE(resolved.exit_code == 0);
  CHECK(std::string(env.show(id)["fields"]["JobTitle"].GetString()) == "CEO");
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 0);
  CHECK(std::string(crm_record(env, "contact", crm_id)["jobtitle"].GetString()) == "CEO");
  CHECK(env.cli({"conflicts", "--json"}).out == "[]\n");
  // Settled: the same id again is unknown (exit 2), and nothing changes.
  auto again = env.cli({"conflicts", "resolve", conflict_id, "--keep", "crm"});
  CHECK(again.exit_code == 2);
  CHECK(std::string(env.show(id)["fields"]["JobTitle"].GetString()) == "CEO");
}

TEST_CASE("U2 D10: a held mass delete is listed and confirmed from the CLI", "[e2e][daemon][U2]") {
  Env env;
  env.write_config(0, "e2e-desk", "", R"(,"mass_delete":{"ratio":0.02,"min":5})");
  REQUIRE(env.cli({"once"}).exit_code == 0);
  auto tasks = mailbox_tasks(env);
  REQUIRE(tasks.size() == 20);
  for (const auto& t : tasks) REQUIRE(env.mailbox({"delete", t}).exit_code == 0);
  env.start_daemon();
  CHECK(env.cli({"sync", "--wait"}).exit_code == 4);
  auto held = json_of(env.cli({"deletions", "--json"}));
  REQUIRE(held.Size() == 20);
  CHECK(std::string(held[0]["side"].GetString()) == "crm");
  CHECK(std::string(held[0]["change"].GetString()) == "delete");
  CHECK_THAT(env.cli({"deletions"}).out, Catch::Contains("delete"));
  // An id that is not held: exit 2, nothing applied.
  CHECK(env.cli({"deletions", "confirm", "999999"}).exit_code == 2);
  CHECK(json_of(env.cli({"deletions", "--json"})).Size() == 20);

  auto confirmed = env.cli({"deletions", "confirm"});
  INFO(confirmed.out << confirmed.err << env.log());
  REQUIRE(confirmed.exit_code == 0);
  CHECK_THAT(confirmed.out, Catch::Contains("20 deleted in CRM"));
  CHECK(env.status()["counts"]["task"]["mapped"].GetInt() == 0);
  CHECK(env.cli({"deletions"}).out == "no deletions are held back\n");
  CHECK(env.cli({"deletions", "confirm"}).exit_code == 1);  // a replay: nothing is held
  CHECK(env.cli({"sync", "--wait"}).exit_code == 0);
}

TEST_CASE("U2: bad input over HTTP and the CLI is a clear 4xx - nothing changes",
          "[e2e][daemon][U2]") {
  Env env;
  env.write_config(0);
  auto mine = env.add({"contact", "FirstName=Mine"});
  // An item of another profile's mailbox.
  test::TempDir other;
  auto foreign = test::run_program({CRMSYNC_BIN, "mailbox", "--db", other.file("mailbox.db"), "add",
                                    "contact", "FirstName=Theirs"});
  REQUIRE(foreign.exit_code == 0);
  const std::string foreign_id = foreign.out.substr(0, foreign.out.find('\n'));
  env.start_daemon();
  const std::string before = env.mailbox({"list", "--json"}).out;

  auto r = call(env, "POST", "/v1/items/track", R"({"entry_id":")" + foreign_id + "\"}");
  CHECK(r.status == 404);
  CHECK_THAT(r.body, Catch::Contains("profile e2e"));
  CHECK(env.cli({"track", foreign_id}).exit_code == 2);
  for (const std::string& body :
       {std::string("{"), std::string("[]"), std::string(R"({"entry_id":"a b"})"),
        std::string(R"({"entry_id":")") + mine + R"(","extra":true})",
        std::string(R"({"entry_id":)") + std::string(600, '1') + "}"}) {
    INFO(body);
    auto bad = call(env, "POST", "/v1/items/track", body);
    CHECK(bad.status == 400);
    CHECK_THAT(bad.body, Catch::StartsWith("{\"error\":"));
  }
  CHECK(call(env, "GET", "/v1/items?search=%ZZ").status == 400);
  CHECK(call(env, "POST", "/v1/conflicts/resolve", R"({"id":1,"keep":"both"})").status == 400);
  CHECK(call(env, "POST", "/v1/errors/retry", R"({"id":424242})").status == 404);
  CHECK(env.mailbox({"list", "--json"}).out == before);

  // A replay: the second track is refused, and logs no second event.
  auto first = env.cli({"track", mine});
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  REQUIRE(test::eventually([&] { return env.show(mine)["crm_id"].IsString(); }, 30s));
  auto snapshot = env.mailbox({"show", mine, "--json"}).out;
  auto replay = call(env, "POST", "/v1/items/track", R"({"entry_id":")" + mine + "\"}");
  CHECK(replay.status == 409);
  CHECK(env.cli({"track", mine}).exit_code == 1);
  CHECK(env.mailbox({"show", mine, "--json"}).out == snapshot);

  // A category name with odd characters: the mailbox refuses it, the config too.
  CHECK(env.mailbox({"category", mine, "a;b"}).exit_code == 2);
  CHECK(env.mailbox({"show", mine, "--json"}).out == snapshot);
  env.write_config(0, "e2e-desk", "", R"(,"track_category":"x,y")");
  auto check = env.cli({"config", "check"});
  CHECK(check.exit_code == 2);
  CHECK_THAT(check.out + check.err, Catch::Contains("sync.track_category"));
}

TEST_CASE(
    "U2: the status page settles conflicts - held deletions - errors - and untracks - "
    "clicked in headless Chromium",
    "[e2e][daemon][chromium][U2]") {
  const std::string chromium = "/usr/bin/chromium";
  REQUIRE_PREREQUISITE(test::prereq::kChromium, exists(chromium));
  Env env;
  env.write_config(0, "e2e-desk", "", R"(,"mass_delete":{"ratio":0.02,"min":5})");
  auto ada = env.add({"contact", "--track", "FirstName=Ada", "LastName=Page", "JobTitle=Founder"});
  REQUIRE(env.cli({"once"}).exit_code == 0);
  const std::string ada_crm = crm_id_of(env, ada);
  // An item CRM refuses (jobtitle is at most 100 characters there): an item error (E1).
  auto too_long =
      env.add({"contact", "--track", "LastName=Long", "JobTitle=" + std::string(150, 'j')});
  // A conflict: the mailbox, then CRM (later) change Ada's job title.
  REQUIRE(env.mailbox({"set", ada, "JobTitle=CEO"}).exit_code == 0);
  auto stored = UtcTime::parse(env.show(ada)["modified"].GetString());
  REQUIRE(stored.ok());
  REQUIRE(test::wait_past_second(stored->ms));
  admin(env, "POST", "/admin/users", R"({"fullname":"Bob Other","token":"bob-token"})");
  crm_update_as_other_user(env, "bob-token", ada_crm, {{"jobtitle", "CTO"}});
  // A mass delete: 12 of the 20 tasks.
  auto tasks = mailbox_tasks(env);
  REQUIRE(tasks.size() == 20);
  for (int i = 0; i < 12; ++i) REQUIRE(env.mailbox({"delete", tasks[i]}).exit_code == 0);
  env.start_daemon();
  REQUIRE(env.cli({"sync", "--wait"}).exit_code == 4);

  std::string why;
  auto page = test::DevToolsPage::open(chromium, env.base_url() + "/#token=" + env.api_token(),
                                       env.dir.file("chromium"), env.dir.file("chromium.log"), why);
  INFO(why);
  REQUIRE(page);
  auto count = [&](const std::string& table) {
    return "document.querySelectorAll('#" + table + " tbody tr').length";
  };
  auto msg_has = [&](const std::string& text) {
    return "document.getElementById('action-msg').textContent.includes('" + text + "')";
  };
  auto click = [&](const std::string& selector) {
    auto r = page->eval("document.querySelector(\"" + selector + "\").click()");
    INFO(selector << ": " << (r.ok() ? *r : r.error().message()));
    REQUIRE(r.ok());
  };

  // Conflicts side by side: base, CRM, mailbox; keep the mailbox's value.
  REQUIRE(page->wait_for(count("conflicts") + " == 1", 20s));
  CHECK(page->eval("document.querySelector('#conflicts td.base').textContent").value() ==
        "\"Founder\"");
  CHECK(page->eval("document.querySelector('#conflicts td.crm').textContent").value() == "\"CTO\"");
  CHECK(page->eval("document.querySelector('#conflicts td.mailbox').textContent").value() ==
        "\"CEO\"");
  click("#conflicts tbody tr button[data-keep=mailbox]");
  REQUIRE(page->wait_for(msg_has("kept mailbox") + " && " + count("conflicts") + " == 0", 20s));
  CHECK(std::string(env.show(ada)["fields"]["JobTitle"].GetString()) == "CEO");

  // Held deletions: confirm one, reject one, confirm the rest.
  REQUIRE(page->wait_for(count("deletions") + " == 12", 20s));
  const std::string first = page->eval("document.querySelector('#deletions tbody tr').id").value();
  click("#deletions tbody tr button[data-act=confirm]");
  REQUIRE(page->wait_for(msg_has("confirmed") + " && " + count("deletions") + " == 11", 30s));
  CHECK(page->eval("Boolean(document.getElementById(" + first + "))").value() == "false");
  click("#deletions tbody tr button[data-act=reject]");
  REQUIRE(page->wait_for(msg_has("rejected") + " && " + count("deletions") + " == 10", 30s));
  click("#confirm-all");
  REQUIRE(page->wait_for(msg_has("confirmed all") + " && " + count("deletions") + " == 0", 30s));
  CHECK(env.status()["counts"]["task"]["mapped"].GetInt() == 8);  // 20 - 11 deleted - 1 unlinked
  rapidjson::Document crm_tasks;
  crm_tasks.Parse(admin(env, "GET", "/admin/records/task").c_str());
  CHECK(crm_tasks.Size() == 9);  // the rejected one stays in CRM

  // Item errors: retry (still too long), then ignore (untracked: it never synced).
  REQUIRE(page->wait_for(count("errors") + " == 1", 20s));
  click("#errors tbody tr button[data-act=retry]");
  REQUIRE(page->wait_for(msg_has("retried") + " && " + msg_has("item-errors"), 30s));
  click("#errors tbody tr button[data-act=ignore]");
  REQUIRE(page->wait_for(msg_has("ignored") + " && " + count("errors") + " == 0", 20s));
  CHECK_FALSE(env.show(too_long)["tracked"].GetBool());

  // A search over tracked items, then untrack one.
  REQUIRE(page->eval("document.getElementById('search-text').value = 'ada'").ok());
  click("#search button");
  REQUIRE(page->wait_for("document.getElementById('item-" + ada + "')", 20s));
  CHECK(page->eval(count("items")).value() == "1");
  click("#item-" + ada + " button[data-act=untrack]");
  REQUIRE(page->wait_for(msg_has("untracked Ada Page"), 20s));
  CHECK_FALSE(env.show(ada)["tracked"].GetBool());

  // A refusal is shown, not hidden: the same untrack again.
  click("#item-" + ada + " button[data-act=untrack]");
  REQUIRE(page->wait_for(msg_has("is not tracked"), 20s));

  // The token never went into a URL, the page or the daemon's log.
  const std::string token = env.api_token();
  CHECK(page->eval("location.href.includes('" + token + "')").value() == "false");
  CHECK(page->eval("document.documentElement.outerHTML.includes('" + token + "')").value() ==
        "false");
  CHECK(env.log().find(token) == std::string::npos);
}
