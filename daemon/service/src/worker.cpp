#include "crmsync/service/worker.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "crmsync/core/policy.hpp"
#include "crmsync/model/text.hpp"
#include "crmsync/oauth/oauth.hpp"
#include "crmsync/service/logging.hpp"
#include "decisions.hpp"
#include "stop_requested.hpp"

namespace crmsync::service {
namespace {

using Steady = std::chrono::steady_clock;
constexpr std::size_t kMaxEvents = 500;
constexpr std::size_t kListLimit = 200;
// With a store that signals its changes the worker sleeps until a signal, its schedule or its
// lease, and looks at the store at least this often anyway (a lost signal costs at most this).
constexpr std::chrono::minutes kWatchedWait{1};
// ... and for this long after a signal, every kAfterSignalPoll at most.
constexpr std::chrono::milliseconds kAfterSignal{250};
constexpr std::chrono::milliseconds kAfterSignalPoll{10};

}  // namespace

class SyncWorker::StopPoints final : public CrashPoints {
 public:
  explicit StopPoints(const SyncWorker& w) : worker_(w) {}
  void hit(std::string_view point) override {
    std::lock_guard lock(worker_.mutex_);
    if (worker_.stop_) {
      spdlog::info("stopping after {} (the cycle resumes at the next start)", point);
      throw StopRequested{};
    }
  }

 private:
  const SyncWorker& worker_;
};

SyncWorker::SyncWorker(Config config, Clock& clock, std::string version, RuntimeFactory factory,
                       WorkerTimings timings)
    : config_(std::move(config)),
      clock_(clock),
      factory_(std::move(factory)),
      timings_(timings),
      stop_points_(std::make_unique<StopPoints>(*this)) {
  // spdlog builds its registry on first use, inside its uninstrumented library: built here,
  // before the worker thread, the caller's and the worker's first log lines never race it.
  (void)spdlog::default_logger_raw();
  if (!factory_)
    factory_ = [&clock](const Config& c, CrashPoints* cp) { return open_runtime(c, clock, cp); };
  working_.version = std::move(version);
  working_.role = std::string(to_string(config_.role));
  working_.client_id = config_.client_id;
  working_.profile = config_.profile;
  working_.pid = ::getpid();
  working_.interval_minutes = config_.sync.interval_minutes;
  published_ = std::make_shared<status::Snapshot>(working_);
}

SyncWorker::~SyncWorker() {
  request_stop();
  join();
}

std::future<Result<void>> SyncWorker::start() {
  auto f = opened_.get_future();
  thread_ = std::thread([this] { main(); });
  return f;
}

void SyncWorker::request_stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
}

void SyncWorker::request_reload(Config config) {
  {
    std::lock_guard lock(mutex_);
    reload_ = std::move(config);
  }
  cv_.notify_all();
}

