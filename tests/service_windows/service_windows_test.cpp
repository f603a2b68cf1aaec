// The Windows service glue from a console (no service control manager): service_main runs the
// body directly, and SIGINT (Ctrl-C) reaches the body's ServiceControl as a stop request.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <csignal>

#include "service.hpp"

using namespace crmsync::daemon;

TEST_CASE("service_main from a console runs the body with its arguments", "[service][windows]") {
  char arg0[] = "crmsyncd";
  char arg1[] = "--config";
  char* argv[] = {arg0, arg1, nullptr};
  int seen_argc = 0;
  bool stopped_before = true;
  int rc = service_main(2, argv, [&](int argc, char** av, ServiceControl& control) {
    seen_argc = argc;
    CHECK(std::string(av[1]) == "--config");
    stopped_before = control.stop_requested();
    return 7;
  });
  CHECK(rc == 7);
  CHECK(seen_argc == 2);
  CHECK_FALSE(stopped_before);
}

TEST_CASE("service glue turns SIGINT into the stop request", "[service][windows]") {
  boost::asio::io_context io;
  ServiceControl control;
  int stops = 0;
  control.set_handlers([&] { ++stops; }, [] {});
  watch_service_signals(io, control);
  std::raise(SIGINT);
  // The watch re-arms itself, so the context never runs out of work: run until the stop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!control.stop_requested() && std::chrono::steady_clock::now() < deadline)
    io.run_one_for(std::chrono::milliseconds(100));
  CHECK(control.stop_requested());
  CHECK(stops == 1);
}
