// Test helpers: the reference folder, temp dirs, xmllint, and a small local HTTP(S) server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace crmtest {

namespace fs = std::filesystem;

// The shared reference folder, or nullopt.
std::optional<fs::path> reference_dir();
// The reference folder for a test that needs it. When it is missing the test fails (CI) or is
// marked skipped (crmsync/test/prerequisite.hpp) and nullopt is returned.
std::optional<fs::path> require_reference();
// The same for a schema check, which also needs xmllint (found at configure time).
std::optional<fs::path> require_schema_check();
std::string read_text(const fs::path& p);

// A fresh temporary directory, removed when this goes out of scope.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Runs xmllint --noout --schema xsd on the text; returns "" when valid, its output otherwise
// (require_schema_check() first).
std::string xmllint_errors(const std::string& xml, const fs::path& xsd);

struct ServerRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string header(std::string_view name) const;
};

struct ServerReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type = "text/xml; charset=utf-8";
  bool hang = false;            // read the request, never answer (until the server stops)
  bool close_no_reply = false;  // read the request, close the connection without a reply
  bool chunked = false;         // send the body with Transfer-Encoding: chunked
};

// A local HTTP/1.1 server on 127.0.0.1 (TLS when cert and key are given), one thread per
// connection, keep-alive. The handler runs on connection threads.
class TestServer {
 public:
  using Handler = std::function<ServerReply(const ServerRequest&)>;
  explicit TestServer(Handler handler, std::string cert_file = {}, std::string key_file = {});
  ~TestServer();
  unsigned short port() const { return port_; }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  unsigned short port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
};

// A private CA and a server certificate for `dns_name`, made with the openssl CLI (which must
// be on PATH: the caller checks crmsync::test::prereq::kOpenssl); on failure the paths are empty
// and `log` says what openssl said.
struct TestPki {
  fs::path ca_cert, server_cert, server_key;
  std::string log;
};
TestPki make_test_pki(const fs::path& dir, const std::string& dns_name);

}  // namespace crmtest
