// NTLM/Negotiate end to end on loopback: crmsync_http's connection-bound handshake (GSSAPI with
// gss-ntlmssp) against ews-emulator's GSSAPI acceptor, then the EWS adapter with negotiate auth
// (a round trip and the streaming wait). Skipped, saying why, where gss-ntlmssp is missing.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "crmsync/http/auth.hpp"
#include "crmsync/http/client.hpp"
#include "crmsync/store_ews/ews_store.hpp"
#include "crmsync/test/prerequisite.hpp"
#include "crmsync/test/process.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

namespace {

// NTLM must be able to run here (gss-ntlmssp): otherwise the test fails under CI and is
// skipped elsewhere (crmsync/test/prerequisite.hpp).
bool ntlm_available() {
  auto ok = http::negotiate_available();
  return test::prerequisite(test::prereq::kNtlm, ok.ok(), ok ? "" : ok.error().message());
}

#define NEED_NTLM() \
  if (!ntlm_available()) return

// An emulator of its own (a clean request log) with one user who must use NTLM.
struct NtlmServer {
  std::unique_ptr<ewstest::Emulator> emu;
  std::string email = "alice@example.test";
  std::string ntlm_user = "EXAMPLE\\alice";
  std::string password = "Pa55-word!";

  explicit NtlmServer(const std::vector<std::string>& args = {}) {
    std::string why;
    emu = ewstest::Emulator::launch(args, &why);
    if (!emu) FAIL("ews-emulator: " << why);
    auto r = emu->admin("POST", "/admin/users",
                        R"({"email":")" + email + R"(","password":")" + password +
                            R"(","auth":"negotiate","ntlm_user":"EXAMPLE\\alice"})");
    REQUIRE(r.ok());
    INFO(r->body);
    REQUIRE(r->status == 200);
  }
  std::vector<int> statuses() {
    std::vector<int> out;
    for (const auto& [op, status] : emu->logged()) out.push_back(status);
    return out;
  }
};

std::string get_folder_body() {
  return R"(<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"
  xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">
<soap:Header><t:RequestServerVersion Version="Exchange2010_SP2"/></soap:Header>
<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder></soap:Body>
</soap:Envelope>)";
}

http::Request get_folder(const ewstest::Emulator& emu) {
  return {"POST",
          emu.url(),
          {{"Content-Type", "text/xml; charset=utf-8"},
           {"SOAPAction",
            "\"http://schemas.microsoft.com/exchange/services/2006/messages/GetFolder\""}},
          get_folder_body()};
}

std::shared_ptr<http::Authenticator> authenticator(const std::string& user,
                                                   const std::string& password_file) {
  auto a = http::make_negotiate_authenticator({user, password_file});
  REQUIRE(a.ok());
  return *a;
}

// One GetFolder from a fresh client signing in as `user` with the password in `password_file`.
Result<http::Response> get_folder_as(const ewstest::Emulator& emu, const std::string& user,
                                     const std::string& password_file) {
  http::ClientOptions options;
  options.authenticator = authenticator(user, password_file);
  http::Client client(options);
  return client.send(get_folder(emu));
}

using ewstest::contact;

}  // namespace

TEST_CASE("NTLM: the handshake authenticates one connection - reuse needs no new handshake",
          "[ews][negotiate][http]") {
  NEED_NTLM();
  NtlmServer server;
  test::TempDir dir;
  std::ofstream(dir.file("pw")) << server.password << "\n";
  http::ClientOptions options;
  options.authenticator = authenticator(server.ntlm_user, dir.file("pw"));
  http::Client client(options);

  // Basic is refused for this user, as by a server with Windows authentication only.
  http::Client basic;
  auto refused = basic.send(get_folder(*server.emu));
  REQUIRE(refused.ok());
  CHECK(refused->status == 401);
  CHECK(refused->header("WWW-Authenticate") != "");

  // request → 401 (Negotiate, NTLM) → NEGOTIATE → 401 + CHALLENGE → AUTHENTICATE → 200.
  http::SendInfo info;
  auto first = client.send(get_folder(*server.emu), &info);
  REQUIRE(first.ok());
  INFO(first->body);
  CHECK(first->status == 200);
  CHECK(first->body.find("NoError") != std::string::npos);
  CHECK(info.request_written);
  CHECK_FALSE(info.resent_after_write);
  CHECK(server.statuses() == std::vector<int>{401, 401, 401, 200});

  // The kept-alive connection stays authenticated: no new leg.
  for (int i = 0; i < 3; ++i) {
    auto again = client.send(get_folder(*server.emu));
    REQUIRE(again.ok());
    CHECK(again->status == 200);
  }
  CHECK(server.statuses() == std::vector<int>{401, 401, 401, 200, 200, 200, 200});

  // A fresh client (a new connection) does the handshake again; it knows the scheme from
  // nothing, so it starts with the plain request.
  http::Client other(options);
  auto fresh = other.send(get_folder(*server.emu));
  REQUIRE(fresh.ok());
  CHECK(fresh->status == 200);
  CHECK(server.statuses().size() == 10);
  CHECK(server.statuses().back() == 200);
}

