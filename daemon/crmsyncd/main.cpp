// crmsyncd: the daemon (DESIGN.md "Processes"). Opens the cache, store and CRM adapter on the
// sync worker, serves the loopback endpoint, and runs until SIGTERM/SIGINT (SIGHUP reloads).
//   crmsyncd [--config FILE]
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <iostream>

#include "crmsync/api/server.hpp"
#include "crmsync/config/config.hpp"
#include "crmsync/runtime/local_files.hpp"
#include "crmsync/service/logging.hpp"
#include "crmsync/service/worker.hpp"
#include "sd_notify.hpp"
#include "service.hpp"

namespace crmsync::daemon {
namespace {

namespace net = boost::asio;
using service::redact;
using service::setup_logging;
using service::SyncWorker;

// The endpoint's view of the worker: its snapshots, manual sync requests and the user's
// decisions (SPEC U2).
class WorkerBackend final : public api::Backend {
 public:
  explicit WorkerBackend(SyncWorker& worker) : worker_(worker) {}
  std::shared_ptr<const status::Snapshot> state() const override { return worker_.state(); }
  std::int64_t request_sync(const status::SyncParams& params,
                            std::function<void(const status::CycleInfo&)> done) override {
    return worker_.request_sync(params, std::move(done));
  }
  void decide(const status::Decision& decision,
              std::function<void(const status::DecisionReply&)> done) override {
    worker_.decide(decision, std::move(done));
  }

 private:
  SyncWorker& worker_;
};

void schedule_watchdog(std::shared_ptr<net::steady_timer> timer, std::chrono::microseconds every) {
  timer->expires_after(every / 2);
  timer->async_wait([timer, every](const boost::system::error_code& ec) {
    if (ec) return;
    sd_notify("WATCHDOG=1");
    schedule_watchdog(timer, every);
  });
}

int run_daemon(const std::string& config_path, ServiceControl& control) {
  auto loaded = load_config(config_path);
  if (!loaded.ok()) {
    for (const auto& p : config_problems(loaded.error())) std::cerr << "crmsyncd: " << p << "\n";
    return 2;
  }
  Config config = std::move(*loaded);
  setup_logging(config.log_level);
  spdlog::info("crmsyncd {} starting: profile {}, client {}, role {}, config {}", CRMSYNC_VERSION,
               config.profile, config.client_id, to_string(config.role), config.source);

  auto lock = ProfileLock::acquire(config.cache);
  if (!lock.ok()) {
    spdlog::error("{}", lock.error().message());
    return 1;
  }
  auto token = ensure_api_token(config.http.token_file);
  if (!token.ok()) {
    spdlog::error("API token: {}", token.error().message());
    return 1;
  }

  // Declared before the worker and the server, so it is destroyed last: the handlers still
  // queued (sessions, waiters' replies) are dropped after both are gone and touch neither.
  net::io_context io;
  RuntimeOptions runtime_options;
  runtime_options.windows_service = control.windows_service();  // MAPI_NT_SERVICE
  SyncWorker worker(config, system_clock(), CRMSYNC_VERSION,
                    [runtime_options](const Config& c, CrashPoints* cp) {
                      return open_runtime(c, system_clock(), cp, runtime_options);
                    });
  worker.on_exit([&io] { net::post(io, [&io] { io.stop(); }); });
  auto opened = worker.start().get();
  if (!opened.ok()) {
    spdlog::error("cannot start: {}", redact(opened.error().describe()));
    worker.join();
    return 1;
  }

  api::ServerOptions options;
  options.host = config.http.host;
  options.port = config.http.port;
  options.token = *token;
  WorkerBackend backend(worker);
  api::HttpServer server(io, backend, options);
  if (auto r = server.start(); !r.ok()) {
    spdlog::error("{}", r.error().message());
    worker.request_stop();
    worker.join();
    return 1;
  }
  RuntimeInfo info;
  info.host = config.http.host == "localhost" ? "127.0.0.1" : config.http.host;
  info.port = server.port();
  info.pid = ::getpid();
  info.profile = config.profile;
  if (auto r = write_runtime_file(config.runtime_file(), info); !r.ok())
    spdlog::warn("runtime file: {}", r.error().message());

  control.set_handlers(
      [&] {
        net::post(io, [&] {
          spdlog::info("stop requested: finishing the current step");
          sd_notify("STOPPING=1");
          server.stop();
          worker.request_stop();
        });
      },
      [&, config_path] {
        net::post(io, [&, config_path] {
          sd_notify("RELOADING=1");
          auto fresh = load_config(config_path);
          if (!fresh.ok()) {
            for (const auto& p : config_problems(fresh.error()))
              spdlog::error("reload refused: {}", p);
          } else {
            spdlog::set_level(spdlog::level::from_str(fresh->log_level));
            worker.request_reload(std::move(*fresh));
          }
          sd_notify("READY=1");
        });
      });
  watch_service_signals(io, control);
  if (control.stop_requested()) worker.request_stop();
  if (auto every = watchdog_interval())
    schedule_watchdog(std::make_shared<net::steady_timer>(io), *every);

  spdlog::info("listening on {} (token in {}); status page {}/", info.base_url(),
               config.http.token_file, info.base_url());
  sd_notify("READY=1\nSTATUS=listening on " + info.base_url() +
            "\nMAINPID=" + std::to_string(::getpid()));
  io.run();
  control.set_handlers(nullptr, nullptr);
  worker.join();
  remove_runtime_file(config.runtime_file());
  spdlog::info("crmsyncd stopped");
  return 0;
}

}  // namespace
}  // namespace crmsync::daemon

int main(int argc, char** argv) {
  using namespace crmsync::daemon;
  return service_main(argc, argv, [](int ac, char** av, ServiceControl& control) -> int {
    CLI::App app{"crmsyncd: keeps a mailbox and Microsoft Dynamics CRM in sync", "crmsyncd"};
    std::string config_path;
    app.add_option("--config", config_path,
                   "config file (default $XDG_CONFIG_HOME/crmsync/config.json)");
    app.set_version_flag("--version", CRMSYNC_VERSION);
    try {
      app.parse(ac, av);
    } catch (const CLI::ParseError& e) {
      int rc = app.exit(e);
      return rc == 0 ? 0 : 2;
    }
    if (config_path.empty()) config_path = crmsync::default_config_path();
    try {
      return run_daemon(config_path, control);
    } catch (const std::exception& e) {
      std::cerr << "crmsyncd: fatal: " << e.what() << "\n";
      return 1;
    }
  });
}
