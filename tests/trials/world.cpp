#include "world.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <stdexcept>

#include "crmsync/http/client.hpp"
#include "crmsync/test/crm_requests.hpp"

namespace crmsync::trials {
namespace {

using namespace std::chrono_literals;

// ---- SOAP as the second CRM user: the envelopes of tests/support ---------------------

using namespace crmsync::test::crm;

http::Response http_call(std::uint16_t port, const std::string& method, const std::string& path,
                         const std::string& body, http::Headers headers = {}) {
  http::ClientOptions o;
  o.io_timeout = 30s;
  http::Client client(o);
  http::Request req;
  req.method = method;
  req.url = "http://127.0.0.1:" + std::to_string(port) + path;
  req.headers = std::move(headers);
  req.body = body;
  auto r = client.send(req);
  if (!r.ok()) throw std::runtime_error(method + " " + path + ": " + r.error().describe());
  return *r;
}

rapidjson::Document admin_json(std::uint16_t port, const std::string& method,
                               const std::string& path, const std::string& body = "") {
  auto r = http_call(port, method, path, body, {{"Content-Type", "application/json"}});
  if (r.status != 200)
    throw std::runtime_error(fmt::format("{} {}: HTTP {} {}", method, path, r.status, r.body));
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  if (d.HasParseError()) throw std::runtime_error(path + ": not JSON");
  return d;
}

std::string integrity(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    out = "cannot open: " + std::string(db ? sqlite3_errmsg(db) : "?");
  } else {
    sqlite3_busy_timeout(db, 10'000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        if (!out.empty()) out += "; ";
        out += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      }
    } else {
      out = sqlite3_errmsg(db);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

std::string text_of(const StoreItem& item, const std::string& field) {
  return item.item.text(field);
}

}  // namespace

World::World(std::uint64_t seed) : rng_(seed), seed_(seed) {
  emulator_ = std::make_unique<test::Spawned>(
      std::vector<std::string>{CRM_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                               dir_.file("crm.db")},
      dir_.file("emulator.log"));
  auto first = emulator_->read_line(30s);
  std::smatch m;
  if (!first || !std::regex_match(*first, m, std::regex("listening on 127\\.0\\.0\\.1:(\\d+)")))
    throw std::runtime_error("crm-emulator did not start");
  port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
  auto me =
      admin_json(port_, "POST", "/admin/users", R"({"fullname":"Sync User","token":"sync-token"})");
  user_id_ = me["systemuserid"].GetString();
  admin_json(port_, "POST", "/admin/users", R"({"fullname":"Other User","token":"other-token"})");
  other_token_ = "other-token";
  std::ofstream(dir_.file("crm-token")) << "sync-token\n";
  write_config();
  auto mb = open_mock_mailbox(dir_.file("mailbox.db"), system_clock());
  if (!mb.ok()) throw std::runtime_error("mailbox: " + mb.error().describe());
  mailbox_ = std::move(*mb);
}

World::~World() {
  mailbox_.reset();
  emulator_->signal(SIGTERM);
  emulator_->wait(10s);
}

void World::write_config() {
  std::ofstream(dir_.file("config.json"))
      << R"({"profile":"trial","client_id":"trial-desk","role":"primary",)"
      << R"("cache":"state/cache.db","store":{"type":"mock","path":"mailbox.db"},)"
      << R"("crm":{"url":"http://127.0.0.1:)" << port_
      << R"(/","auth":{"type":"bearer","token_file":"crm-token"},"request_timeout_ms":)"
      << request_timeout_ms() << R"(},"sync":{"interval_minutes":0)"
      << (sync_options_.empty() ? "" : "," + sync_options_) << R"(},)"
      << R"("http":{"listen":"127.0.0.1:0","token_file":"state/api-token"}})";
}

void World::set_sync_options(const std::string& members) {
  sync_options_ = members;
  write_config();
}

std::string World::describe_files() const {
  return "trial files (removed at exit): " + dir_.path().string();
}

// ---- processes ----------------------------------------------------------------

std::unique_ptr<test::Spawned> World::start_once(const std::vector<std::string>& env) {
  return std::make_unique<test::Spawned>(
      std::vector<std::string>{CRMSYNC_BIN, "once", "--config", dir_.file("config.json")},
      dir_.file("once.log"), env);
}

std::unique_ptr<test::Spawned> World::start_daemon() {
  auto d = std::make_unique<test::Spawned>(
      std::vector<std::string>{CRMSYNCD_BIN, "--config", dir_.file("config.json")},
      dir_.file("crmsyncd.log"));
  const std::string runtime = dir_.file("state/cache.db.runtime.json");
  if (!test::eventually([&] { return std::filesystem::exists(runtime) || !d->running(); }, 60s) ||
      !d->running())
    throw std::runtime_error("crmsyncd did not start");
  return d;
}

test::RunResult World::run_cli(std::vector<std::string> args) const {
  args.insert(args.begin(), CRMSYNC_BIN);
  args.push_back("--config");
  args.push_back(dir_.file("config.json"));
  return test::run_program(args);
}

bool World::quiesce(std::string& log, int max_runs, const std::vector<std::string>& extra) {
  static const std::regex writes(
      "to store: (\\d+)  to CRM: (\\d+)  deleted in store: (\\d+)  deleted in CRM: (\\d+)\\n"
      "unlinked: (\\d+)");
  for (int i = 0; i < max_runs; ++i) {
    std::vector<std::string> args{"once"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run_cli(args);
    log += fmt::format("-- quiesce run {} exit {}\n{}{}", i + 1, r.exit_code, r.out, r.err);
    std::smatch m;
    if (r.exit_code != 0 || !std::regex_search(r.out, m, writes)) continue;
    bool none = true;
    for (int g = 1; g <= 5; ++g) none = none && m[g] == "0";
    if (none) return true;
  }
  return false;
}

// ---- admin ----------------------------------------------------------------------

void World::set_faults(const std::string& json) {
  admin_json(port_, "POST", "/admin/faults", json);
}

std::vector<RequestLogEntry> World::requests() {
  auto d = admin_json(port_, "GET", "/admin/requests");
  std::vector<RequestLogEntry> out;
  for (const auto& e : d.GetArray()) {
    RequestLogEntry r;
    r.soap_action = e["soap_action"].GetString();
    r.status = e["status"].GetInt();
    r.at_ms = e["at_ms"].GetInt64();
    r.retry_after_s = e["retry_after_s"].GetInt();
    r.fault = e["fault"].GetString();
    out.push_back(r);
  }
  return out;
}

std::vector<CrmRecordView> World::crm_contacts() {
  return crm_records("contact");
}

std::vector<CrmRecordView> World::crm_tasks() {
  return crm_records("task");
}

std::vector<CrmRecordView> World::crm_records(const std::string& entity) {
  auto d = admin_json(port_, "GET", "/admin/records/" + entity);
  std::vector<CrmRecordView> out;
  for (const auto& e : d.GetArray()) {
    CrmRecordView r;
    r.id = e["id"].GetString();
    for (auto it = e["attributes"].MemberBegin(); it != e["attributes"].MemberEnd(); ++it) {
      if (it->value.IsString()) r.text[it->name.GetString()] = it->value.GetString();
      if (std::string(it->name.GetString()) == "ownerid" && it->value.IsObject() &&
          it->value.HasMember("id"))
        r.owner = it->value["id"].GetString();
    }
    out.push_back(std::move(r));
  }
  return out;
}

bool World::crm_execute(const std::string& request_xml, std::string* body) {
  auto r = http_call(port_, "POST", kOrganizationPath, execute_envelope(request_xml),
                     {{"Content-Type", "text/xml; charset=utf-8"},
                      {"SOAPAction", kExecuteAction},
                      {"Authorization", "Bearer " + other_token_}});
  if (body) *body = r.body;
  return r.status == 200;
}

// ---- the workload ------------------------------------------------------------------

std::string World::fresh_value() {
  return fmt::format("v{}", ++counter_);
}

std::string World::random_op(bool allow_crm, bool allow_delete) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    int r = rng_.uniform(0, 99);
    std::string done;
    if (r < 22 || contacts_.size() < 2)
      done = (allow_crm && rng_.chance(0.4)) ? crm_create() : store_create();
    else if (r < 58)
      done = store_edit();
    else if (r < 92)
      done = allow_crm ? crm_edit() : store_edit();
    else if (allow_delete)
      done = (allow_crm && rng_.chance(0.5)) ? crm_delete() : store_delete();
    if (!done.empty()) return done;
  }
  return "nothing";
}

