// The loopback HTTP endpoint: a listener and sessions over Boost.Beast (in server.cpp only).
// Deadline before every read, capped header and body sizes, a bounded number of sessions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "crmsync/api/route.hpp"
#include "crmsync/model/result.hpp"

namespace boost::asio {
class io_context;
}

namespace crmsync::api {

// What the endpoint needs from the daemon. Thread-safe: called from the I/O thread.
class Backend {
 public:
  virtual ~Backend() = default;
  // The latest published snapshot.
  virtual std::shared_ptr<const status::Snapshot> state() const = 0;
  // Queues a manual sync (coalesced with others not yet started); returns the request id.
  // `done`, when set, is called (from any thread) with the cycle that answered it.
  virtual std::int64_t request_sync(const status::SyncParams& params,
                                    std::function<void(const status::CycleInfo&)> done) = 0;
  // Hands a decision of the user's (SPEC U2) to the worker; `done` is called (from any
  // thread, exactly once) with its answer.
  virtual void decide(const status::Decision& decision,
                      std::function<void(const status::DecisionReply&)> done) = 0;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the system picks one (see HttpServer::port())
  std::string token;
  std::size_t max_body = 64 * 1024;
  std::size_t max_header = 8 * 1024;
  std::chrono::milliseconds read_timeout{10'000};  // per request, from its first byte wait
  std::chrono::milliseconds write_timeout{10'000};
  std::size_t max_sessions = 64;
  std::chrono::milliseconds poll_interval{100};  // how often a long poll looks for events
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, Backend& backend, ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (kInvalid for a non-loopback host, kTransient when the port is taken),
  // then accepts on the io_context.
  Result<void> start();
  std::uint16_t port() const;
  // Closes the listener; open sessions end with their current exchange.
  void stop();

  struct Impl;  // public so that the sessions in server.cpp can hold it

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace crmsync::api
