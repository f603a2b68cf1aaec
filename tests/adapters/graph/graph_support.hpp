// Test support for the Graph store adapter: the graph-emulator process (one per test binary,
// a mailbox per test), a transport that counts and records requests, and a scripted transport
// for hostile answers.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crmsync/http/client.hpp"
#include "crmsync/store_graph/graph_store.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace graphtest {

// ../shared/reference/graph/v1.0-Prod.csdl beside the source tree, which the emulator needs.
const std::string& csdl_path();
bool csdl_present();

// The graph-emulator process on port 0 with its own database.
class Emulator {
 public:
  // nullptr (and a reason) when the emulator did not start (not built, no CSDL).
  static Emulator* shared(std::string* why);
  static std::unique_ptr<Emulator> launch(std::string* why);
  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  // POST /admin/users: the new mailbox's bearer token ("" on failure).
  std::string add_user(const std::string& upn);
  // Any admin call; the answer's body ("" and status 0 on failure).
  crmsync::Result<crmsync::http::Response> admin(const std::string& method, const std::string& path,
                                                 const std::string& json = "");
  bool faults(const std::string& json);
  // A Graph call as the user of `token` (JSON body), e.g. what a user does in Outlook.
  crmsync::Result<crmsync::http::Response> graph(const std::string& token,
                                                 const std::string& method, const std::string& path,
                                                 const std::string& json = "");
  // GET /admin/requests: how many requests the emulator logged (batch members apart).
  std::size_t requests();

 private:
  Emulator() = default;
  crmsync::test::TempDir dir_;
  std::unique_ptr<crmsync::test::Spawned> proc_;
  unsigned short port_ = 0;
};

// Percent-encodes a query value.
std::string url_encode(const std::string& s);

// A unique mailbox name for this process.
std::string unique_upn();

// Forwards to another transport, counting requests and keeping their method and URL.
class CountingTransport final : public crmsync::http::Transport {
 public:
  struct Log {
    std::mutex mu;
    std::vector<std::string> lines;  // "GET https://..." per request
    std::atomic<int> count{0};
  };
  CountingTransport(std::unique_ptr<crmsync::http::Transport> inner, std::shared_ptr<Log> log)
      : inner_(std::move(inner)), log_(std::move(log)) {}
  crmsync::Result<crmsync::http::Response> send(const crmsync::http::Request& r,
                                                crmsync::http::SendInfo* info) override;

 private:
  std::unique_ptr<crmsync::http::Transport> inner_;
  std::shared_ptr<Log> log_;
};

// A scripted transport: each request answered by `answer` (or a transport error), recorded.
struct Script {
  std::mutex mu;
  std::vector<crmsync::http::Request> requests;
  std::function<crmsync::Result<crmsync::http::Response>(const crmsync::http::Request&,
                                                         crmsync::http::SendInfo*)>
      answer;
};
class ScriptedTransport final : public crmsync::http::Transport {
 public:
  explicit ScriptedTransport(std::shared_ptr<Script> s) : s_(std::move(s)) {}
  crmsync::Result<crmsync::http::Response> send(const crmsync::http::Request& r,
                                                crmsync::http::SendInfo* info) override;

 private:
  std::shared_ptr<Script> s_;
};

// Forwards to the real client, calling `before` ahead of each request (a user's edit racing the
// adapter) and turning the answer into a lost reply when `lose` says so (sent, acted on, never
// answered: a connection cut after the server committed).
class HookTransport final : public crmsync::http::Transport {
 public:
  std::function<void(const crmsync::http::Request&)> before;
  std::function<bool(const crmsync::http::Request&)> lose;
  crmsync::Result<crmsync::http::Response> send(const crmsync::http::Request& r,
                                                crmsync::http::SendInfo* info) override;

 private:
  crmsync::http::Client inner_;
};

// A JSON answer.
crmsync::http::Response json_response(int status, std::string body,
                                      crmsync::http::Headers headers = {});

}  // namespace graphtest

// Ends the test case unless the CSDL (and so the emulator) is there.
#define REQUIRE_GRAPH_EMULATOR()                                                         \
  REQUIRE_PREREQUISITE(::crmsync::test::prereq::kReference, ::graphtest::csdl_present(), \
                       ::graphtest::csdl_path())