void SyncWorker::join() {
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const status::Snapshot> SyncWorker::state() const {
  std::lock_guard lock(state_mutex_);
  return published_;
}

std::int64_t SyncWorker::request_sync(const status::SyncParams& params,
                                      std::function<void(const status::CycleInfo&)> done) {
  std::int64_t id;
  std::size_t pending;
  {
    std::lock_guard lock(mutex_);
    id = ++request_seq_;
    waiters_.push_back({id, params, std::move(done)});
    pending = waiters_.size();
  }
  cv_.notify_all();
  spdlog::info("manual sync requested (request {})", id);
  std::lock_guard lock(state_mutex_);
  working_.pending_requests = static_cast<std::int64_t>(pending);
  publish();
  return id;
}

void SyncWorker::publish() {
  published_ = std::make_shared<const status::Snapshot>(working_);
}

void SyncWorker::push_event(const std::string& type, const std::string& data) {
  working_.events.push_back({++event_seq_, type, clock_.now(), data});
  while (working_.events.size() > kMaxEvents) working_.events.pop_front();
}

void SyncWorker::set_next_sync() {
  std::lock_guard lock(state_mutex_);
  working_.interval_minutes = config_.sync.interval_minutes;
  if (!next_periodic_) {
    working_.next_sync.reset();
  } else {
    auto in =
        std::chrono::duration_cast<std::chrono::milliseconds>(*next_periodic_ - Steady::now());
    working_.next_sync = UtcTime{clock_.now().ms + std::max<std::int64_t>(0, in.count())};
  }
  publish();
}

void SyncWorker::main() {
  auto rt = factory_(config_, stop_points_.get());
  if (!rt.ok()) {
    opened_.set_value(rt.error());
    if (on_exit_) on_exit_();
    return;
  }
  runtime_ = std::move(*rt);
  watch_store();
  // Events before now are the next full cycle's business (it reads the whole log).
  for (;;) {
    auto ev = runtime_->store->events_after(watch_cursor_, 1000);
    if (!ev.ok() || ev->empty()) break;
    watch_cursor_ = ev->back().seq;
  }
  open_lease();
  if (config_.sync.interval_minutes > 0) next_periodic_ = Steady::now();  // catch up at start
  refresh_counts();
  {
    std::lock_guard lock(state_mutex_);
    working_.state = "idle";
    publish();
  }
  set_next_sync();
  opened_.set_value(Result<void>{});
  try {
    loop();
  } catch (const StopRequested&) {
  }
  {
    std::lock_guard lock(state_mutex_);
    working_.state = "stopping";
    publish();
  }
  // Unanswered waiters learn that no cycle ran for them, and decisions that none was taken.
  std::vector<Waiter> left;
  std::deque<PendingDecision> undecided;
  {
    std::lock_guard lock(mutex_);
    left.swap(waiters_);
    undecided.swap(decisions_);
  }
  for (auto& p : undecided) p.done(refusal(503, "the daemon is stopping: nothing was changed"));
  status::CycleInfo none;
  none.result = "stopped";
  none.started = none.finished.emplace(clock_.now());
  for (auto& w : left)
    if (w.done) w.done(none);
  if (lease_) {
    // Graceful stop: the lease is free at once, another client need not wait for expiry.
    if (auto r = lease_->release(); !r.ok())
      spdlog::warn("lease release: {}", redact(r.error().describe()));
    lease_.reset();
  }
  runtime_.reset();
  spdlog::info("sync worker stopped");
  if (on_exit_) on_exit_();
}

void SyncWorker::loop() {
  for (;;) {
    std::vector<Waiter> manual;
    std::optional<Config> reload;
    std::optional<PendingDecision> decision;
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
      reload.swap(reload_);
      if (!reload && !decisions_.empty()) {
        decision = std::move(decisions_.front());
        decisions_.pop_front();
      }
      if (!reload && !decision) manual.swap(waiters_);
    }
    if (reload) {
      apply_reload(std::move(*reload));
      continue;
    }
    auto now = Steady::now();
    if (lease_ && now >= next_lease_tick_) tick_lease();
    if (decision) {  // the user waits for it: before any cycle
      act(std::move(*decision));
      continue;
    }
    if (!manual.empty()) {
      CycleOptions o;
      for (const auto& w : manual) o.allow_mass_delete |= w.params.allow_mass_delete;
      run(o, true, std::move(manual));
      continue;
    }
    if (next_periodic_ && now >= *next_periodic_) {
      run({}, true, {});
      continue;
    }
    if (!immediate_.empty() && now >= immediate_due_) {
      CycleOptions o;
      std::vector<EntryId> items;
      for (const auto& id : immediate_) items.emplace_back(id);
      immediate_.clear();
      o.only_items = std::move(items);
      run(o, false, {});
      continue;
    }
    // The store says whether anything new may be there (an EWS stream read without blocking):
    // reading the change log itself costs an EWS store six SyncFolderItems requests. A store
    // that signals its changes (watch_store) is asked only after a signal, and the worker
    // sleeps until then: an idle daemon wakes for its schedule and its lease only.
    bool look = true;
    if (store_watched_) {
      bool signalled = false;
      {
        std::lock_guard lock(mutex_);
        signalled = std::exchange(store_changed_, false);
      }
      // A signal may come before the write can be read (a WAL commit's frames are written
      // before the index that publishes them, which changes no file): look again for a while
      // after each one.
      if (signalled) active_until_ = now + kAfterSignal;
      look = signalled || now < active_until_ || now >= next_look_;
    }
    if (look) next_look_ = now + kWatchedWait;
    if (look && runtime_->store->wait_for_events(watch_cursor_, std::chrono::milliseconds(0)))
      poll_store_events();
    auto wake = Steady::now() + timings_.event_poll;
    if (store_watched_)
      wake = now < active_until_ ? Steady::now() + std::min(timings_.event_poll, kAfterSignalPoll)
                                 : next_look_;
    if (next_periodic_) wake = std::min(wake, *next_periodic_);
    if (!immediate_.empty()) wake = std::min(wake, immediate_due_);
    if (lease_) wake = std::min(wake, next_lease_tick_);
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, wake, [this] {
      return stop_ || reload_ || !waiters_.empty() || !decisions_.empty() || store_changed_;
    });
  }
}

