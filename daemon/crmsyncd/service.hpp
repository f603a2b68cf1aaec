// Thin service glue (STYLE.md 13): SIGINT/SIGTERM, launchd's SIGTERM and the Windows SCM
// stop all become ServiceControl::request_stop(); SIGHUP becomes request_reload(). The
// platform code lives in service_posix.cpp / service_windows.cpp, chosen by CMake.
#pragma once

#include <functional>
#include <mutex>

namespace boost::asio {
class io_context;
}

namespace crmsync::daemon {

class ServiceControl {
 public:
  void set_handlers(std::function<void()> stop, std::function<void()> reload) {
    std::lock_guard lock(mutex_);
    stop_ = std::move(stop);
    reload_ = std::move(reload);
  }
  void request_stop() {
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
    if (stop_) stop_();
  }
  void request_reload() {
    std::lock_guard lock(mutex_);
    if (reload_) reload_();
  }
  bool stop_requested() const {
    std::lock_guard lock(mutex_);
    return stop_requested_;
  }
  // True when the Windows service control manager started the process (not a console).
  void set_windows_service(bool on) {
    std::lock_guard lock(mutex_);
    windows_service_ = on;
  }
  bool windows_service() const {
    std::lock_guard lock(mutex_);
    return windows_service_;
  }

 private:
  mutable std::mutex mutex_;
  std::function<void()> stop_;
  std::function<void()> reload_;
  bool stop_requested_ = false;
  bool windows_service_ = false;
};

// Delivers the platform's stop and reload requests to `control` (handlers run on `io`).
void watch_service_signals(boost::asio::io_context& io, ServiceControl& control);

// Runs `body` as this platform's service main: directly on POSIX; under the service
// control manager on Windows when the SCM started the process.
int service_main(int argc, char** argv,
                 const std::function<int(int, char**, ServiceControl&)>& body);

}  // namespace crmsync::daemon