std::string World::store_create() {
  ModelContact c;
  c.last_name = fmt::format("Trial{}-{}", seed_ % 100000, contacts_.size() + 1);
  c.from_store = true;
  FieldMap fields{{"LastName", Value{c.last_name}}};
  for (const auto& f : editable_fields()) {
    if (!rng_.chance(0.6)) continue;
    c.last_value[f.store] = fresh_value();
    fields[f.store] = Value{c.last_value[f.store]};
  }
  Surface surface =
      rng_.pick(std::vector<Surface>{Surface::kNone, Surface::kInspector, Surface::kExplorer});
  auto id = mailbox_->add(ItemKind::kContact, std::nullopt, fields, true, surface);
  if (!id.ok()) throw std::runtime_error("mailbox add: " + id.error().describe());
  c.entry_id = *id;
  contacts_.push_back(c);
  return "store create " + c.last_name;
}

std::string World::crm_create() {
  ModelContact c;
  c.last_name = fmt::format("Trial{}-{}", seed_ % 100000, contacts_.size() + 1);
  c.crm_id = CrmId::generate().str();
  std::string attrs = str_attr("lastname", c.last_name);
  for (const auto& f : editable_fields()) {
    if (!rng_.chance(0.6)) continue;
    c.last_value[f.store] = fresh_value();
    attrs += str_attr(f.crm, c.last_value[f.store]);
  }
  attrs += ref_attr("ownerid", "systemuser", user_id_);  // the sync user's contact (R2)
  std::string body;
  if (!crm_execute(
          org_request("CreateRequest", "Create", target_entity("contact", *c.crm_id, attrs)),
          &body))
    throw std::runtime_error("CRM create as the other user failed: " + body);
  contacts_.push_back(c);
  return "crm create " + c.last_name;
}

