// SyncWorker (daemon/service): triggers and stop, driven through its Backend interface.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>
#include "crmsync/fakes/store_wrapper.hpp"

#include "crmsync/fakes/fake_crm.hpp"
#include "crmsync/service/logging.hpp"
#include "crmsync/service/worker.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

using namespace crmsync;
using namespace crmsync::service;
using namespace std::chrono_literals;

namespace {

// A gate the test closes to hold the worker inside a cycle (in the store scan).
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool closed = false;
  int waiting = 0;
  void close() {
    std::lock_guard l(m);
    closed = true;
  }
  void open() {
    {
      std::lock_guard l(m);
      closed = false;
    }
    cv.notify_all();
  }
  void pass() {
    std::unique_lock l(m);
    ++waiting;
    cv.wait(l, [&] { return !closed; });
    --waiting;
  }
  bool someone_waiting() {
    std::lock_guard l(m);
    return waiting > 0;
  }
};

// Forwards to the mock mailbox (fakes::StoreWrapper); scans wait at the gate.
class GatedStore final : public fakes::StoreWrapper {
 public:
  GatedStore(std::unique_ptr<StoreAdapter> inner, Gate& gate)
      : StoreWrapper(*inner), inner_(std::move(inner)), gate_(gate) {}
  Result<std::vector<StoreItem>> scan_modified_since(ItemKind k, UtcTime t) override {
    gate_.pass();
    return StoreWrapper::scan_modified_since(k, t);
  }
  // The engine's S2 scan reads headers first (the wrapper forwards the batched calls).
  Result<std::vector<StoreItemHeader>> scan_headers_since(ItemKind k, UtcTime t) override {
    gate_.pass();
    return StoreWrapper::scan_headers_since(k, t);
  }

 private:
  std::unique_ptr<StoreAdapter> inner_;
  Gate& gate_;
};

struct Rig {
  test::TempDir dir;
  Gate gate;
  Config config;
  std::unique_ptr<SyncWorker> worker;
  int runtimes_opened = 0;
  std::chrono::milliseconds event_poll = 20ms;

  explicit Rig(int interval = 0) {
    config.profile = "t";
    config.client_id = "desk-t";
    config.cache = dir.file("cache.db");
    config.store.path = dir.file("mailbox.db");
    config.sync.interval_minutes = interval;
  }
  void start() {
    WorkerTimings t;
    t.event_poll = event_poll;
    t.debounce = 150ms;
    t.debounce_max = 1s;
    worker = std::make_unique<SyncWorker>(
        config, system_clock(), "test",
        [this](const Config& c, CrashPoints* cp) -> Result<std::unique_ptr<Runtime>> {
          ++runtimes_opened;
          auto rt = std::make_unique<Runtime>();
          auto cache = Cache::open(c.cache);
          if (!cache.ok()) return cache.error();
          rt->cache = std::move(*cache);
          auto store = open_mock_mailbox(c.store.path, system_clock());
          if (!store.ok()) return store.error();
          rt->store = std::make_unique<GatedStore>(std::move(*store), gate);
          auto crm = std::make_unique<fakes::FakeCrm>(system_clock());
          crm->seed(CrmEntity::kContact, {{"firstname", Value(std::string("Seed"))},
                                          {"lastname", Value(std::string("One"))}});
          rt->crm = std::move(crm);
          rt->engine = std::make_unique<Engine>(*rt->cache, *rt->store, *rt->crm, system_clock(),
                                                engine_settings(c, nullptr), cp);
          return rt;
        },
        t);
    auto opened = worker->start().get();
    REQUIRE(opened.ok());
  }
  std::unique_ptr<MockMailbox> mailbox() {
    auto m = open_mock_mailbox(config.store.path, system_clock());
    REQUIRE(m.ok());
    return std::move(*m);
  }
  std::shared_ptr<const status::Snapshot> state() { return worker->state(); }
  std::int64_t cycles() {
    auto s = state();
    return s->last_cycle ? s->last_cycle->id : 0;
  }
};