TEST_CASE("NTLM: bare NTLM when the server offers only NTLM - a new connection starts at once",
          "[ews][negotiate][http]") {
  NEED_NTLM();
  NtlmServer server({"--ntlm-schemes", "NTLM"});
  test::TempDir dir;
  std::ofstream(dir.file("pw")) << server.password;
  http::ClientOptions options;
  options.authenticator = authenticator("alice@EXAMPLE", dir.file("pw"));  // user@domain
  options.io_timeout = 10s;
  {
    http::Client client(options);
    auto res = client.send(get_folder(*server.emu));
    REQUIRE(res.ok());
    CHECK(res->status == 200);
    CHECK(server.statuses() == std::vector<int>{401, 401, 200});
    // The stream is a connection of its own: its handshake starts with NEGOTIATE, the scheme
    // being known from the first connection. (GetFolder is not a stream: the reply ends.)
    auto stream = client.open_stream(get_folder(*server.emu));
    REQUIRE(stream.ok());
    CHECK((*stream)->status() == 200);
    std::string body;
    for (int i = 0; i < 100; ++i) {
      auto more = (*stream)->read(body, 1s);
      REQUIRE(more.ok());
      if (!*more) break;
    }
    CHECK(body.find("NoError") != std::string::npos);
    CHECK(server.statuses() == std::vector<int>{401, 401, 200, 401, 200});
  }
}

TEST_CASE("NTLM: a wrong password is kPermission - the password file is re-read",
          "[ews][negotiate][http]") {
  NEED_NTLM();
  NtlmServer server;
  test::TempDir dir;
  std::ofstream(dir.file("pw")) << "not-the-password\n";
  http::ClientOptions options;
  options.authenticator = authenticator(server.ntlm_user, dir.file("pw"));
  http::Client client(options);
  auto res = client.send(get_folder(*server.emu));
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().is(ErrorKind::kPermission));
  CHECK_THAT(res.error().message(), Catch::Contains("refused the credentials"));
  CHECK(res.error().message().find("not-the-password") == std::string::npos);
  CHECK(server.statuses() == std::vector<int>{401, 401, 401});

  // A corrected password file counts from the next connection on.
  std::ofstream(dir.file("pw"), std::ios::trunc) << server.password << "\n";
  auto ok = client.send(get_folder(*server.emu));
  REQUIRE(ok.ok());
  CHECK(ok->status == 200);

  // An unknown user is refused the same way.
  auto no = get_folder_as(*server.emu, "EXAMPLE\\mallory", dir.file("pw"));
  REQUIRE_FALSE(no.ok());
  CHECK(no.error().is(ErrorKind::kPermission));
  // An unreadable password file: kPermission naming no secret.
  auto absent = get_folder_as(*server.emu, server.ntlm_user, dir.file("absent"));
  REQUIRE_FALSE(absent.ok());
  CHECK(absent.error().is(ErrorKind::kPermission));
  CHECK_THAT(absent.error().message(), Catch::Contains("password file"));
}

TEST_CASE("NTLM: a cut authenticated connection - the fresh one does the handshake again",
          "[ews][negotiate][http]") {
  NEED_NTLM();
  NtlmServer server;
  test::TempDir dir;
  std::ofstream(dir.file("pw")) << server.password;
  ewstest::TcpProxy proxy(server.emu->port());  // a NAT or load balancer dropping connections
  http::ClientOptions options;
  options.authenticator = authenticator(server.ntlm_user, dir.file("pw"));
  http::Client client(options);
  http::Request req = get_folder(*server.emu);
  req.url = "http://127.0.0.1:" + std::to_string(proxy.port()) + "/EWS/Exchange.asmx";
  auto res = client.send(req);
  REQUIRE(res.ok());
  CHECK(res->status == 200);
  CHECK(server.statuses() == std::vector<int>{401, 401, 200});
  proxy.drop_all();
  REQUIRE(test::eventually([&] { return proxy.accepted() == 1; }));
  auto again = client.send(req);
  REQUIRE(again.ok());
  CHECK(again->status == 200);
  CHECK(proxy.accepted() == 2);
  // The new connection starts with NEGOTIATE (the scheme is known): CHALLENGE, then 200.
  CHECK(server.statuses() == std::vector<int>{401, 401, 200, 401, 200});
}

