// The sync worker on a real cache and mock mailbox and the in-memory CRM, for the service
// tests: a gate that holds a cycle in the store scan, answers collected across threads.
#pragma once

#include <catch2/catch.hpp>

#include <condition_variable>
#include <future>
#include <mutex>

#include "crmsync/fakes/fake_crm.hpp"
#include "crmsync/fakes/store_wrapper.hpp"
#include "crmsync/service/worker.hpp"
#include "crmsync/store_mock/mock_mailbox.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace crmsync::test {

using namespace std::chrono_literals;
using service::SyncWorker;
using service::WorkerTimings;

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
  std::chrono::milliseconds event_poll = std::chrono::milliseconds(20);

  fakes::FakeCrm* crm = nullptr;  // the runtime's; touch it only while the worker is idle
  std::function<void(fakes::FakeCrm&)> seed_crm;  // what CRM holds when a runtime opens

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
          auto fake = std::make_unique<fakes::FakeCrm>(system_clock());
          fake->seed(CrmEntity::kContact, {{"firstname", Value(std::string("Seed"))},
                                           {"lastname", Value(std::string("One"))}});
          if (seed_crm) seed_crm(*fake);
          crm = fake.get();
          rt->crm = std::move(fake);
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
  // A manual sync, waited for.
  status::CycleInfo sync(bool allow_mass_delete = false) {
    std::promise<status::CycleInfo> done;
    auto f = done.get_future();
    worker->request_sync({false, allow_mass_delete},
                         [&done](const status::CycleInfo& c) { done.set_value(c); });
    REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    return f.get();
  }
  // A decision of the user's (SPEC U2), waited for.
  status::DecisionReply decide(const status::Decision& d) {
    std::promise<status::DecisionReply> done;
    auto f = done.get_future();
    worker->decide(d, [&done](const status::DecisionReply& r) { done.set_value(r); });
    REQUIRE(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    return f.get();
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

}  // namespace crmsync::test
