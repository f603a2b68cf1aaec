// store.type "graph" (Microsoft 365 through Graph): defaults, both sign-ins, each bad key named.
#include <catch2/catch.hpp>
#include <fstream>

#include "crmsync/config/config.hpp"
#include "crmsync/test/temp_dir.hpp"

using namespace crmsync;

namespace {

// A config file's folder with the CRM token file.
struct Fixture {
  test::TempDir dir;
  Fixture() { write("crm-token", "secret-token\n"); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir.file(name), std::ios::binary) << text;
  }
  Result<Config> parse(const std::string& text) const {
    return parse_config(text, dir.file("config.json"));
  }
  std::vector<std::string> problems(const std::string& text) const {
    auto r = parse(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    return config_problems(r.error());
  }
};

// A valid config whose store is Microsoft 365 through Graph; `store` replaces the store object.
std::string graph_doc(const std::string& store) {
  return R"({"cache":"state/cache.db","store":)" + store +
         R"(,"crm":{"url":"https://crm.example/","auth":{"type":"bearer","token_file":"crm-token"}}})";
}

const std::string kGraphStore =
    R"({"type":"graph","auth":{"type":"bearer","token_file":"graph-token"}})";

}  // namespace

TEST_CASE("store type graph: defaults, bearer and device code - state beside the cache",
          "[config][graph]") {
  Fixture f;
  f.write("graph-token", "tok\n");
  auto c = f.parse(graph_doc(kGraphStore));
  INFO((c.ok() ? "" : c.error().message()));
  REQUIRE(c.ok());
  CHECK(c->store.type == "graph");
  CHECK(c->store.url == "https://graph.microsoft.com/");
  CHECK(c->store.user == "me");
  CHECK(c->store.graph_auth.type == GraphAuthConfig::Type::kBearer);
  CHECK(c->store.graph_auth.token_file == f.dir.file("graph-token"));
  CHECK(c->store.state_path == f.dir.file("state/cache.db") + ".graph-state.db");
  CHECK(c->store.calendar_past_days == 365);
  CHECK(c->store.calendar_future_days == 730);

  auto d = f.parse(graph_doc(
      R"({"type":"graph","url":"http://127.0.0.1:9000/","user":"alice@contoso.com",
          "auth":{"type":"device_code","tenant":"contoso.onmicrosoft.com","client_id":"abc",
                  "authority":"https://login.example/"},
          "calendar_window":{"past_days":30,"future_days":90},"state_path":"g.db",
          "request_timeout_ms":5000})"));
  INFO((d.ok() ? "" : d.error().message()));
  REQUIRE(d.ok());
  CHECK(d->store.url == "http://127.0.0.1:9000/");
  CHECK(d->store.user == "alice@contoso.com");
  CHECK(d->store.graph_auth.type == GraphAuthConfig::Type::kDeviceCode);
  CHECK(d->store.graph_auth.tenant == "contoso.onmicrosoft.com");
  CHECK(d->store.graph_auth.client_id == "abc");
  CHECK(d->store.graph_auth.authority == "https://login.example/");
  CHECK(d->store.calendar_past_days == 30);
  CHECK(d->store.calendar_future_days == 90);
  CHECK(d->store.state_path == f.dir.file("g.db"));
  CHECK(d->store.request_timeout_ms == 5000);
  CHECK(d->store.identity() != c->store.identity());
}

TEST_CASE("store type graph: each bad key is named with its path", "[config][graph]") {
  Fixture f;
  f.write("graph-token", "tok\n");
  struct Case {
    std::string store;
    std::string expected;
  };
  const std::string auth = R"("auth":{"type":"bearer","token_file":"graph-token"})";
  const std::vector<Case> cases = {
      {R"({"type":"graph"})", "config.json: store.auth: is required"},
      {R"({"type":"graph","auth":{"type":"basic","username":"a","password_file":"x"}})",
       "config.json: store.auth.type: must be \"bearer\" or \"device_code\""},
      {R"({"type":"graph","auth":{"type":"bearer"}})",
       "config.json: store.auth.token_file: is required"},
      {R"({"type":"graph","auth":{"type":"bearer","token_file":"nope"}})",
       "config.json: store.auth.token_file: no such file"},
      {R"({"type":"graph","auth":{"type":"device_code","client_id":"x"}})",
       "config.json: store.auth.tenant: is required"},
      {R"({"type":"graph","auth":{"type":"device_code","tenant":"a/b","client_id":"x"}})",
       "config.json: store.auth.tenant: must be a tenant id"},
      {R"({"type":"graph","url":"http://graph.microsoft.com/",)" + auth + "}",
       "config.json: store.url: must be https:// (http:// only for a loopback host)"},
      {R"({"type":"graph","url":"https://graph.microsoft.com/?x=1",)" + auth + "}",
       "config.json: store.url: must be Graph's root URL"},
      {R"({"type":"graph","url":"ftp://x/",)" + auth + "}",
       "config.json: store.url: must be Graph's root URL"},
      {R"({"type":"graph","user":"alice",)" + auth + "}",
       "config.json: store.user: must be \"me\" or the mailbox's user principal name"},
      {R"({"type":"graph","user":"a@b.example/../x",)" + auth + "}",
       "config.json: store.user: must be \"me\""},
      {R"({"type":"graph","user":"a@b.example\r\nX-Evil: 1",)" + auth + "}",
       "config.json: store.user: must be \"me\""},
      {R"({"type":"graph","calendar_window":{"past_days":-1},)" + auth + "}",
       "config.json: store.calendar_window.past_days: must be an integer from 0 to 3650"},
      {R"({"type":"graph","calendar_window":{"future_days":0},)" + auth + "}",
       "config.json: store.calendar_window.future_days: must be an integer from 1 to 3650"},
      {R"({"type":"graph","calendar_window":{"ahead":3},)" + auth + "}",
       "config.json: store.calendar_window.ahead: unknown key"},
      {R"({"type":"graph","mailbox":"a@b.example",)" + auth + "}",
       "config.json: store.mailbox: unknown key"},
  };
  for (const auto& c : cases) {
    INFO(c.store);
    auto p = f.problems(graph_doc(c.store));
    REQUIRE(p.size() == 1);
    CHECK_THAT(p[0], Catch::Contains(c.expected));
  }
}
