// The sync worker (DESIGN.md "Threads"): one thread that owns the runtime (cache, store,
// CRM adapter, engine), runs one cycle at a time, and publishes the state snapshot the HTTP
// endpoint serves. Triggers (SPEC T1): manual requests (coalesced while one waits), the
// periodic schedule, immediate syncs from store events (T2, debounced), and a reload.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "crmsync/config/config.hpp"
#include "crmsync/core/lease.hpp"
#include "crmsync/runtime/runtime.hpp"
#include "crmsync/status/state.hpp"

namespace crmsync::service {

struct DecisionContext;  // decisions.hpp

// Builds the runtime for a config (tests substitute fakes); default: open_runtime().
using RuntimeFactory = std::function<Result<std::unique_ptr<Runtime>>(const Config&, CrashPoints*)>;

struct WorkerTimings {
  // T2's latency is about event_poll / 2 + debounce + one cycle (issue #8: p99 <= 250 ms);
  // an idle poll is one indexed read of the store's change log.
  std::chrono::milliseconds event_poll{25};       // how often the store's change log is read
  std::chrono::milliseconds debounce{50};         // immediate sync: quiet time after an event
  std::chrono::milliseconds debounce_max{5'000};  // ... but at most this after the first
};

class SyncWorker final {
 public:
  SyncWorker(Config config, Clock& clock, std::string version, RuntimeFactory factory = {},
             WorkerTimings timings = {});
  ~SyncWorker();

  // Starts the thread; it opens the runtime first. The future says whether that worked.
  std::future<Result<void>> start();
  // Finish and persist the current step, then stop (SIGTERM, SIGINT, SCM stop).
  void request_stop();
  // Use `config` from the next point between cycles (SIGHUP).
  void request_reload(Config config);
  // Called (on the worker thread) once the thread has ended.
  void on_exit(std::function<void()> f) { on_exit_ = std::move(f); }
  void join();

  // What the endpoint serves (crmsyncd wires it to the server): thread-safe.
  // The latest published snapshot.
  std::shared_ptr<const status::Snapshot> state() const;
  // Queues a manual sync (coalesced with others not yet started); returns the request id.
  // `done`, when set, is called (from the worker thread) with the cycle that answered it.
  std::int64_t request_sync(const status::SyncParams& params,
                            std::function<void(const status::CycleInfo&)> done);
  // Queues a decision of the user's (SPEC U2); the worker acts on it between cycles, before
  // manual syncs, and calls `done` (from the worker thread, exactly once) with the answer.
  void decide(const status::Decision& decision,
              std::function<void(const status::DecisionReply&)> done);

 private:
  struct Waiter {
    std::int64_t id;
    status::SyncParams params;
    std::function<void(const status::CycleInfo&)> done;
  };
  struct PendingDecision {
    status::Decision decision;
    std::function<void(const status::DecisionReply&)> done;
  };
  class StopPoints;

  void main();
  void loop();
  void poll_store_events();
  status::CycleInfo run(const CycleOptions& options, bool full, std::vector<Waiter> waiters);
  void act(PendingDecision p);
  Role acting_role() const;
  DecisionContext decision_context() const;
  // Asks the store to signal its changes (StoreAdapter::watch_changes); polls otherwise.
  void watch_store();
  void refresh_counts();
  void apply_reload(Config config);
  void push_event(const std::string& type, const std::string& data);  // state_mutex_ held
  void publish();                                                     // state_mutex_ held
  void set_next_sync();
  void open_lease();
  void tick_lease();
  CycleOptions with_role(CycleOptions options);

  Config config_;
  Clock& clock_;
  RuntimeFactory factory_;
  WorkerTimings timings_;
  std::unique_ptr<StopPoints> stop_points_;
  std::unique_ptr<Runtime> runtime_;
  std::thread thread_;
  std::promise<Result<void>> opened_;
  std::function<void()> on_exit_;

  // Control, guarded by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::optional<Config> reload_;
  std::vector<Waiter> waiters_;
  std::deque<PendingDecision> decisions_;
  std::int64_t request_seq_ = 0;
  bool store_changed_ = false;  // the store signalled a change not yet looked at

  // Worker-thread only.
  std::int64_t watch_cursor_ = 0;
  bool store_watched_ = false;                         // the store signals its changes: no polling
  std::chrono::steady_clock::time_point next_look_{};  // at the store, when watched
  std::chrono::steady_clock::time_point active_until_{};  // looks follow a signal until then
  std::set<std::string> immediate_;                       // entry ids waiting for an immediate sync
  std::chrono::steady_clock::time_point immediate_due_{};
  std::chrono::steady_clock::time_point immediate_first_{};
  std::optional<std::chrono::steady_clock::time_point> next_periodic_;
  int failures_in_row_ = 0;
  std::unique_ptr<LeaseKeeper> lease_;  // when the store hosts the lease (SPEC §6)
  std::chrono::steady_clock::time_point next_lease_tick_{};
  std::int64_t cycle_seq_ = 0;

  // The snapshot, guarded by state_mutex_.
  mutable std::mutex state_mutex_;
  status::Snapshot working_;
  std::shared_ptr<const status::Snapshot> published_;
  std::int64_t event_seq_ = 0;
};

}  // namespace crmsync::service