std::vector<std::string> World::crm_create_tasks(int n) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    std::string id = CrmId::generate().str();
    std::string attrs = str_attr("subject", fmt::format("Vanishing {}", i + 1)) +
                        ref_attr("ownerid", "systemuser", user_id_);  // open, the user's (D4)
    std::string body;
    if (!crm_execute(org_request("CreateRequest", "Create", target_entity("task", id, attrs)),
                     &body))
      throw std::runtime_error("CRM task create as the other user failed: " + body);
    ids.push_back(id);
  }
  return ids;
}

std::vector<std::string> World::vanish_store_tasks(int n) {
  auto tasks = mailbox_->list(ItemKind::kTask);
  if (!tasks.ok()) throw std::runtime_error("mailbox list: " + tasks.error().describe());
  std::vector<std::string> gone;
  sqlite3* db = nullptr;
  if (sqlite3_open(dir_.file("mailbox.db").c_str(), &db) != SQLITE_OK)
    throw std::runtime_error("cannot open the mailbox file");
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* del = nullptr;
  sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  sqlite3_prepare_v2(db, "DELETE FROM items WHERE entry_id = ?", -1, &del, nullptr);
  for (const auto& t : *tasks) {
    if (static_cast<int>(gone.size()) == n) break;
    if (!t.link.tracked || !t.link.crm_id) continue;
    sqlite3_bind_text(del, 1, t.entry_id.str().c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(del) != SQLITE_DONE) break;
    sqlite3_reset(del);
    gone.push_back(t.link.crm_id->str());
  }
  sqlite3_finalize(del);
  const bool ok = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  sqlite3_close(db);
  if (!ok || static_cast<int>(gone.size()) != n)
    throw std::runtime_error(fmt::format("vanished {} of {} tasks", gone.size(), n));
  return gone;
}

std::optional<EntryId> World::find_store_copy(ModelContact& c) {
  if (c.entry_id) return c.entry_id;
  if (!c.crm_id) return std::nullopt;
  auto id = CrmId::parse(*c.crm_id);
  if (!id.ok()) return std::nullopt;
  auto found = mailbox_->find_by_crm_id(*id);
  if (!found.ok() || !*found) return std::nullopt;
  c.entry_id = (*found)->entry_id;
  return c.entry_id;
}

