#include "local_command.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#ifdef CRMSYNC_TEST_HOOKS
#include <csignal>
#include <cstdlib>
#endif

#include "crmsync/oauth/oauth.hpp"
#include "crmsync/runtime/local_files.hpp"
#include "crmsync/runtime/runtime.hpp"
#include "daemon_client.hpp"
#include "daemon_command.hpp"

namespace crmsync::cli {
namespace {

#ifdef CRMSYNC_TEST_HOOKS
// TEST HOOK, compiled only into test builds: CRMSYNC_TEST_CRASH_AT=<k> makes the process
// die by SIGKILL at the k-th crash point the engine passes (1-based), as a real crash would:
// no destructor, no rollback beyond SQLite's own. tests/trials drives it.
class KillAtCrashPoint final : public CrashPoints {
 public:
  explicit KillAtCrashPoint(long k) : left_(k) {}
  void hit(std::string_view point) override {
    if (--left_ != 0) return;
    std::cerr << "test hook: SIGKILL at crash point " << point << "\n" << std::flush;
    std::raise(SIGKILL);
  }

 private:
  long left_;
};

std::unique_ptr<CrashPoints> test_crash_points() {
  const char* at = std::getenv("CRMSYNC_TEST_CRASH_AT");
  if (at == nullptr || std::atol(at) <= 0) return nullptr;
  return std::make_unique<KillAtCrashPoint>(std::atol(at));
}
#else
std::unique_ptr<CrashPoints> test_crash_points() {
  return nullptr;
}
#endif

int run_once(const GlobalOptions& global, bool allow_mass_delete) {
  auto config = load_cli_config(global);
  if (!config) return kExitUsage;
  auto lock = ProfileLock::acquire(config->cache);
  if (!lock.ok()) {
    std::cerr << "crmsync: " << lock.error().message()
              << "\ncrmsync: with a daemon running, use `crmsync sync --wait` instead\n";
    return kExitUsage;
  }
  auto crash_points = test_crash_points();
  auto rt = open_runtime(*config, system_clock(), crash_points.get());
  if (!rt.ok()) return report(rt.error());
  bool tty = ::isatty(2) == 1;
  std::string last_step;
  (*rt)->engine->on_progress([&](const Progress& p) {
    if (tty) {
      std::cerr << fmt::format("\r{:<13} {}/{}\033[K", p.step, p.done, p.total) << std::flush;
    } else if (p.step != last_step) {
      std::cerr << "step: " << p.step << "\n";
    }
    last_step = p.step;
  });
  CycleOptions options;
  options.allow_mass_delete = allow_mass_delete;
  CycleReport report = (*rt)->engine->run_cycle(options);
  if (tty) std::cerr << "\r\033[K";
  std::cout << describe_report(report);
  if (report.failure && oauth::is_needs_login(*report.failure)) {
    std::cout << "sign-in needed: run crmsync login (nothing queued is lost)\n";
    return kExitNeedsLogin;
  }
  if (report.result == CycleResult::kMassDeleteHeld)
    std::cout << "deletions were held back by the mass-delete guard; rerun with "
                 "--allow-mass-delete to apply them\n";
  return exit_code_for_result(std::string(to_string(report.result)));
}

int run_config_check(const GlobalOptions& global) {
  std::string path = global.config.empty() ? default_config_path() : global.config;
  auto cfg = load_config(path);
  if (!cfg.ok()) {
    for (const auto& p : config_problems(cfg.error())) std::cout << p << "\n";
    return kExitUsage;
  }
  std::cout << "ok\n";
  return kExitOk;
}

}  // namespace

void add_local_commands(CLI::App& app, const GlobalOptions& global, Dispatcher& dispatcher) {
  auto allow = std::make_shared<bool>(false);
  auto* once = app.add_subcommand("once", "run one full sync cycle in this process (no daemon)");
  once->add_flag("--allow-mass-delete", *allow,
                 "confirm deletions the mass-delete guard would hold back (SPEC D10)");
  once->footer(
      "Exit codes: 0 ok; 1 item errors or the cycle failed; 2 usage or config error "
      "(or a daemon holds the cache); 4 the mass-delete guard held deletions; 5 sign-in "
      "needed (crmsync login).");
  dispatcher.add(once, [allow, &global] { return run_once(global, *allow); });

  auto* config = app.add_subcommand("config", "configuration commands");
  config->require_subcommand(1);
  auto* check =
      config->add_subcommand("check", "validate the config file: prints the problems or ok");
  dispatcher.add(check, [&global] { return run_config_check(global); });
}

}  // namespace crmsync::cli
