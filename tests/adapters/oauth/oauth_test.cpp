// Signing in as the user (SPEC U3) against the real login-emulator process: the device code
// flow with its pending, slow_down, declined and expired answers; refresh token rotation and
// revocation; the token file; and hostile replies of a token endpoint (a scripted transport).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <deque>
#include <filesystem>
#include <fstream>

#include <rapidjson/document.h>

#include "crmsync/oauth/oauth.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kClient = "4a1aa1d5-c567-49d0-ad0b-cd957a47f842";
const std::string kCrmScope = "https://org.crm.dynamics.com/user_impersonation offline_access";

struct LoginEmulator {
  test::TempDir dir;
  std::unique_ptr<test::Spawned> proc;
  std::uint16_t port = 0;
  http::Client client;
  std::string tenant;

  LoginEmulator() {
    proc = std::make_unique<test::Spawned>(
        std::vector<std::string>{LOGIN_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                                 dir.file("login.db"), "--interval-s", "0"},
        dir.file("stderr.txt"));
    auto line = proc->read_line(30s);
    REQUIRE(line);
    REQUIRE(line->rfind("listening on 127.0.0.1:", 0) == 0);
    port = static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
    tenant = json("GET", "/admin/tenant", "")["tenant_id"].GetString();
  }
  ~LoginEmulator() {
    proc->signal(SIGTERM);
    proc->wait(10s);
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port) + "/"; }
  oauth::Authority authority() const { return {base(), tenant, kClient}; }
  http::Response admin(const std::string& method, const std::string& path,
                       const std::string& body) {
    http::Request r;
    r.method = method;
    r.url = base() + path.substr(1);
    r.headers = {{"Content-Type", "application/json"}};
    r.body = body;
    auto res = client.send(r);
    REQUIRE(res.ok());
    return *res;
  }
  rapidjson::Document json(const std::string& method, const std::string& path,
                           const std::string& body) {
    auto r = admin(method, path, body);
    INFO(r.body);
    REQUIRE(r.status == 200);
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    REQUIRE(d.IsObject());
    return d;
  }
};

// The user at the browser: what happens before each poll, driven by the poll's own waits.
struct User {
  FakeClock clock;
  std::vector<std::chrono::milliseconds> waits;
  std::function<void(int)> at_wait;  // called with the 1-based number of the wait
  oauth::Sleep sleep() {
    return [this](std::chrono::milliseconds d) {
      waits.push_back(d);
      clock.advance(d);
      if (at_wait) at_wait(static_cast<int>(waits.size()));
    };
  }
};

}  // namespace

TEST_CASE("U3: the device code flow signs the user in - pending until approved", "[oauth]") {
  LoginEmulator e;
  e.json("POST", "/admin/users", R"({"upn":"alice@example.com"})");
  auto code = oauth::start_device_flow(e.client, e.authority(), kCrmScope);
  REQUIRE(code.ok());
  CHECK_FALSE(code->user_code.empty());
  CHECK(code->verification_uri.rfind("http", 0) == 0);
  CHECK(code->expires_in > 0);
  User user;
  user.at_wait = [&](int n) {
    if (n == 3)  // two polls answered authorization_pending first
      e.json("POST", "/admin/device/approve",
             R"({"user_code":")" + code->user_code + R"(","upn":"alice@example.com"})");
  };
  auto tokens = oauth::poll_device_flow(e.client, e.authority(), *code, user.clock, user.sleep());
  REQUIRE(tokens.ok());
  CHECK(user.waits.size() == 3);
  CHECK_FALSE(tokens->access_token.empty());
  CHECK_FALSE(tokens->refresh_token.empty());
  CHECK(tokens->expires_in > 0);
}

TEST_CASE("U3: slow_down adds five seconds to the interval (RFC 8628 3.5)", "[oauth]") {
  LoginEmulator e;
  e.json("POST", "/admin/users", R"({"upn":"alice@example.com"})");
  auto code = oauth::start_device_flow(e.client, e.authority(), kCrmScope);
  REQUIRE(code.ok());
  e.json("POST", "/admin/faults", R"({"slow_down":2})");
  User user;
  user.at_wait = [&](int n) {
    if (n == 3)
      e.json("POST", "/admin/device/approve",
             R"({"user_code":")" + code->user_code + R"(","upn":"alice@example.com"})");
  };
  auto tokens = oauth::poll_device_flow(e.client, e.authority(), *code, user.clock, user.sleep());
  REQUIRE(tokens.ok());
  REQUIRE(user.waits.size() == 3);
  const auto first = std::chrono::seconds(code->interval);
  CHECK(user.waits[0] == first);
  CHECK(user.waits[1] == first + 5s);
  CHECK(user.waits[2] == first + 10s);
}

