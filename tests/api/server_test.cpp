// The Beast server over real loopback sockets: a client in-process, hostile inputs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "crmsync/api/server.hpp"
#include "crmsync/http/client.hpp"
#include "crmsync/test/spawn.hpp"

using namespace crmsync;
using namespace crmsync::api;
using namespace crmsync::status;
using namespace std::chrono_literals;

namespace {

const std::string kToken(64, 'c');

class FakeBackend : public Backend {
 public:
  FakeBackend() { state_ = std::make_shared<Snapshot>(); }
  std::shared_ptr<const Snapshot> state() const override {
    std::lock_guard lock(mutex_);
    return state_;
  }
  std::int64_t request_sync(const SyncParams& params,
                            std::function<void(const CycleInfo&)> done) override {
    std::lock_guard lock(mutex_);
    last_params = params;
    std::int64_t id = ++requests;
    if (done) {
      // Answer from another thread, as the worker does.
      std::thread([done, id] {
        CycleInfo c;
        c.id = 40 + id;
        c.result = "ok";
        c.requests = {id};
        done(c);
      }).detach();
    }
    return id;
  }
  // Answers 409 from another thread, as the worker does, naming the decision's entry id.
  void decide(const Decision& d, std::function<void(const DecisionReply&)> done) override {
    {
      std::lock_guard lock(mutex_);
      last_decision = d;
    }
    std::thread([done, d] {
      done({409, "{\"error\":\"" + d.entry_id + " is tracked already\"}"});
    }).detach();
  }
  void add_event(const std::string& type) {
    std::lock_guard lock(mutex_);
    auto next = std::make_shared<Snapshot>(*state_);
    std::int64_t id = next->events.empty() ? 1 : next->events.back().id + 1;
    next->events.push_back({id, type, UtcTime{0}, "{}"});
    state_ = next;
  }
  SyncParams last_params;
  std::int64_t requests = 0;
  Decision last_decision;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<Snapshot> state_;
};

struct Server {
  FakeBackend backend;
  boost::asio::io_context io;
  std::unique_ptr<HttpServer> server;
  std::thread thread;

