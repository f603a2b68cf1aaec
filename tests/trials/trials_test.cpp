// Trials with real processes (SPEC C3, E3, X1-X3): random workloads on both sides, the sync
// process killed by SIGKILL at random instants or at the engine's crash points, and network
// faults from the crm-emulator; after quiescence both sides, the model and the databases are
// checked (world.hpp). CRMSYNC_TRIALS=N sets the number of trials of each case,
// CRMSYNC_TRIAL_SEED=S the first seed (trial i uses S+i): a failure prints how to replay it.
// With CRMSYNC_RESULTS=FILE each trial appends one "trial ..." line of counters to FILE
// (scripts/reliability sums them).
#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <rapidjson/document.h>

#include "crmsync/test/results.hpp"
#include "world.hpp"

using namespace crmsync;
using namespace crmsync::trials;
using namespace std::chrono_literals;

namespace {

int trials_count(int default_count) {
  const char* n = std::getenv("CRMSYNC_TRIALS");
  return n && std::atoi(n) > 0 ? std::atoi(n) : default_count;
}

std::uint64_t first_seed() {
  const char* s = std::getenv("CRMSYNC_TRIAL_SEED");
  if (s && *s) return std::strtoull(s, nullptr, 10);
  return std::random_device{}() % 1'000'000;
}

std::chrono::milliseconds ms(int n) {
  return std::chrono::milliseconds(n);
}

// Quiescence, then every check, with crmsyncd up so that `crmsync conflicts --json` answers;
// `crmsync sync --wait` through it must find nothing left to do either.
std::vector<std::string> settle_and_verify(World& w, std::string& log, Losses& losses) {
  w.clear_faults();
  if (!w.quiesce(log)) return {"no quiescence: `crmsync once` kept failing or writing"};
  auto daemon = w.start_daemon();
  auto sync = w.run_cli({"sync", "--wait"});
  log += "-- sync --wait exit " + std::to_string(sync.exit_code) + "\n" + sync.out + sync.err;
  std::vector<std::string> bad;
  if (sync.exit_code != 0 || sync.out.find("sync ok: 0 to CRM, 0 to store") == std::string::npos)
    bad.push_back("crmsync sync --wait after quiescence: " + sync.out + sync.err);
  // Nothing pending and no item error left behind (E1, X2).
  auto status = w.run_cli({"status", "--json"});
  rapidjson::Document s;
  s.Parse(status.out.c_str());
  if (!s.IsObject() || !s.HasMember("counts") || !s["counts"].IsObject()) {
    bad.push_back("crmsync status --json: " + status.out + status.err);
  } else {
    for (auto it = s["counts"].MemberBegin(); it != s["counts"].MemberEnd(); ++it)
      if (it->value.HasMember("pending") && it->value["pending"].GetInt() != 0)
        bad.push_back(fmt::format("{} {} change(s) still pending after quiescence",
                                  it->value["pending"].GetInt(), it->name.GetString()));
  }
  auto errors = w.run_cli({"errors", "--json"});
  if (errors.out != "[]\n") bad.push_back("item errors after quiescence: " + errors.out);
  auto more = w.verify(losses);
  bad.insert(bad.end(), more.begin(), more.end());
  daemon->signal(SIGTERM);
  if (!daemon->wait(30s)) bad.push_back("crmsyncd did not stop on SIGTERM");
  return bad;
}

std::string replay(const char* test_name, std::uint64_t seed) {
  return fmt::format("replay: CRMSYNC_TRIAL_SEED={} CRMSYNC_TRIALS=1 trials_tests \"{}\"", seed,
                     test_name);
}

void report(const char* test_name, std::uint64_t seed, const std::vector<std::string>& bad,
            const std::string& log) {
  std::ostringstream out;
  out << "trial seed " << seed << " failed\n" << replay(test_name, seed) << "\n";
  for (const auto& b : bad) out << "  - " << b << "\n";
  out << "workload and runs:\n" << log;
  FAIL_CHECK(out.str());
}

// Waits for `p` up to `delay`; kills it with SIGKILL if it still runs, then reaps it.
// Returns a line for the log.
std::string kill_after(test::Spawned& p, std::chrono::milliseconds delay, int* kills) {
  if (auto rc = p.wait(delay)) return fmt::format("   exited {} before the kill", *rc);
  p.signal(SIGKILL);
  ++*kills;
  auto rc = p.wait(30s);
  return fmt::format("   SIGKILL after {} ms ({})", delay.count(),
                     rc ? std::to_string(*rc) : "still running");
}

// ---- network fault profiles (E3) ---------------------------------------------------------

struct FaultProfile {
  std::string name;
  std::string json;
  bool windowed;  // cleared after a short window while the sync runs (bursts, timeouts)
};

FaultProfile random_profile(World& w, std::uint64_t seed) {
  Rng& r = w.rng();
  const int pct = r.uniform(5, 20);
  switch (r.uniform(0, 5)) {
    case 0:
      return {"errors", fmt::format(R"({{"error_rate":{},"seed":{}}})", pct / 100.0, seed), false};
    case 1:
      return {"drops after commit",
              fmt::format(R"({{"drop_after_commit_rate":{},"seed":{}}})", pct / 100.0, seed),
              false};
    case 2:
      return {"throttling burst",
              fmt::format(R"({{"throttle_rate":{},"retry_after_s":1,"seed":{}}})",
                          r.uniform(30, 70) / 100.0, seed),
              true};
    case 3:
      return {"slow", fmt::format(R"({{"latency_ms":{},"seed":{}}})", r.uniform(20, 200), seed),
              false};
    case 4:  // around the adapter's deadline: some replies come too late (committed, lost)
      return {"timeouts",
              fmt::format(R"({{"latency_ms":{},"seed":{}}})",
                          w.request_timeout_ms() + r.uniform(-150, 150), seed),
              true};
    default:
      return {"mixed",
              fmt::format(
                  R"({{"error_rate":{},"drop_after_commit_rate":{},"latency_ms":{},"seed":{}}})",
                  pct / 200.0, pct / 200.0, r.uniform(10, 80), seed),
              false};
  }
}

// No request of one process before a 429's Retry-After ran out (E3).
void check_throttling(const std::vector<RequestLogEntry>& log, std::size_t from,
                      std::vector<std::string>& bad) {
  for (std::size_t i = from; i + 1 < log.size(); ++i) {
    if (log[i].status != 429 || log[i].retry_after_s <= 0) continue;
    auto gap = log[i + 1].at_ms - log[i].at_ms;
    if (gap < log[i].retry_after_s * 1000)
      bad.push_back(fmt::format("a request {} ms after a 429 with Retry-After: {}", gap,
                                log[i].retry_after_s));
  }
}

enum class Mode { kKill, kFaults };

// One trial's counters, from what the processes and the emulator really did.
struct Tally {
  int runs = 0;   // `crmsync once` started by the workload rounds
  int kills = 0;  // of those, SIGKILLed before they exited
  std::size_t requests = 0;
  std::map<std::string, int> faults;  // injected fault kind -> replies (the emulator's log)
  Losses losses;