TEST_CASE("U3: a declined or expired sign-in is a clear error and stores nothing", "[oauth]") {
  LoginEmulator e;
  e.json("POST", "/admin/users", R"({"upn":"alice@example.com"})");
  auto code = oauth::start_device_flow(e.client, e.authority(), kCrmScope);
  REQUIRE(code.ok());
  SECTION("declined") {
    User user;
    user.at_wait = [&](int n) {
      if (n == 1)
        e.json("POST", "/admin/device/deny", R"({"user_code":")" + code->user_code + "\"}");
    };
    auto t = oauth::poll_device_flow(e.client, e.authority(), *code, user.clock, user.sleep());
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().is(ErrorKind::kPermission));
    CHECK_THAT(t.error().message(), Catch::Contains("declined"));
  }
  SECTION("expired by the server") {
    e.json("POST", "/admin/faults", R"({"expire_codes":true})");
    User user;
    auto t = oauth::poll_device_flow(e.client, e.authority(), *code, user.clock, user.sleep());
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error().message(), Catch::Contains("expired_token"));
  }
  SECTION("nobody entered the code before expires_in") {
    User user;
    auto t = oauth::poll_device_flow(e.client, e.authority(), *code, user.clock, user.sleep());
    REQUIRE_FALSE(t.ok());
    CHECK_THAT(t.error().message(), Catch::Contains("expired_token"));
    // It gave up on its own clock, about expires_in after it began.
    CHECK(user.clock.mono() - MonoTime{} <= std::chrono::seconds(code->expires_in + 6));
  }
}

TEST_CASE("U3: access tokens come from the stored refresh token - rotated, revoked = needs login",
          "[oauth]") {
  LoginEmulator e;
  test::TempDir dir;
  e.json("POST", "/admin/users", R"({"upn":"alice@example.com"})");
  auto code = oauth::start_device_flow(e.client, e.authority(), kCrmScope);
  REQUIRE(code.ok());
  User user;
  user.at_wait = [&](int) {
    e.json("POST", "/admin/device/approve",
           R"({"user_code":")" + code->user_code + R"(","upn":"alice@example.com"})");
  };
  auto first = oauth::poll_device_flow(e.client, e.authority(), *code, user.clock, user.sleep());
  REQUIRE(first.ok());
  const std::string store = dir.file("state/crmsync/alice.crm.refresh-token");
  FakeClock clock;
  oauth::AccessTokens tokens(e.authority(), kCrmScope, store, clock, e.client);
  SECTION("nobody signed in yet") {
    auto t = tokens.token();
    REQUIRE_FALSE(t.ok());
    CHECK(oauth::is_needs_login(t.error()));
  }
  SECTION("cached until a minute before expiry, then refreshed and the rotation kept") {
    REQUIRE(oauth::save_refresh_token(store, first->refresh_token).ok());
    auto a = tokens.token();
    REQUIRE(a.ok());
    CHECK(tokens.token().value() == *a);  // cached
    auto rotated = oauth::load_refresh_token(store).value();
    REQUIRE(rotated);
    clock.advance(std::chrono::seconds(first->expires_in));
    auto b = tokens.token();
    REQUIRE(b.ok());
    CHECK(*b != *a);
    // Revoked (the user signed out everywhere): needs login, with the reason, no token shown.
    e.json("POST", "/admin/refresh/revoke", R"({"upn":"alice@example.com"})");
    tokens.invalidate();
    auto c = tokens.token();
    REQUIRE_FALSE(c.ok());
    CHECK(oauth::is_needs_login(c.error()));
    CHECK_THAT(c.error().message(), Catch::Contains("crmsync login"));
    for (const auto& s : tokens.secrets()) CHECK(c.error().message().find(s) == std::string::npos);
  }
}