std::string World::store_edit() {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < contacts_.size(); ++i)
    if (!contacts_[i].deleted_in_store && !contacts_[i].deleted_in_crm) candidates.push_back(i);
  if (candidates.empty()) return "";
  ModelContact& c = contacts_[rng_.pick(candidates)];
  auto id = find_store_copy(c);
  if (!id) return "";  // not in the store yet
  const auto& f = rng_.pick(editable_fields());
  std::string v = fresh_value();
  Surface surface =
      rng_.pick(std::vector<Surface>{Surface::kNone, Surface::kInspector, Surface::kExplorer});
  auto r = mailbox_->set(*id, {{f.store, Value{v}}}, surface);
  if (!r.ok()) return "";  // gone meanwhile (a CRM deletion applied)
  c.last_value[f.store] = v;
  return fmt::format("store edit {} {}={}", c.last_name, f.store, v);
}

std::string World::crm_edit() {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < contacts_.size(); ++i)
    if (!contacts_[i].deleted_in_store && !contacts_[i].deleted_in_crm) candidates.push_back(i);
  if (candidates.empty()) return "";
  ModelContact& c = contacts_[rng_.pick(candidates)];
  std::string crm_id;
  if (c.crm_id) {
    crm_id = *c.crm_id;
  } else {
    // A store contact: its CRM id once the daemon stamped it and the record exists.
    if (!c.entry_id) return "";
    auto item = mailbox_->get(*c.entry_id);
    if (!item.ok() || !item->link.crm_id || item->link.crm_id_pending) return "";
    crm_id = item->link.crm_id->str();
  }
  const auto& f = rng_.pick(editable_fields());
  std::string v = fresh_value();
  if (!crm_execute(org_request("UpdateRequest", "Update",
                               target_entity("contact", crm_id, str_attr(f.crm, v)))))
    return "";  // not created yet
  c.last_value[f.store] = v;
  return fmt::format("crm edit {} {}={}", c.last_name, f.crm, v);
}

std::string World::store_delete() {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < contacts_.size(); ++i)
    if (!contacts_[i].deleted_in_store && !contacts_[i].deleted_in_crm) candidates.push_back(i);
  if (candidates.empty()) return "";
  ModelContact& c = contacts_[rng_.pick(candidates)];
  auto id = find_store_copy(c);
  if (!id) return "";
  if (!mailbox_->remove(*id, rng_.chance(0.5) ? Surface::kExplorer : Surface::kNone).ok())
    return "";
  c.deleted_in_store = true;
  return "store delete " + c.last_name;
}

std::string World::crm_delete() {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < contacts_.size(); ++i)
    if (!contacts_[i].deleted_in_store && !contacts_[i].deleted_in_crm && contacts_[i].crm_id)
      candidates.push_back(i);
  if (candidates.empty()) return "";
  ModelContact& c = contacts_[rng_.pick(candidates)];
  if (!crm_execute(org_request("DeleteRequest", "Delete",
                               kv("Target", "<b:value i:type=\"a:EntityReference\">" +
                                                ref("contact", *c.crm_id) + "</b:value>"))))
    return "";
  c.deleted_in_crm = true;
  return "crm delete " + c.last_name;
}

// ---- the checks ------------------------------------------------------------------------