struct Answers {
  std::mutex m;
  std::vector<status::CycleInfo> got;
  std::function<void(const status::CycleInfo&)> sink() {
    return [this](const status::CycleInfo& c) {
      std::lock_guard l(m);
      got.push_back(c);
    };
  }
  std::size_t size() {
    std::lock_guard l(m);
    return got.size();
  }
};

}  // namespace

TEST_CASE("manual requests that arrive during a cycle share the next one", "[service][worker]") {
  Rig rig;
  rig.start();
  Answers answers;
  rig.gate.close();
  auto first = rig.worker->request_sync({}, answers.sink());
  REQUIRE(test::eventually([&] { return rig.gate.someone_waiting(); }, 10s));
  CHECK(rig.state()->state == "syncing");
  auto second = rig.worker->request_sync({}, answers.sink());
  auto third = rig.worker->request_sync({true, true}, answers.sink());
  CHECK(rig.state()->pending_requests == 2);
  rig.gate.open();
  REQUIRE(test::eventually([&] { return answers.size() == 3; }, 10s));
  std::lock_guard l(answers.m);
  CHECK(answers.got[0].requests == std::vector<std::int64_t>{first});
  CHECK(answers.got[1].id == answers.got[2].id);  // one cycle answered both
  CHECK(answers.got[1].requests == std::vector<std::int64_t>{second, third});
  CHECK(answers.got[1].id == answers.got[0].id + 1);
  CHECK(answers.got[1].result == "ok");
  CHECK(rig.cycles() == 2);
}

TEST_CASE("an inspector close triggers one debounced immediate sync of those items",
          "[service][worker]") {
  Rig rig;
  rig.start();
  auto mb = rig.mailbox();
  auto a = mb->add(ItemKind::kContact, std::nullopt, {{"LastName", Value(std::string("Alpha"))}},
                   true, Surface::kInspector);
  auto b = mb->add(ItemKind::kContact, std::nullopt, {{"LastName", Value(std::string("Beta"))}},
                   true, Surface::kInspector);
  auto other = mb->add(ItemKind::kContact, std::nullopt,
                       {{"LastName", Value(std::string("Gamma"))}}, true, Surface::kNone);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(other.ok());
  REQUIRE(test::eventually([&] { return rig.cycles() >= 1; }, 10s));
  auto s = rig.state();
  REQUIRE(s->last_cycle);
  CHECK_FALSE(s->last_cycle->full);
  CHECK(s->last_cycle->summary.to_crm == 2);  // Alpha and Beta in one cycle; Gamma waits
  CHECK(rig.cycles() == 1);
  CHECK_FALSE(mb->get(*other)->link.crm_id.has_value());
  CHECK(mb->get(*a)->link.crm_id.has_value());
}

#ifdef __linux__
TEST_CASE("T2: the mock mailbox signals its changes - no polling needed (issue 20: idle CPU)",
          "[service][worker]") {
  Rig rig;
  rig.event_poll = 1h;  // a poll would come far too late: only the file watch can wake it
  rig.start();
  auto mb = rig.mailbox();
  auto a = mb->add(ItemKind::kContact, std::nullopt, {{"LastName", Value(std::string("Alpha"))}},
                   true, Surface::kInspector);
  REQUIRE(a.ok());
  REQUIRE(test::eventually([&] { return mb->get(*a)->link.crm_id.has_value(); }, 10s));
  auto s = rig.state();
  REQUIRE(s->last_cycle);
  CHECK_FALSE(s->last_cycle->full);
}
#endif

TEST_CASE("a stop during a cycle ends it at the next persisted step", "[service][worker]") {
  Rig rig;
  rig.start();
  Answers answers;
  rig.gate.close();
  rig.worker->request_sync({}, answers.sink());
  REQUIRE(test::eventually([&] { return rig.gate.someone_waiting(); }, 10s));
  rig.worker->request_sync({}, answers.sink());  // queued: never runs
  bool exited = false;
  rig.worker->on_exit([&] { exited = true; });
  rig.worker->request_stop();
  rig.gate.open();
  rig.worker->join();
  CHECK(exited);
  REQUIRE(answers.size() == 2);
  CHECK(answers.got[0].result == "stopped");
  CHECK(answers.got[1].result == "stopped");
  CHECK(rig.state()->state == "stopping");
  // The next start completes the cycle from the persisted state.
  rig.worker.reset();
  rig.start();
  Answers again;
  rig.worker->request_sync({}, again.sink());
  REQUIRE(test::eventually([&] { return again.size() == 1; }, 10s));
  CHECK(again.got[0].result == "ok");
}

