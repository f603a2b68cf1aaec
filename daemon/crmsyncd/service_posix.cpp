// POSIX service glue: systemd and launchd send SIGTERM; a terminal sends SIGINT; SIGHUP
// reloads the configuration.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <memory>

#include "service.hpp"

namespace crmsync::daemon {
namespace {

void wait_stop(std::shared_ptr<boost::asio::signal_set> set, ServiceControl& control) {
  set->async_wait([set, &control](const boost::system::error_code& ec, int) {
    if (ec) return;
    control.request_stop();
    wait_stop(set, control);  // a second signal changes nothing: the stop is under way
  });
}

void wait_reload(std::shared_ptr<boost::asio::signal_set> set, ServiceControl& control) {
  set->async_wait([set, &control](const boost::system::error_code& ec, int) {
    if (ec) return;
    control.request_reload();
    wait_reload(set, control);
  });
}

}  // namespace

void watch_service_signals(boost::asio::io_context& io, ServiceControl& control) {
  std::signal(SIGPIPE, SIG_IGN);
  wait_stop(std::make_shared<boost::asio::signal_set>(io, SIGINT, SIGTERM), control);
  wait_reload(std::make_shared<boost::asio::signal_set>(io, SIGHUP), control);
}

int service_main(int argc, char** argv,
                 const std::function<int(int, char**, ServiceControl&)>& body) {
  ServiceControl control;
  return body(argc, argv, control);
}

}  // namespace crmsync::daemon