  int faults_total() const {
    int n = 0;
    for (const auto& [kind, count] : faults) n += count;
    return n;
  }
  std::string line(const char* kase, std::uint64_t seed, std::size_t problems) const {
    std::string out = fmt::format("trial case={} seed={} runs={} kills={} requests={} faults={}",
                                  kase, seed, runs, kills, requests, faults_total());
    for (const char* kind : {"error", "throttle", "drop", "slow"})
      out += fmt::format(" {}={}", kind, faults.count(kind) ? faults.at(kind) : 0);
    return out + fmt::format(" lost={} duplicates={} problems={}", losses.lost, losses.duplicates,
                             problems);
  }
};

// Counts the faults the emulator injected into the trial so far (its request log).
void count_faults(World& w, Tally& t) {
  auto requests = w.requests();
  t.requests = requests.size();
  t.faults.clear();
  for (const auto& r : requests)
    if (!r.fault.empty()) ++t.faults[r.fault];
}

std::vector<std::string> run_trial(std::uint64_t seed, Mode mode, std::string& log, Tally& t) {
  World w(seed);
  Rng& r = w.rng();
  const int rounds = r.uniform(3, 5);
  std::vector<std::string> bad;
  for (int round = 1; round <= rounds; ++round) {
    for (int i = r.uniform(2, 6); i > 0; --i) log += "   " + w.random_op(true, round > 1) + "\n";
    if (mode == Mode::kKill) {
      auto p = w.start_once();
      ++t.runs;
      // The user keeps working while the sync runs, on both sides.
      for (int i = r.uniform(0, 2); i > 0; --i)
        log += "   (during the run) " + w.random_op(true, false) + "\n";
      if (r.chance(0.75)) {
        log += fmt::format("round {}: once, killed at random\n", round);
        log += kill_after(*p, ms(r.uniform(0, 700)), &t.kills) + "\n";
      } else {
        auto rc = p->wait(120s);
        log += fmt::format("round {}: once, exit {}\n", round, rc ? *rc : -2);
      }
    } else {
      auto profile = random_profile(w, seed * 31 + static_cast<std::uint64_t>(round));
      const std::size_t before = w.requests().size();
      w.set_faults(profile.json);
      auto p = w.start_once();
      ++t.runs;
      log += fmt::format("round {}: once with {} {}\n", round, profile.name, profile.json);
      if (profile.windowed) {
        p->wait(ms(r.uniform(200, 1500)));
        w.clear_faults();
      }
      if (r.chance(0.3)) {
        log += kill_after(*p, ms(r.uniform(0, 1500)), &t.kills) + "\n";
      } else {
        auto rc = p->wait(180s);
        log += fmt::format("   exit {}\n", rc ? *rc : -2);
        if (!rc) bad.push_back("crmsync once did not finish within 180 s");
      }
      w.clear_faults();
      check_throttling(w.requests(), before, bad);
    }
  }
  count_faults(w, t);
  auto more = settle_and_verify(w, log, t.losses);
  bad.insert(bad.end(), more.begin(), more.end());
  return bad;
}

void run_trials(const char* name, Mode mode, int default_count) {
  const int n = trials_count(default_count);
  const std::uint64_t first = first_seed();
  int failed = 0, throttled = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(i);
    std::string log;
    std::vector<std::string> bad;
    Tally t;
    try {
      bad = run_trial(seed, mode, log, t);
    } catch (const std::exception& e) {
      bad.push_back(std::string("harness: ") + e.what());
    }
    throttled += t.faults["throttle"];
    test::record_result(t.line(mode == Mode::kKill ? "crash-random" : "faults", seed, bad.size()));
    if (!bad.empty()) {
      ++failed;
      report(name, seed, bad, log);
    }
  }
  WARN(fmt::format("{}: {} trials from seed {}, {} failed{}", name, n, first, failed,
                   mode == Mode::kFaults ? fmt::format(", {} injected throttles", throttled) : ""));
}

}  // namespace

