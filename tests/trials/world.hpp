// One trial's world: a crm-emulator process (port 0, its own temp db) with the sync user
// and a second CRM user, a mock mailbox file, a config for `crmsync once` and crmsyncd, and
// the model of what the workload did (SPEC C3, E3, X1-X2). The checks after quiescence
// compare both sides with each other and with the model.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "crmsync/store_mock/mock_mailbox.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace crmsync::trials {

// Seeded randomness of one trial; the seed is printed on failure and replays the workload
// (timing aside: the kill instants are seeded delays, the machine's speed is not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : gen_(seed) {}
  int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen_); }
  double real(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(gen_); }
  bool chance(double p) { return real(0, 1) < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(uniform(0, static_cast<int>(v.size()) - 1))];
  }

 private:
  std::mt19937_64 gen_;
};

// The mapped contact fields the workload edits (SPEC §7): store name -> CRM attribute.
struct EditableField {
  const char* store;
  const char* crm;
};
inline const std::vector<EditableField>& editable_fields() {
  static const std::vector<EditableField> f = {{"FirstName", "firstname"},
                                               {"JobTitle", "jobtitle"},
                                               {"MobileTelephoneNumber", "mobilephone"}};
  return f;
}

// A contact of the workload. LastName is its identity (unique per trial, never edited), so
// duplicates on either side are visible by counting last names.
struct ModelContact {
  std::string last_name;
  bool from_store = false;
  std::optional<EntryId> entry_id;    // known store copy
  std::optional<std::string> crm_id;  // known CRM record (created by the second user)
  bool deleted_in_store = false;
  bool deleted_in_crm = false;
  std::map<std::string, std::string> last_value;  // store field -> the last value written
};

struct RequestLogEntry {
  std::string soap_action;
  int status = 0;
  std::int64_t at_ms = 0;
  int retry_after_s = 0;
  std::string fault;  // what the emulator injected (error, throttle, drop, slow), or empty
};

// The violations verify() found that are lost or duplicated contacts and edits, counted for
// the reliability report (scripts/reliability); each is also one of its problem lines.
struct Losses {
  int lost = 0;        // a live contact missing on a side, or an edit lost without a conflict
  int duplicates = 0;  // extra store items or CRM records for one contact
};

struct CrmRecordView {
  std::string id;
  std::map<std::string, std::string> text;  // string attributes
  std::string owner;                        // ownerid's id, when present
};

class World {
 public:
  explicit World(std::uint64_t seed);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // ---- processes -----------------------------------------------------------
  // `crmsync once` in the background; `env` adds "K=V" entries (the crash-point hook).
  std::unique_ptr<test::Spawned> start_once(const std::vector<std::string>& env = {});
  test::RunResult run_cli(std::vector<std::string> args) const;
  // crmsyncd in the foreground (no periodic sync), once its runtime file is there.
  std::unique_ptr<test::Spawned> start_daemon();
  std::string file(const std::string& name) const { return dir_.file(name); }
  // Runs `crmsync once` until a run exits 0 having written nothing (at most `max_runs`);
  // false (with the outputs in `log`) otherwise.
  bool quiesce(std::string& log, int max_runs = 8, const std::vector<std::string>& extra = {});
  // Extra "key":value members of the config's "sync" object (e.g. "reconcile_batch":10).
  void set_sync_options(const std::string& members);

  // ---- the emulator's admin API ---------------------------------------------
  void set_faults(const std::string& json);
  void clear_faults() { set_faults("{}"); }
  std::vector<RequestLogEntry> requests();
  std::vector<CrmRecordView> crm_contacts();
  std::vector<CrmRecordView> crm_tasks();

  // ---- D10: items that vanish without events ------------------------------------
  // `n` open tasks created in CRM by the second user, owned by the sync user (D4 deletes
  // them in CRM when their store copies go); their ids.
  std::vector<std::string> crm_create_tasks(int n);
  // Removes `n` of the mailbox's tracked tasks straight from its file, leaving no event
  // behind (lost notifications, a recreated profile): only S3 reconciliation sees them go.
  // Returns the CRM ids of the removed items.
  std::vector<std::string> vanish_store_tasks(int n);

  // ---- the workload ----------------------------------------------------------
  // One random user action on either side; returns a line describing it (for the log).
  std::string random_op(bool allow_crm, bool allow_delete);
  const std::vector<ModelContact>& model() const { return contacts_; }
  MockMailbox& mailbox() { return *mailbox_; }

  // ---- the checks (after quiescence) -------------------------------------------
  // Every violated invariant, one line each; empty = all hold. Adds to `losses`.
  std::vector<std::string> verify(Losses& losses);

  std::string describe_files() const;  // paths, for the failure message
  Rng& rng() { return rng_; }
  int request_timeout_ms() const { return 1000; }

 private:
  std::string store_create();
  std::string crm_create();
  std::vector<CrmRecordView> crm_records(const std::string& entity);
  std::string store_edit();
  std::string crm_edit();
  std::string store_delete();
  std::string crm_delete();
  bool crm_execute(const std::string& request_xml, std::string* body = nullptr);
  std::string fresh_value();
  std::optional<EntryId> find_store_copy(ModelContact& c);
  void write_config();

  Rng rng_;
  std::uint64_t seed_;
  test::TempDir dir_;
  std::unique_ptr<test::Spawned> emulator_;
  std::uint16_t port_ = 0;
  std::string user_id_;      // the sync user (crmsync's token)
  std::string other_token_;  // the second CRM user's token
  std::unique_ptr<MockMailbox> mailbox_;
  std::vector<ModelContact> contacts_;
  int counter_ = 0;
  std::string sync_options_;
};

}  // namespace crmsync::trials