std::vector<std::string> World::verify(Losses& losses) {
  std::vector<std::string> bad;
  auto fail = [&](std::string s) { bad.push_back(std::move(s)); };

  for (const auto& [name, path] :
       {std::pair<const char*, std::string>{"cache", dir_.file("state/cache.db")},
        {"mailbox", dir_.file("mailbox.db")}}) {
    auto r = integrity(path);
    if (r != "ok") fail(fmt::format("PRAGMA integrity_check of the {}: {}", name, r));
  }

  auto listed = mailbox_->list(ItemKind::kContact);
  if (!listed.ok()) {
    fail("mailbox list: " + listed.error().describe());
    return bad;
  }
  auto records = crm_contacts();

  std::map<std::string, std::vector<const StoreItem*>> store_by_name;
  for (const auto& it : *listed) store_by_name[text_of(it, "LastName")].push_back(&it);
  std::map<std::string, std::vector<const CrmRecordView*>> crm_by_name;
  std::map<std::string, const CrmRecordView*> crm_by_id;
  for (const auto& r : records) {
    auto ln = r.text.count("lastname") ? r.text.at("lastname") : "";
    crm_by_name[ln].push_back(&r);
    crm_by_id[r.id] = &r;
  }

  // No duplicates on either side (X1).
  auto duplicated = [&](std::size_t n, const char* what, const std::string& name) {
    if (n < 2) return;
    losses.duplicates += static_cast<int>(n) - 1;
    fail(fmt::format("{} {} named {}", n, what, name));
  };
  for (const auto& [name, items] : store_by_name) duplicated(items.size(), "store items", name);
  for (const auto& [name, recs] : crm_by_name) duplicated(recs.size(), "CRM contacts", name);

  // Every tracked item is linked to one existing record with the same mapped values (M5).
  for (const auto& it : *listed) {
    const std::string name = text_of(it, "LastName");
    if (!it.link.tracked) continue;
    if (!it.link.crm_id || it.link.crm_id_pending) {
      fail(fmt::format("store {} is tracked but not linked (crm id {}, pending {})", name,
                       it.link.crm_id ? it.link.crm_id->str() : "none", it.link.crm_id_pending));
      continue;
    }
    auto rec = crm_by_id.find(it.link.crm_id->str());
    if (rec == crm_by_id.end()) {
      ++losses.lost;
      fail(fmt::format("store {} is linked to CRM {} which does not exist", name,
                       it.link.crm_id->str()));
      continue;
    }
    for (const auto& f : editable_fields()) {
      std::string crm_v = rec->second->text.count(f.crm) ? rec->second->text.at(f.crm) : "";
      if (text_of(it, f.store) != crm_v)
        fail(fmt::format("{}: {} is '{}' in the store but {} is '{}' in CRM", name, f.store,
                         text_of(it, f.store), f.crm, crm_v));
    }
    if (rec->second->text.count("lastname") && rec->second->text.at("lastname") != name)
      fail(fmt::format("store {} is linked to CRM contact {}", name,
                       rec->second->text.at("lastname")));
  }

  // The model: nothing lost, nothing resurrected.
  auto conflicts = run_cli({"conflicts", "--json"});  // needs crmsyncd: the caller runs it
  rapidjson::Document cj;
  cj.Parse(conflicts.out.c_str());
  std::set<std::string> losers;  // "crm_id|field|value" of every conflict's losing value
  if (cj.IsArray()) {
    for (const auto& c : cj.GetArray()) {
      auto s = [&](const char* k) {
        return c.HasMember(k) && c[k].IsString() ? std::string(c[k].GetString()) : std::string();
      };
      std::string loser = s("winner") == "crm" ? s("store_value") : s("crm_value");
      losers.insert(s("crm_id") + "|" + s("field") + "|" + loser);
    }
  } else {
    fail("crmsync conflicts --json: exit " + std::to_string(conflicts.exit_code) + " " +
         conflicts.err);
  }

  for (const auto& c : contacts_) {
    auto& in_store = store_by_name[c.last_name];
    auto& in_crm = crm_by_name[c.last_name];
    if (c.deleted_in_store || c.deleted_in_crm) {
      // D1: a contact deleted in the store stays in CRM, untracked there; D6: one the user
      // owns deleted in CRM stays in the store, unlinked. Either may never have reached the
      // other side before its deletion.
      if (c.deleted_in_store && !in_store.empty())
        fail("store contact " + c.last_name + " was deleted and came back");
      if (c.deleted_in_crm && !in_crm.empty())
        fail("CRM contact " + c.last_name + " was deleted and came back");
      if (c.deleted_in_crm && !in_store.empty() && in_store.front()->link.tracked)
        fail("store contact " + c.last_name + " is still tracked after its CRM deletion (D6)");
      continue;
    }
    if (in_store.size() != 1 || in_crm.size() != 1) {
      losses.lost += in_store.empty() + in_crm.empty();  // extra copies: counted above
      fail(fmt::format("contact {} ({}): {} in the store, {} in CRM", c.last_name,
                       c.from_store ? "made in the store" : "made in CRM", in_store.size(),
                       in_crm.size()));
      continue;
    }
    const StoreItem& item = *in_store.front();
    const CrmRecordView& rec = *in_crm.front();
    if (!item.link.tracked) fail("store contact " + c.last_name + " is not tracked");
    for (const auto& f : editable_fields()) {
      auto want = c.last_value.find(f.store);
      std::string expected = want == c.last_value.end() ? "" : want->second;
      std::string got = text_of(item, f.store);
      if (got == expected) continue;
      if (losers.count(rec.id + "|" + f.store + "|" + expected)) continue;  // M3
      ++losses.lost;
      fail(fmt::format("contact {}: {} is '{}', the last edit wrote '{}' (no conflict record)",
                       c.last_name, f.store, got, expected));
    }
  }
  return bad;
}

}  // namespace crmsync::trials