TEST_CASE("G4 T1: the periodic schedule syncs at start - reload switches it off",
          "[service][worker]") {
  Rig rig(15);
  rig.start();
  REQUIRE(test::eventually([&] { return rig.cycles() == 1; }, 10s));
  CHECK(rig.state()->last_cycle->full);
  CHECK(rig.state()->next_sync.has_value());
  CHECK(rig.state()->counts.at("contact").mapped == 1);  // the seeded CRM contact
  Config off = rig.config;
  off.sync.interval_minutes = 0;
  off.client_id = "renamed";
  rig.worker->request_reload(off);
  REQUIRE(test::eventually([&] { return rig.state()->client_id == "renamed"; }, 10s));
  CHECK_FALSE(rig.state()->next_sync.has_value());
  CHECK(rig.runtimes_opened == 2);
  CHECK(rig.state()->events.back().type == "config-reloaded");
}

TEST_CASE("events have increasing ids and tell the cycle's story", "[service][worker]") {
  Rig rig;
  rig.start();
  Answers answers;
  rig.worker->request_sync({}, answers.sink());
  REQUIRE(test::eventually([&] { return answers.size() == 1; }, 10s));
  auto s = rig.state();
  REQUIRE(s->events.size() >= 3);
  for (std::size_t i = 1; i < s->events.size(); ++i)
    CHECK(s->events[i].id == s->events[i - 1].id + 1);
  CHECK(s->events.front().type == "cycle-started");
  CHECK(s->events.back().type == "cycle-finished");
  CHECK_THAT(s->events.back().data, Catch::Contains("\"result\":\"ok\""));
  CHECK(s->metrics.cycles_total.at("ok") == 1);
  CHECK(s->metrics.duration_count == 1);
}

TEST_CASE("redact() masks tokens and secrets", "[service][logging]") {
  CHECK(redact("Authorization: Bearer abc.def-123 failed") == "Authorization: Bearer *** failed");
  CHECK(redact("client_secret=s3cr3t&scope=x") == "client_secret=***&scope=x");
  CHECK(redact(R"({"access_token":"eyJhbGciOi","expires_in":3600})") ==
        R"({"access_token":"***","expires_in":3600})");
  CHECK(redact("connection refused") == "connection refused");
}

TEST_CASE("T5: the handoff queue names the secondary that queued a change (engine_settings)",
          "[service]") {
  test::TempDir dir;
  Config config;
  config.client_id = "laptop-7";
  config.role = Role::kSecondary;
  auto settings = engine_settings(config, nullptr);
  CHECK(settings.client_id == "laptop-7");
  CHECK(settings.role == Role::kSecondary);
  auto mailbox = open_mock_mailbox(dir.file("mailbox.db"), system_clock());
  REQUIRE(mailbox.ok());
  auto cache = Cache::open(dir.file("cache.db"));
  REQUIRE(cache.ok());
  fakes::FakeCrm crm(system_clock());
  Engine engine(**cache, **mailbox, crm, system_clock(), settings);
  auto id = (*mailbox)->add(ItemKind::kContact, std::nullopt,
                            {{"LastName", Value(std::string("Queued"))}}, true, Surface::kExplorer);
  REQUIRE(id.ok());
  CHECK(engine.run_cycle({}).result == CycleResult::kOk);
  auto queued = (*mailbox)->handoff_queue()->peek(10);
  REQUIRE(queued.ok());
  REQUIRE_FALSE(queued->empty());
  for (const auto& q : *queued) CHECK(q.client_id == "laptop-7");
}
