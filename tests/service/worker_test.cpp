// SyncWorker (daemon/service): triggers and stop, driven through its Backend interface.
#include <catch2/catch.hpp>

#include "crmsync/service/logging.hpp"
#include "rig.hpp"

using namespace crmsync;
using namespace crmsync::service;
using namespace std::chrono_literals;
using test::Answers;
using test::Rig;

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
  // The id is written pending before the create (X1): the cycle reports a moment later.
  REQUIRE(test::eventually([&] { return rig.state()->last_cycle.has_value(); }, 10s));
  CHECK_FALSE(rig.state()->last_cycle->full);
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