  explicit Server(ServerOptions o = {}) {
    o.token = kToken;
    server = std::make_unique<HttpServer>(io, backend, o);
    auto r = server->start();
    REQUIRE(r.ok());
    thread = std::thread([this] { io.run(); });
  }
  ~Server() {
    io.stop();
    thread.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + path;
  }
  http::Response send(const std::string& method, const std::string& path, bool auth = true,
                      const std::string& body = "") const {
    http::Client client;
    http::Request req;
    req.method = method;
    req.url = url(path);
    req.body = body;
    if (auth) req.headers.emplace_back("Authorization", "Bearer " + kToken);
    auto r = client.send(req);
    REQUIRE(r.ok());
    return *r;
  }
};

// A raw TCP connection for what a well-behaved client would never send.
class RawConn {
 public:
  explicit RawConn(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~RawConn() { ::close(fd_); }
  bool send(const std::string& s) {
    return ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // Everything until the server closes, or nullopt if it is still open after `timeout`.
  std::optional<std::string> read_until_closed(std::chrono::milliseconds timeout) {
    std::string out;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
};

std::string host_line(const Server& s) {
  return "Host: 127.0.0.1:" + std::to_string(s.server->port()) + "\r\n";
}

}  // namespace

TEST_CASE("health over a socket - 401 without the token", "[api][server]") {
  Server s;
  auto h = s.send("GET", "/v1/health", false);
  CHECK(h.status == 200);
  CHECK(h.body == "{\"ok\":true}");
  CHECK(s.send("GET", "/v1/status", false).status == 401);
  CHECK(s.send("GET", "/v1/status").status == 200);
  CHECK(s.send("PUT", "/v1/status").status == 405);
  CHECK(s.send("GET", "/nope").status == 404);
}

TEST_CASE("POST /v1/sync: accepted at once - or answered when the cycle finished",
          "[api][server]") {
  Server s;
  auto a = s.send("POST", "/v1/sync", true, R"({"allow_mass_delete":true})");
  CHECK(a.status == 202);
  CHECK(s.backend.last_params.allow_mass_delete);
  auto w = s.send("POST", "/v1/sync", true, R"({"wait":true})");
  REQUIRE(w.status == 200);
  rapidjson::Document d;
  d.Parse(w.body.c_str());
  REQUIRE(d.IsObject());
  CHECK(d["request"].GetInt() == 2);
  CHECK(std::string(d["cycle"]["result"].GetString()) == "ok");
}

TEST_CASE("U2: a decision is answered when the worker has acted - with its status",
          "[api][server]") {
  Server s;
  auto r = s.send("POST", "/v1/items/track", true, R"({"entry_id":"ABC123"})");
  CHECK(r.status == 409);
  CHECK(r.body == R"({"error":"ABC123 is tracked already"})");
  CHECK(s.backend.last_decision.type == Decision::Type::kTrack);
  CHECK(s.send("POST", "/v1/items/track", false, R"({"entry_id":"ABC123"})").status == 401);
  CHECK(s.send("POST", "/v1/items/track", true, R"({"entry_id":"A B"})").status == 400);
  CHECK(s.send("GET", "/v1/items/track", true).status == 405);
}

TEST_CASE("GET /v1/events long-polls until an event arrives", "[api][server]") {
  Server s;
  std::thread later([&] {
    // Add the event once the poll is waiting (the server polls every 100 ms).
    std::this_thread::sleep_for(300ms);
    s.backend.add_event("cycle-started");
  });
  auto t0 = std::chrono::steady_clock::now();
  auto r = s.send("GET", "/v1/events?after=0&timeout=10");
  later.join();
  CHECK(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("cycle-started"));
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  // Nothing new: an empty array after the timeout.
  auto empty = s.send("GET", "/v1/events?after=1&timeout=1");
  CHECK(empty.body == "[]");
}

TEST_CASE("a hostile Host header is refused over the socket", "[api][server]") {
  Server s;
  RawConn c(s.server->port());
  c.send("GET /v1/health HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n");
  auto out = c.read_until_closed(5s);
  REQUIRE(out);
  CHECK_THAT(*out, Catch::StartsWith("HTTP/1.1 403"));
}

TEST_CASE("oversized headers and bodies are refused", "[api][server]") {
  ServerOptions o;
  o.max_body = 1024;
  o.max_header = 4096;
  Server s(o);
  {
    RawConn c(s.server->port());
    c.send("GET /v1/health HTTP/1.1\r\n" + host_line(s) + "X-Big: " + std::string(10000, 'x') +
           "\r\n\r\n");
    auto out = c.read_until_closed(5s);
    REQUIRE(out);
    CHECK_THAT(*out, Catch::StartsWith("HTTP/1.1 431"));
  }
  {
    RawConn c(s.server->port());
    c.send("POST /v1/sync HTTP/1.1\r\n" + host_line(s) + "Authorization: Bearer " + kToken +
           "\r\nContent-Length: 1000000\r\n\r\n" + std::string(2000, '{'));
    auto out = c.read_until_closed(5s);
    REQUIRE(out);
    CHECK_THAT(*out, Catch::StartsWith("HTTP/1.1 413"));
  }
  CHECK(s.backend.requests == 0);
}

TEST_CASE("a garbage request line gets 400 and the connection closes", "[api][server]") {
  Server s;
  for (std::string garbage :
       {std::string("HELLO\r\n\r\n"), std::string("GET\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n",
        std::string("GET / HTTP/9.9\r\n\r\n")}) {
    RawConn c(s.server->port());
    c.send(garbage);
    auto out = c.read_until_closed(5s);
    REQUIRE(out);
    CHECK_THAT(*out, Catch::StartsWith("HTTP/1.1 400"));
  }
  CHECK(s.send("GET", "/v1/health", false).status == 200);  // still serving
}

TEST_CASE("slowloris: the read deadline closes a connection that trickles", "[api][server]") {
  ServerOptions o;
  o.read_timeout = 300ms;
  Server s(o);
  RawConn c(s.server->port());
  REQUIRE(c.send("GET /v1/health HTTP/1.1\r\nHo"));
  auto t0 = std::chrono::steady_clock::now();
  auto out = c.read_until_closed(5s);
  REQUIRE(out);  // closed by the server, well before our 5 s
  CHECK(out->empty());
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  // An idle keep-alive connection is closed the same way.
  RawConn idle(s.server->port());
  CHECK(idle.read_until_closed(5s).has_value());
  CHECK(s.send("GET", "/v1/health", false).status == 200);
}

TEST_CASE("keep-alive serves several requests on one connection", "[api][server]") {
  Server s;
  RawConn c(s.server->port());
  std::string req = "GET /v1/health HTTP/1.1\r\n" + host_line(s) + "\r\n";
  c.send(req + req + "GET /v1/health HTTP/1.1\r\n" + host_line(s) + "Connection: close\r\n\r\n");
  auto out = c.read_until_closed(5s);
  REQUIRE(out);
  std::size_t n = 0;
  for (std::size_t at = 0; (at = out->find("HTTP/1.1 200", at)) != std::string::npos; ++at) ++n;
  CHECK(n == 3);
}

TEST_CASE("X4: the server refuses to listen on a non-loopback address", "[api][server]") {
  FakeBackend backend;
  boost::asio::io_context io;
  ServerOptions o;
  o.host = "0.0.0.0";
  HttpServer server(io, backend, o);
  auto r = server.start();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
}