void SyncWorker::watch_store() {
  {
    std::lock_guard lock(mutex_);
    store_changed_ = true;  // look once at the new store
  }
  store_watched_ = runtime_->store->watch_changes([this] {
    {
      std::lock_guard lock(mutex_);
      store_changed_ = true;
    }
    cv_.notify_all();
  });
}

void SyncWorker::poll_store_events() {
  auto events = runtime_->store->events_after(watch_cursor_, 200);
  if (!events.ok()) {
    spdlog::warn("store events: {}", redact(events.error().describe()));
    return;
  }
  for (const auto& ev : *events) {
    watch_cursor_ = ev.seq;
    Folder folder = default_folder(ev.kind);
    if (ev.kind == ItemKind::kEmail) {
      if (auto item = runtime_->store->get(ev.entry_id); item.ok()) folder = item->folder;
    }
    Timing t = immediate_sync(ev, classify(ev.kind, folder), acting_role());
    spdlog::debug("store event {} {} {} via {}: {}", ev.seq, to_string(ev.action),
                  to_string(ev.kind), to_string(ev.surface), to_string(t));
    // A change for the primary goes into the handoff queue at once, too (T5).
    if (t != Timing::kNow && t != Timing::kHandToPrimary) continue;
    auto now = Steady::now();
    if (immediate_.empty()) immediate_first_ = now;
    immediate_.insert(ev.entry_id.str());
    immediate_due_ = std::min(now + timings_.debounce, immediate_first_ + timings_.debounce_max);
  }
}

void SyncWorker::open_lease() {
  LeaseStore* store = runtime_->store->lease_store();
  if (store == nullptr) return;
  lease_ = std::make_unique<LeaseKeeper>(*store, clock_, config_.client_id, config_.role,
                                         std::chrono::seconds(config_.lease.ttl_seconds),
                                         std::chrono::seconds(config_.lease.ttl_seconds) / 6);
  tick_lease();
}

void SyncWorker::tick_lease() {
  auto state = lease_->tick();
  next_lease_tick_ = Steady::now() + lease_->renew_interval();
  if (!state.ok()) {
    spdlog::warn("lease: {} (acting as primary until {}s after the last renewal at most)",
                 redact(state.error().describe()), config_.lease.ttl_seconds);
    return;
  }
  std::lock_guard lock(state_mutex_);
  status::LeaseInfo info{state->record.holder, state->record.epoch, state->record.expires};
  bool changed = !working_.lease || working_.lease->holder != info.holder ||
                 working_.lease->epoch != info.epoch;
  if (changed && working_.lease)
    spdlog::info("lease: held by '{}' (epoch {})", info.holder, info.epoch);
  working_.lease = info;
  working_.metrics.lease_changes_total = state->changes;
  publish();
}

// A primary-role client acts as primary only while it holds the lease; otherwise its
// non-e-mail changes go to the handoff queue like a secondary's (SPEC P1-P3, T5).
CycleOptions SyncWorker::with_role(CycleOptions options) {
  if (!lease_ || config_.role != Role::kPrimary) return options;
  if (!lease_->may_act_as_primary()) {
    options.role = Role::kSecondary;
    return options;
  }
  LeaseKeeper* keeper = lease_.get();
  options.may_act_as_primary = [keeper] { return keeper->may_act_as_primary(); };
  return options;
}