TEST_CASE("C3: random workloads with crmsync once killed by SIGKILL at random instants",
          "[trials][crash]") {
  run_trials("C3: random workloads with crmsync once killed by SIGKILL at random instants",
             Mode::kKill, 12);
}

TEST_CASE("E3: random workloads under network faults - errors drops throttling timeouts",
          "[trials][faults]") {
  run_trials("E3: random workloads under network faults - errors drops throttling timeouts",
             Mode::kFaults, 8);
}

// The engine's crash points, in a real process: the k-th point SIGKILLs `crmsync once`
// (CRMSYNC_TEST_CRASH_AT, a hook of test builds only), for every k the cycle reaches.
TEST_CASE("C3: crmsync once killed at every crash point of a mixed cycle", "[trials][crash]") {
  const char* name = "C3: crmsync once killed at every crash point of a mixed cycle";
  const int n = trials_count(1);
  const std::uint64_t first = first_seed();
  int points = 0;
  for (int t = 0; t < n; ++t) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(t);
    for (int k = 1;; ++k) {
      std::string log = fmt::format("crash point k = {}\n", k);
      std::vector<std::string> bad;
      bool reached = false;
      Tally t;
      try {
        World w(seed);
        for (int i = 0; i < 6; ++i) log += "   " + w.random_op(true, false) + "\n";
        auto base = w.run_cli({"once"});
        log += "baseline once exit " + std::to_string(base.exit_code) + "\n";
        for (int i = 0; i < 8; ++i) log += "   " + w.random_op(true, true) + "\n";
        auto p = w.start_once({"CRMSYNC_TEST_CRASH_AT=" + std::to_string(k)});
        ++t.runs;
        auto rc = p->wait(120s);
        reached = rc && *rc == -1;
        t.kills += reached;
        count_faults(w, t);
        log += fmt::format("once with the crash hook: {}\n",
                           reached ? "killed" : "exit " + std::to_string(rc ? *rc : -2));
        bad = settle_and_verify(w, log, t.losses);
      } catch (const std::exception& e) {
        bad.push_back(std::string("harness: ") + e.what());
      }
      // Each k is a trial of its own; the last one (the cycle finished) checks the baseline.
      test::record_result(t.line("crash-point", seed, bad.size()) + fmt::format(" k={}", k));
      if (!bad.empty()) report(name, seed, bad, log);
      if (!reached) break;
      ++points;
      if (k > 200) {
        FAIL_CHECK("more than 200 crash points: the hook never lets the cycle finish");
        break;
      }
    }
  }
  WARN(fmt::format("{}: {} workloads from seed {}, {} crash points", name, n, first, points));
  CHECK(points > 5);
}