TEST_CASE("EWS adapter with negotiate auth: create - read - update - streaming wait",
          "[ews][negotiate][emulator]") {
  NEED_NTLM();
  NtlmServer server;
  test::TempDir dir;
  std::ofstream(dir.file("pw")) << server.password << "\n";
  auto config = [&](const std::string& state) {
    EwsStoreConfig c;
    c.url = server.emu->url();
    c.mailbox = server.email;
    c.auth.type = EwsAuth::Type::kNegotiate;
    c.auth.username = server.ntlm_user;
    c.auth.password_file = dir.file("pw");
    c.state_path = dir.file(state);
    c.poll_interval = std::chrono::hours(1);  // only the stream can wake the wait in time
    c.request_timeout = 20s;
    return c;
  };
  // The production path: open_ews_store builds the client and its authenticator.
  auto opened = open_ews_store(config("mine.db"), system_clock());
  REQUIRE(opened.ok());
  auto mine = std::move(*opened);
  auto other_opened = open_ews_store(config("other.db"), system_clock());
  REQUIRE(other_opened.ok());
  auto other = std::move(*other_opened);

  auto created = mine->create(contact("Ada", "Lovelace"));
  REQUIRE(created.ok());
  auto got = mine->get(created->entry_id);
  REQUIRE(got.ok());
  CHECK(got->item.fields.at("LastName") == Value(std::string("Lovelace")));
  auto updated = mine->update(created->entry_id, got->change_key,
                              {{"JobTitle", Value(std::string("Countess"))}}, std::nullopt);
  REQUIRE(updated.ok());
  auto again = other->get(created->entry_id);
  REQUIRE(again.ok());
  CHECK(again->item.fields.at("JobTitle") == Value(std::string("Countess")));

  // The streaming wait: Subscribe, then GetStreamingEvents on an authenticated connection of
  // its own; another device's write wakes it.
  auto before = mine->events_after(0, 100);  // our own writes
  REQUIRE(before.ok());
  const std::int64_t cursor = before->empty() ? 0 : before->back().seq;
  CHECK_FALSE(mine->wait_for_events(cursor, 500ms));
  bool stream_ok = false;
  for (const auto& [op, status] : server.emu->logged())
    stream_ok = stream_ok || (op == "GetStreamingEvents" && status == 200);
  REQUIRE(stream_ok);
  std::thread writer([&] { (void)other->create(contact("Charles", "Babbage")); });
  const bool woke = mine->wait_for_events(cursor, 20s);
  writer.join();
  CHECK(woke);
  auto ev = mine->events_after(cursor, 10);
  REQUIRE(ev.ok());
  CHECK_FALSE(ev->empty());
  int streams = 0, refused = 0;
  for (const auto& [op, status] : server.emu->logged()) {
    if (op != "GetStreamingEvents") continue;
    ++streams;
    refused += status == 401;
  }
  CHECK(refused >= 1);  // the stream's connection did its own handshake
  CHECK(streams > refused);
}

TEST_CASE("EWS adapter with negotiate auth: a wrong password is kPermission",
          "[ews][negotiate][emulator]") {
  NEED_NTLM();
  NtlmServer server;
  test::TempDir dir;
  std::ofstream(dir.file("pw")) << "wrong\n";
  EwsStoreConfig c;
  c.url = server.emu->url();
  c.mailbox = server.email;
  c.auth.type = EwsAuth::Type::kNegotiate;
  c.auth.username = server.ntlm_user;
  c.auth.password_file = dir.file("pw");
  c.state_path = dir.file("state.db");
  auto s = open_ews_store(c, system_clock());
  REQUIRE(s.ok());
  auto r = (*s)->create(contact("Eve", "Wrong"));
  REQUIRE_FALSE(r.ok());
  INFO(r.error().describe());
  CHECK(r.error().is(ErrorKind::kPermission));
}

// Runs in a child process (below) whose GSSAPI configuration has no mechanism at all: what a
// machine without gss-ntlmssp sees.
TEST_CASE("NTLM without gss-ntlmssp (child process)", "[.negotiate-no-mech]") {
  auto ok = http::negotiate_available();
  REQUIRE_FALSE(ok.ok());
  CHECK(ok.error().is(ErrorKind::kInvalid));
  CHECK_THAT(ok.error().message(), Catch::Contains("gss-ntlmssp"));
  test::TempDir dir;
  std::ofstream(dir.file("pw")) << "pw";
  EwsStoreConfig c;
  c.url = "http://127.0.0.1:9/EWS/Exchange.asmx";
  c.mailbox = "alice@example.test";
  c.auth.type = EwsAuth::Type::kNegotiate;
  c.auth.username = "EXAMPLE\\alice";
  c.auth.password_file = dir.file("pw");
  c.state_path = dir.file("state.db");
  auto s = open_ews_store(c, system_clock());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().is(ErrorKind::kInvalid));
  CHECK_THAT(s.error().message(), Catch::Contains("gss-ntlmssp"));
}

TEST_CASE("NTLM: a missing gss-ntlmssp is a clear kInvalid naming the package",
          "[ews][negotiate]") {
  NEED_NTLM();  // the real mechanism is here; the child is shown none
  test::TempDir dir;
  std::ofstream(dir.file("mech")) << "# no mechanisms\n";
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = '\0';
  auto r = test::run_program(
      {"/usr/bin/env", "GSS_MECH_CONFIG=" + dir.file("mech"), self, "[.negotiate-no-mech]"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("All tests passed") != std::string::npos);
}
