// Test support for the EWS adapter: the reference folder, xmllint schema validation, samples,
// a scripted transport, and the ews-emulator process.
#pragma once

#include <atomic>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crmsync/core/store_adapter.hpp"
#include "crmsync/http/client.hpp"
#include "crmsync/test/process.hpp"

namespace ewstest {

// The contact fields SPEC §7 maps as text (the street and the company name included), read
// from the mapping table so that the tests follow it.
std::vector<std::string> mapped_contact_text_fields();

// ${CMAKE_SOURCE_DIR}/../shared/reference/ews, or "" when it is absent.
std::string reference_dir();
// The text of a sample in reference/ews/samples ("" when absent).
std::string sample(const std::string& name);

// For a test that needs the reference folder / schema validation (the folder and xmllint,
// found at configure time): true when it is there; otherwise the test fails (CI) or is marked
// skipped (crmsync/test/prerequisite.hpp) and false is returned.
bool require_reference();
bool require_schema_check();
// Validates whole SOAP envelopes with xmllint against the Exchange 2010 SP2 schema set.
// Returns "" when every document is valid, else xmllint's complaints (require_schema_check()
// first).
std::string schema_errors(const std::vector<std::string>& envelopes);

// A scripted Transport: records requests, answers from a queue or a function.
struct Scripted {
  int status = 200;
  std::string body;
  std::optional<crmsync::Error> error;
  bool written = true;
};
// A scripted streamed body: each read() takes the next piece (text, the end of the body, or a
// broken connection); with none left it waits a little and reports that the body goes on.
struct StreamPiece {
  std::string data;
  bool end = false;
  std::optional<crmsync::Error> error;
};
class ScriptedStream final : public crmsync::http::BodyStream {
 public:
  explicit ScriptedStream(std::deque<StreamPiece> pieces, std::function<void()> on_piece = {},
                          int status = 200)
      : pieces_(std::move(pieces)), on_piece_(std::move(on_piece)), status_(status) {}
  int status() const override { return status_; }
  crmsync::Result<bool> read(std::string& out, std::chrono::milliseconds timeout) override;

 private:
  std::deque<StreamPiece> pieces_;
  std::function<void()> on_piece_;
  int status_;
};

struct FakeState {
  std::mutex mu;
  std::vector<crmsync::http::Request> requests;
  std::deque<Scripted> replies;
  std::function<Scripted(const crmsync::http::Request&)> fallback;
  // open_stream: null = this transport cannot stream (kInvalid, as http::Transport's default).
  std::function<crmsync::Result<std::unique_ptr<crmsync::http::BodyStream>>(
      const crmsync::http::Request&)>
      stream;
};
class FakeTransport final : public crmsync::http::Transport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeState> s) : s_(std::move(s)) {}
  crmsync::Result<crmsync::http::Response> send(const crmsync::http::Request& r,
                                                crmsync::http::SendInfo* info) override;
  crmsync::Result<std::unique_ptr<crmsync::http::BodyStream>> open_stream(
      const crmsync::http::Request& r) override;

 private:
  std::shared_ptr<FakeState> s_;
};

// Forwards to another transport and keeps a copy of every request body.
class RecordingTransport final : public crmsync::http::Transport {
 public:
  RecordingTransport(std::unique_ptr<crmsync::http::Transport> inner,
                     std::shared_ptr<std::vector<std::string>> bodies)
      : inner_(std::move(inner)), bodies_(std::move(bodies)) {}
  crmsync::Result<crmsync::http::Response> send(const crmsync::http::Request& r,
                                                crmsync::http::SendInfo* info) override {
    {
      std::lock_guard<std::mutex> lock(mu());
      bodies_->push_back(r.body);
    }
    return inner_->send(r, info);
  }
  crmsync::Result<std::unique_ptr<crmsync::http::BodyStream>> open_stream(
      const crmsync::http::Request& r) override {
    {
      std::lock_guard<std::mutex> lock(mu());
      bodies_->push_back(r.body);
    }
    return inner_->open_stream(r);
  }
  static std::mutex& mu() {
    static std::mutex m;
    return m;
  }

 private:
  std::unique_ptr<crmsync::http::Transport> inner_;
  std::shared_ptr<std::vector<std::string>> bodies_;
};

// The ews-emulator process: port 0, a temp database, SIGTERM on destruction. One per test
// binary (shared); each harness makes its own user (= its own mailbox).
class Emulator {
 public:
  // nullptr (and a reason) when the emulator was not built or did not start.
  static Emulator* shared(std::string* why);
  // A process of its own with extra arguments (e.g. {"--ntlm-schemes", "NTLM"}).
  static std::unique_ptr<Emulator> launch(const std::vector<std::string>& extra_args,
                                          std::string* why);
  ~Emulator();
  unsigned short port() const { return port_; }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/EWS/Exchange.asmx";
  }
  std::string admin_url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // POST /admin/users; false on failure.
  bool add_user(const std::string& email, const std::string& password);
  // POST /admin/faults with a JSON object.
  bool set_faults(const std::string& json);
  // Any admin call ("GET"/"POST", "/admin/...", a JSON body for POST).
  crmsync::Result<crmsync::http::Response> admin(const std::string& method, const std::string& path,
                                                 const std::string& json = "");
  // The EWS requests logged since the last reset (GET /admin/requests), in order, as
  // (operation from SOAPAction, HTTP status); 401 for each handshake leg.
  std::vector<std::pair<std::string, int>> logged();

 private:
  Emulator() = default;
  bool start(const std::string& path, const std::vector<std::string>& extra_args, std::string* why);
  std::filesystem::path dir_;
  int pid_ = -1;
  int out_fd_ = -1;
  unsigned short port_ = 0;
  std::thread drain_;
};

// A TCP proxy on 127.0.0.1 in front of a local port, whose connections a test can cut (a
// dropped stream, as a NAT or load balancer would drop it).
class TcpProxy {
 public:
  explicit TcpProxy(unsigned short upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;
  unsigned short port() const { return port_; }
  // Connections accepted so far.
  int accepted() const { return accepted_; }
  // Closes every open connection, both sides, at once.
  void drop_all();

 private:
  void run();
  void wake();
  unsigned short upstream_;
  unsigned short port_ = 0;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  std::atomic<int> accepted_{0};
  std::atomic<bool> drop_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Runs tests/support/mailbox_user.py (exchangelib) against `url` as `email`. A test that uses it
// calls require_exchangelib() first: false (after failing the test under CI, or marking it
// skipped) when python3-exchangelib is not installed.
bool require_exchangelib();
crmsync::test::RunResult mailbox_user(const std::string& url, const std::string& email,
                                      const std::string& password,
                                      const std::vector<std::string>& args);

// A unique mailbox address for this process.
std::string unique_email();

// A contact with a first and a last name, for the contacts folder.
crmsync::NewStoreItem contact(std::string first, std::string last);

}  // namespace ewstest
