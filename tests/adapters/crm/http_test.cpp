// The HTTP client against local servers: plain, TLS with a private CA, deadlines, caps.
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>
#include <chrono>

#include "crmsync/http/client.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace crmsync::http;
using namespace std::chrono_literals;

TEST_CASE("Url::parse", "[http]") {
  auto u = Url::parse("https://crm.example.org:8443/org1/XRMServices?x=1#frag");
  REQUIRE(u.ok());
  CHECK(u->tls);
  CHECK(u->host == "crm.example.org");
  CHECK(u->port == 8443);
  CHECK(u->target == "/org1/XRMServices?x=1");
  CHECK(u->origin() == "https://crm.example.org:8443");
  auto plain = Url::parse("http://127.0.0.1");
  REQUIRE(plain.ok());
  CHECK(plain->port == 80);
  CHECK(plain->target == "/");
  CHECK_FALSE(Url::parse("ftp://x").ok());
  CHECK_FALSE(Url::parse("http://:80/").ok());
  CHECK_FALSE(Url::parse("http://host:99999/").ok());
  CHECK_FALSE(Url::parse("http://user:pw@host/").ok());
}

TEST_CASE("plain HTTP exchange with keep-alive reuse", "[http]") {
  crmtest::TestServer server([](const crmtest::ServerRequest& r) {
    crmtest::ServerReply reply;
    reply.body = r.method + " " + r.target + " " + r.body + " " + r.header("X-Test");
    return reply;
  });
  Client client;
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  for (int i = 0; i < 3; ++i) {
    SendInfo info;
    auto res = client.send({"POST", base + "/a/b?c", {{"X-Test", "yes"}}, "hello"}, &info);
    REQUIRE(res.ok());
    CHECK(res->status == 200);
    CHECK(res->body == "POST /a/b?c hello yes");
    CHECK(info.request_written);
  }
  CHECK(server.connections() == 1);
  CHECK(server.requests() == 3);
}

TEST_CASE("connection refused is kTransient and nothing was written", "[http]") {
  unsigned short port;
  {
    crmtest::TestServer s([](const auto&) { return crmtest::ServerReply{}; });
    port = s.port();
  }
  Client client;
  SendInfo info;
  auto res = client.send({"GET", "http://127.0.0.1:" + std::to_string(port) + "/", {}, ""}, &info);
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().is(ErrorKind::kTransient));
  CHECK_FALSE(info.request_written);
}

TEST_CASE("a server that never answers: kTransient within the deadline", "[http][deadline]") {
  crmtest::TestServer server([](const auto&) {
    crmtest::ServerReply r;
    r.hang = true;
    return r;
  });
  ClientOptions opt;
  opt.io_timeout = 300ms;
  Client client(opt);
  SendInfo info;
  auto start = std::chrono::steady_clock::now();
  auto res = client.send(
      {"POST", "http://127.0.0.1:" + std::to_string(server.port()) + "/", {}, "x"}, &info);
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().is(ErrorKind::kTransient));
  CHECK_THAT(res.error().message(), Catch::Contains("timeout"));
  CHECK(info.request_written);
  CHECK(took >= 300ms);
  CHECK(took < 3s);
}

TEST_CASE("a reply closed before any byte: kTransient - request written", "[http]") {
  crmtest::TestServer server([](const auto&) {
    crmtest::ServerReply r;
    r.close_no_reply = true;
    return r;
  });
  Client client;
  SendInfo info;
  auto res = client.send(
      {"POST", "http://127.0.0.1:" + std::to_string(server.port()) + "/", {}, "x"}, &info);
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().is(ErrorKind::kTransient));
  CHECK(info.request_written);
}

TEST_CASE("a reply larger than the cap is kInvalid", "[http][hostile]") {
  const bool chunked = GENERATE(false, true);
  INFO("chunked: " << chunked);
  crmtest::TestServer server([chunked](const auto&) {
    crmtest::ServerReply r;
    r.body = std::string(100'000, 'x');
    r.chunked = chunked;
    return r;
  });
  ClientOptions opt;
  opt.max_response_bytes = 10'000;
  Client client(opt);
  auto res =
      client.send({"GET", "http://127.0.0.1:" + std::to_string(server.port()) + "/", {}, ""});
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().is(ErrorKind::kInvalid));
  CHECK_THAT(res.error().message(), Catch::Contains("larger than 10000"));
}

TEST_CASE("HTTPS with a private CA: verified - and refused when untrusted or mismatched",
          "[http][tls]") {
  crmtest::TempDir dir;
  auto pki = crmtest::make_test_pki(dir.path(), "localhost");
  if (pki.ca_cert.empty()) {
    WARN("openssl CLI could not make a test CA; skipping");
    return;
  }
  crmtest::TestServer server(
      [](const auto&) {
        crmtest::ServerReply r;
        r.body = "secure";
        return r;
      },
      pki.server_cert.string(), pki.server_key.string());
  const std::string port = std::to_string(server.port());

  SECTION("CA configured, host name matches") {
    ClientOptions opt;
    opt.ca_file = pki.ca_cert.string();
    Client client(opt);
    auto res = client.send({"GET", "https://localhost:" + port + "/", {}, ""});
    REQUIRE(res.ok());
    CHECK(res->body == "secure");
    auto again = client.send({"GET", "https://localhost:" + port + "/", {}, ""});
    REQUIRE(again.ok());
    CHECK(server.connections() == 1);
  }
  SECTION("CA not trusted (system store only)") {
    Client client;
    auto res = client.send({"GET", "https://localhost:" + port + "/", {}, ""});
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().is(ErrorKind::kPermission));
    CHECK_THAT(res.error().message(), Catch::Contains("verification failed"));
  }
  SECTION("host name mismatch (certificate is for localhost, we dial 127.0.0.1)") {
    ClientOptions opt;
    opt.ca_file = pki.ca_cert.string();
    Client client(opt);
    auto res = client.send({"GET", "https://127.0.0.1:" + port + "/", {}, ""});
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().is(ErrorKind::kPermission));
    CHECK_THAT(res.error().message(), Catch::Contains("verification failed"));
  }
  SECTION("a CA file that does not exist is kInvalid") {
    ClientOptions opt;
    opt.ca_file = (dir.path() / "missing.pem").string();
    Client client(opt);
    auto res = client.send({"GET", "https://localhost:" + port + "/", {}, ""});
    REQUIRE_FALSE(res.ok());
    CHECK(res.error().is(ErrorKind::kInvalid));
  }
}

TEST_CASE("a TLS handshake that never completes: kTransient within the deadline",
          "[http][deadline][tls]") {
  // A listening socket that never accepts: the kernel completes the TCP handshake, nobody
  // speaks TLS.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  ClientOptions opt;
  opt.connect_timeout = 300ms;
  Client client(opt);
  auto start = std::chrono::steady_clock::now();
  auto res =
      client.send({"GET",
                   "https://localhost:" + std::to_string(acceptor.local_endpoint().port()) + "/",
                   {},
                   ""});
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().is(ErrorKind::kTransient));
  CHECK_THAT(res.error().message(), Catch::Contains("timeout"));
  CHECK(took < 3s);
}