status::CycleInfo SyncWorker::run(const CycleOptions& requested, bool full,
                                  std::vector<Waiter> waiters) {
  const CycleOptions options = with_role(requested);
  status::CycleInfo info;
  info.id = ++cycle_seq_;
  info.full = full;
  info.started = clock_.now();
  for (const auto& w : waiters) info.requests.push_back(w.id);
  std::string requests_json = "[";
  for (std::size_t i = 0; i < info.requests.size(); ++i)
    requests_json += (i ? "," : "") + std::to_string(info.requests[i]);
  requests_json += "]";
  {
    std::lock_guard lock(state_mutex_);
    working_.state = "syncing";
    working_.current_cycle = info;
    working_.step = "prepare";
    working_.step_done = working_.step_total = 0;
    working_.pending_requests = 0;
    push_event("cycle-started", fmt::format("{{\"cycle\":{},\"full\":{},\"requests\":{}}}", info.id,
                                            full ? "true" : "false", requests_json));
    publish();
  }
  if (full)
    spdlog::info("cycle {} started (full{})", info.id,
                 options.allow_mass_delete ? ", mass delete allowed" : "");
  else
    spdlog::info("cycle {} started (immediate: {} item(s))", info.id, options.only_items->size());

  auto last_publish = Steady::now();
  runtime_->engine->on_progress([&](const Progress& p) {
    std::lock_guard lock(state_mutex_);
    bool new_step = p.step != working_.step;
    working_.step = p.step;
    working_.step_done = p.done;
    working_.step_total = p.total;
    auto now = Steady::now();
    if (new_step || now - last_publish > std::chrono::milliseconds(200) ||
        (p.total > 0 && p.done == p.total)) {
      push_event("progress", fmt::format("{{\"cycle\":{},\"step\":{},\"done\":{},\"total\":{}}}",
                                         info.id, json_quote(p.step), p.done, p.total));
      publish();
      last_publish = now;
    }
  });

  auto t0 = Steady::now();
  CycleReport report;
  bool stopped = false;
  try {
    report = runtime_->engine->run_cycle(options);
  } catch (const StopRequested&) {
    stopped = true;
  }
  double seconds = std::chrono::duration<double>(Steady::now() - t0).count();
  runtime_->engine->on_progress(nullptr);

  info.finished = clock_.now();
  if (stopped) {
    info.result = "stopped";
  } else {
    info.result = std::string(to_string(report.result));
    info.summary = report;  // the counts and notices, as the engine reported them
    if (report.failure) info.failure = redact(report.failure->describe());
  }
  if (stopped || report.result == CycleResult::kFailed)
    spdlog::warn("cycle {} {}{} after {:.2f}s", info.id, info.result,
                 info.failure ? ": " + *info.failure : "", seconds);
  else
    spdlog::info("cycle {} {}: {} to CRM, {} to store, {} conflicts, {} item errors in {:.2f}s",
                 info.id, info.result, info.summary.to_crm, info.summary.to_store,
                 info.summary.conflicts, info.summary.item_errors, seconds);
  for (const auto& n : info.summary.notices) spdlog::info("notice: {}", n);

  if (full && !stopped) {
    if (report.result == CycleResult::kFailed) {
      ++failures_in_row_;
      // Retry a failed cycle sooner than the interval: 1, 2, 4 ... minutes.
      auto backoff = std::chrono::minutes(1 << std::min(failures_in_row_ - 1, 6));
      if (config_.sync.interval_minutes > 0)
        next_periodic_ =
            Steady::now() + std::min<std::chrono::minutes>(
                                backoff, std::chrono::minutes(config_.sync.interval_minutes));
    } else {
      failures_in_row_ = 0;
      if (config_.sync.interval_minutes > 0)
        next_periodic_ = Steady::now() + std::chrono::minutes(config_.sync.interval_minutes);
    }
  }
  if (!stopped) refresh_counts();
  {
    std::lock_guard lock(state_mutex_);
    auto& m = working_.metrics;
    if (!stopped) {
      ++m.cycles_total[info.result];
      for (const auto& [k, n] : info.summary.synced) {
        auto colon = k.find(':');
        m.items_synced[{k.substr(0, colon),
                        colon == std::string::npos ? "" : k.substr(colon + 1)}] += n;
      }
      m.conflicts_total += info.summary.conflicts;
      for (std::size_t i = 0; i < std::size(status::kDurationBuckets); ++i)
        if (seconds <= status::kDurationBuckets[i]) {
          ++m.duration_bucket_counts[i];
          break;
        }
      ++m.duration_count;
      m.duration_sum += seconds;
      working_.notices = info.summary.notices;
    }
    working_.last_cycle = info;
    working_.current_cycle.reset();
    working_.step.clear();
    working_.step_done = working_.step_total = 0;
    // U3: a refused sign-in stops the CRM side until `crmsync login`; the next cycle that
    // gets through (the worker keeps retrying with backoff) clears it.
    if (!stopped && report.failure && oauth::is_needs_login(*report.failure))
      working_.needs_login = {"crm"};
    else if (!stopped && report.result != CycleResult::kFailed)
      working_.needs_login.clear();
    working_.state = stopped ? "stopping" : !working_.needs_login.empty() ? "needs_login" : "idle";
    push_event("cycle-finished",
               fmt::format("{{\"cycle\":{},\"full\":{},\"result\":{},\"requests\":{}}}", info.id,
                           full ? "true" : "false", json_quote(info.result), requests_json));
    publish();
  }
  set_next_sync();
  for (auto& w : waiters)
    if (w.done) w.done(info);
  if (stopped) throw StopRequested{};
  return info;
}