TEST_CASE("U3: the token file - mode 0600, atomic, refused when others can read it", "[oauth]") {
  test::TempDir dir;
  const std::string path = dir.file("state/crmsync/p.crm.refresh-token");
  CHECK_FALSE(oauth::load_refresh_token(path).value());
  REQUIRE(oauth::save_refresh_token(path, "first-token").ok());
  REQUIRE(oauth::save_refresh_token(path, "second-token").ok());
  CHECK(oauth::load_refresh_token(path).value() == std::optional<std::string>("second-token"));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat(fs::path(path).parent_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 077) == 0);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  ::chmod(path.c_str(), 0644);
  auto r = oauth::load_refresh_token(path);
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(r.error().message(), Catch::Contains("readable by others"));
  std::ofstream(path, std::ios::trunc) << "bad token\x01";
  ::chmod(path.c_str(), 0600);
  CHECK_FALSE(oauth::load_refresh_token(path).ok());
}

TEST_CASE("U3: the token file's place follows XDG_STATE_HOME and the profile", "[oauth]") {
  const char* old = std::getenv("XDG_STATE_HOME");
  std::string keep = old ? old : "";
  ::setenv("XDG_STATE_HOME", "/srv/state", 1);
  CHECK(oauth::token_store_path("alice", "crm") == "/srv/state/crmsync/alice.crm.refresh-token");
  CHECK(oauth::token_store_path("../x", "crm") == "/srv/state/crmsync/.._x.crm.refresh-token");
  if (old)
    ::setenv("XDG_STATE_HOME", keep.c_str(), 1);
  else
    ::unsetenv("XDG_STATE_HOME");
}

namespace {
// A token endpoint that answers what the test scripted, in order.
class Scripted final : public http::Transport {
 public:
  std::deque<Result<http::Response>> replies;
  Result<http::Response> send(const http::Request&, http::SendInfo*) override {
    if (replies.empty()) return Error::Internal("no reply scripted");
    auto r = std::move(replies.front());
    replies.pop_front();
    return r;
  }
};
http::Response reply(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}
}  // namespace

TEST_CASE("U3: malformed and hostile token replies are clear errors", "[oauth]") {
  oauth::Authority a{"https://login.example/", "contoso", kClient};
  struct Row {
    const char* name;
    int status;
    std::string body;
    ErrorKind kind;
    const char* says;
  };
  const std::vector<Row> rows = {
      {"not JSON", 200, "<html>", ErrorKind::kInvalid, "not a JSON object"},
      {"truncated", 200, R"({"access_token":"abc)", ErrorKind::kInvalid, "not a JSON object"},
      {"no access_token", 200, R"({"token_type":"Bearer"})", ErrorKind::kInvalid, "access_token"},
      {"access_token a number", 200, R"({"access_token":5})", ErrorKind::kInvalid, "not a string"},
      {"not Bearer", 200, R"({"access_token":"a","token_type":"mac"})", ErrorKind::kInvalid,
       "not Bearer"},
      {"expires_in negative", 200, R"({"access_token":"a","expires_in":-5})", ErrorKind::kInvalid,
       "expires_in"},
      {"oversized token", 200, R"({"access_token":")" + std::string(20000, 'x') + "\"}",
       ErrorKind::kInvalid, "too long"},
      {"server error", 503, "", ErrorKind::kTransient, "503"},
      {"throttled", 429, "{}", ErrorKind::kTransient, "429"},
      {"invalid_grant", 400, R"({"error":"invalid_grant"})", ErrorKind::kPermission,
       "crmsync login"},
      {"unknown error", 400, R"({"error":"invalid_client"})", ErrorKind::kPermission,
       "invalid_client"},
  };
  for (const auto& row : rows) {
    INFO(row.name);
    Scripted t;
    t.replies.push_back(reply(row.status, row.body));
    auto r = oauth::refresh(t, a, "rt", kCrmScope);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind() == row.kind);
    CHECK_THAT(r.error().message(), Catch::Contains(row.says));
  }
  SECTION("a device code reply without a user code") {
    Scripted t;
    t.replies.push_back(reply(200, R"({"device_code":"d","verification_uri":"https://x/"})"));
    auto r = oauth::start_device_flow(t, a, kCrmScope);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::Contains("user_code"));
  }
  SECTION("a verification_uri that is not a web address") {
    Scripted t;
    t.replies.push_back(reply(
        200, R"j({"device_code":"d","user_code":"U","verification_uri":"javascript:alert(1)"})j"));
    CHECK_FALSE(oauth::start_device_flow(t, a, kCrmScope).ok());
  }
}