// D10 with real processes: tasks vanish from the mailbox file with no event behind them, and
// `crmsync once` runs again and again (killed at random instants or not) while S3 finds them
// a reconciliation batch at a time. Without the user's confirmation CRM loses at most what one
// cycle may delete unheld; with it (--allow-mass-delete), exactly the vanished tasks go.
// Nothing is duplicated, and the tasks still in the mailbox stay linked on both sides.
TEST_CASE(
    "D10: tasks vanished without events at random counts and kills are never deleted "
    "from CRM unconfirmed",
    "[trials][vanish]") {
  const int n = trials_count(4);
  const std::uint64_t first = first_seed();
  int failed = 0;
  for (int i = 0; i < n; ++i) {
    const std::uint64_t seed = first + static_cast<std::uint64_t>(i);
    std::string log;
    std::vector<std::string> bad;
    Tally t;
    try {
      World w(seed);
      Rng& r = w.rng();
      const int linked = r.uniform(22, 90);
      const int batch = r.uniform(std::max(3, linked / 12), 25);
      const int vanish = r.uniform(1, linked);
      const int may_go = std::max(19, linked / 2);  // D10's defaults: min 20, ratio 50%
      log += fmt::format("linked {} reconcile_batch {} vanish {}\n", linked, batch, vanish);
      w.set_sync_options(fmt::format(R"("reconcile_batch":{})", batch));
      auto all = w.crm_create_tasks(linked);
      if (!w.quiesce(log)) throw std::runtime_error("no quiescence before the tasks vanish");
      auto gone = w.vanish_store_tasks(vanish);
      const std::set<std::string> gone_set(gone.begin(), gone.end());
      const int rounds = linked / batch + 3;
      for (int round = 1; round <= rounds; ++round) {
        auto p = w.start_once();
        ++t.runs;
        if (r.chance(0.4)) {
          log += fmt::format("round {}: once, killed at random\n", round);
          log += kill_after(*p, ms(r.uniform(0, 400)), &t.kills) + "\n";
        } else {
          auto rc = p->wait(120s);
          log += fmt::format("round {}: once, exit {}\n", round, rc ? *rc : -2);
        }
      }
      // Whatever was not confirmed: the vanished tasks deleted from CRM stay within the guard.
      auto check = [&](bool confirmed) {
        std::map<std::string, int> seen;
        const auto records = w.crm_tasks();
        for (const auto& rec : records) ++seen[rec.id];
        int deleted = 0;
        for (const auto& id : all) {
          if (seen[id] > 1) {
            t.losses.duplicates += seen[id] - 1;
            bad.push_back("CRM task " + id + " is there " + std::to_string(seen[id]) + " times");
          }
          if (seen[id] > 0) continue;
          if (!gone_set.count(id)) {
            ++t.losses.lost;
            bad.push_back("CRM task " + id + " was deleted though its store copy is there");
          }
          ++deleted;
        }
        if (records.size() != all.size() - static_cast<std::size_t>(deleted)) {
          t.losses.duplicates += 1;
          bad.push_back("CRM holds tasks nobody created");
        }
        if (!confirmed && deleted > may_go) {
          t.losses.lost += deleted - may_go;
          bad.push_back(
              fmt::format("{} tasks deleted from CRM without a confirmation (at most "
                          "{} may go)",
                          deleted, may_go));
        }
        if (confirmed && deleted != vanish)
          bad.push_back(fmt::format("confirmed: {} of the {} vanished tasks deleted in CRM",
                                    deleted, vanish));
        auto tasks = w.mailbox().list(ItemKind::kTask);
        if (!tasks.ok() || tasks->size() != all.size() - gone.size())
          bad.push_back("the mailbox's task count changed beyond the vanished ones");
        else
          for (const auto& task : *tasks)
            if (!task.link.tracked || !task.link.crm_id)
              bad.push_back("mailbox task " + task.entry_id.str() + " lost its CRM link");
      };
      // Unconfirmed runs end held (exit 4) or, for small counts, with every task reconciled.
      test::RunResult last;
      for (int run = 0; run < rounds; ++run) {
        last = w.run_cli({"once"});
        log += fmt::format("-- once exit {}\n{}", last.exit_code, last.out);
        if (last.exit_code == 4) break;
      }
      if (last.exit_code != 0 && last.exit_code != 4)
        bad.push_back("unconfirmed once exits " + std::to_string(last.exit_code));
      if (vanish > may_go && last.exit_code != 4) bad.push_back("a held mass deletion must exit 4");
      check(false);
      // Confirmed: one full S3 pass over the mailbox (a batch a run), then no more writes.
      for (int run = 0; run < linked / batch + 2; ++run) {
        auto c = w.run_cli({"once", "--allow-mass-delete"});
        log += fmt::format("-- once --allow-mass-delete exit {}\n{}", c.exit_code, c.out);
      }
      if (!w.quiesce(log, 8, {"--allow-mass-delete"}))
        bad.push_back("no quiescence after the confirmation");
      check(true);
      count_faults(w, t);
    } catch (const std::exception& e) {
      bad.push_back(std::string("harness: ") + e.what());
    }
    test::record_result(t.line("vanished", seed, bad.size()));
    if (!bad.empty()) {
      ++failed;
      report(
          "D10: tasks vanished without events at random counts and kills are never deleted "
          "from CRM unconfirmed",
          seed, bad, log);
    }
  }
  WARN(fmt::format("D10 vanished trials: {} from seed {}, {} failed", n, first, failed));
}