void SyncWorker::refresh_counts() {
  auto& cache = *runtime_->cache;
  std::map<std::string, status::KindCounts> counts;
  std::int64_t queue = 0;
  if (auto c = cache.counts(); c.ok()) {
    for (const auto& [entity, n] : *c) {
      auto& k = counts[std::string(to_string(entity))];
      k.mapped = n.mapped;
      k.pending = n.pending;
      k.errors = n.errors;
      k.held = n.held;
      queue += n.pending;
    }
  } else {
    spdlog::warn("cache counts: {}", c.error().describe());
  }
  std::vector<status::ConflictRow> conflicts;
  if (auto c = cache.conflicts(10'000); c.ok()) {
    for (const auto& r : *c) {
      ++counts[std::string(to_string(r.entity))].conflicts;
      if (conflicts.size() < kListLimit)
        conflicts.push_back({r.conflict_id, std::string(to_string(r.entity)), r.crm_id.str(),
                             r.entry_id.str(), r.field, display(r.store_value),
                             display(r.crm_value), r.winner, r.at,
                             r.base_value ? std::optional(display(*r.base_value)) : std::nullopt});
    }
  }
  std::vector<status::ErrorRow> errors;
  if (auto e = cache.errors(kListLimit); e.ok()) {
    for (const auto& r : *e)
      errors.push_back({std::string(to_string(r.entity)), r.crm_id.str(), r.entry_id.str(),
                        redact(r.error), r.attempts, r.next_attempt, r.map_id.value()});
  }
  std::vector<status::HeldDeletion> deletions;
  if (auto h = held_deletions(cache, decision_context(), kListLimit); h.ok())
    deletions = std::move(*h);
  else
    spdlog::warn("held deletions: {}", h.error().describe());
  std::lock_guard lock(state_mutex_);
  working_.counts = std::move(counts);
  working_.pending_changes = queue;
  if (HandoffQueue* q = runtime_->store->handoff_queue())
    if (auto depth = q->depth(); depth.ok()) working_.queue_depth = *depth;
  working_.conflicts = std::move(conflicts);
  working_.errors = std::move(errors);
  working_.deletions = std::move(deletions);
  publish();
}

void SyncWorker::apply_reload(Config config) {
  spdlog::info("reloading the configuration from {}", config.source);
  auto rt = factory_(config, stop_points_.get());
  if (!rt.ok()) {
    spdlog::error("reload failed, keeping the running configuration: {}",
                  redact(rt.error().describe()));
    return;
  }
  if (config.http.listen != config_.http.listen ||
      config.http.token_file != config_.http.token_file)
    spdlog::warn("http.listen and http.token_file take effect at the next start");
  bool new_store = config.store.identity() != config_.store.identity();
  // The lease keeper holds the old store's lease record: give the lease up and start over
  // with the new store (a new client id or role may come with the reload).
  if (lease_) {
    if (auto r = lease_->release(); !r.ok())
      spdlog::warn("lease release: {}", redact(r.error().describe()));
    lease_.reset();
  }
  runtime_.reset();
  runtime_ = std::move(*rt);
  watch_store();
  config_ = std::move(config);
  open_lease();
  if (new_store) {
    watch_cursor_ = 0;
    immediate_.clear();
    for (;;) {
      auto ev = runtime_->store->events_after(watch_cursor_, 1000);
      if (!ev.ok() || ev->empty()) break;
      watch_cursor_ = ev->back().seq;
    }
  }
  if (config_.sync.interval_minutes > 0) {
    auto next = Steady::now() + std::chrono::minutes(config_.sync.interval_minutes);
    if (!next_periodic_ || *next_periodic_ > next) next_periodic_ = next;
  } else {
    next_periodic_.reset();
  }
  refresh_counts();
  {
    std::lock_guard lock(state_mutex_);
    working_.role = std::string(to_string(config_.role));
    working_.client_id = config_.client_id;
    working_.profile = config_.profile;
    push_event("config-reloaded",
               fmt::format("{{\"interval_minutes\":{}}}", config_.sync.interval_minutes));
    publish();
  }
  set_next_sync();
  spdlog::info("configuration reloaded (sync every {} min)", config_.sync.interval_minutes);
}

}  // namespace crmsync::service
