// The config loader (DESIGN.md "Config"): every problem names the file and key path.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "crmsync/config/config.hpp"
#include "crmsync/config/time_zone.hpp"
#include "crmsync/test/temp_dir.hpp"

using namespace crmsync;

namespace {

struct Fixture {
  test::TempDir dir;
  Fixture() { write("crm-token", "secret-token\n"); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir.file(name), std::ios::binary) << text;
  }
  // A valid config with `extra` spliced into the root object.
  std::string valid(const std::string& extra = "") const {
    return R"({"profile":"alice","client_id":"desk-1","role":"primary","cache":"state/cache.db",
      "store":{"type":"mock","path":"state/mailbox.db"},
      "crm":{"url":"http://127.0.0.1:8555/","auth":{"type":"bearer","token_file":"crm-token"}},
      "sync":{"interval_minutes":15},"lease":{"ttl_seconds":60},
      "http":{"listen":"127.0.0.1:8787","token_file":"api-token"})" +
           (extra.empty() ? "" : "," + extra) + "}";
  }
  Result<Config> parse(const std::string& text) const {
    return parse_config(text, dir.file("config.json"));
  }
  // The problems of a config that must fail.
  std::vector<std::string> problems(const std::string& text) const {
    auto r = parse(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    return config_problems(r.error());
  }
  std::string one_problem(const std::string& text) const {
    auto p = problems(text);
    INFO(text);
    REQUIRE(p.size() == 1);
    return p[0];
  }
};

bool contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v)
    if (s.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a valid config parses with defaults and resolved paths", "[config]") {
  Fixture f;
  auto c = f.parse(f.valid());
  INFO((c.ok() ? "" : c.error().message()));
  REQUIRE(c.ok());
  CHECK(c->profile == "alice");
  CHECK(c->role == Role::kPrimary);
  CHECK(c->cache == f.dir.file("state/cache.db"));
  CHECK(c->store.path == f.dir.file("state/mailbox.db"));
  CHECK(c->crm.auth.token_file == f.dir.file("crm-token"));
  CHECK(c->http.token_file == f.dir.file("api-token"));
  CHECK(c->http.host == "127.0.0.1");
  CHECK(c->http.port == 8787);
  CHECK(c->sync.interval_minutes == 15);
  CHECK(c->sync.update_company_field);
  CHECK(c->sync.reconcile_batch == 50);
  CHECK(c->sync.mass_delete_ratio == 0.5);
  CHECK(c->sync.mass_delete_min == 20);
  CHECK(c->timezone.empty());
  CHECK(c->runtime_file() == f.dir.file("state/cache.db") + ".runtime.json");
}

TEST_CASE("optional keys: defaults when absent - the token file next to the cache", "[config]") {
  Fixture f;
  auto c = f.parse(R"({"cache":"/var/x/cache.db","store":{"type":"mock","path":"m.db"},
      "crm":{"url":"https://crm.example/","auth":{"type":"bearer","token_file":"crm-token"}}})");
  REQUIRE(c.ok());
  CHECK(c->profile == "default");
  CHECK_FALSE(c->client_id.empty());  // the host name
  CHECK(c->http.listen == "127.0.0.1:8787");
  CHECK(c->http.token_file == "/var/x/api-token");
  CHECK(c->lease.ttl_seconds == 60);
  CHECK(c->crm.request_timeout_ms == 60'000);
}

TEST_CASE("crm.request_timeout_ms: the reply deadline - 100 ms to 10 minutes", "[config]") {
  Fixture f;
  auto doc = [](const std::string& v) {
    return R"({"cache":"/var/x/cache.db","store":{"type":"mock","path":"m.db"},
      "crm":{"url":"https://crm.example/","auth":{"type":"bearer","token_file":"crm-token"},
             "request_timeout_ms":)" +
           v + "}}";
  };
  auto ok = f.parse(doc("1500"));
  REQUIRE(ok.ok());
  CHECK(ok->crm.request_timeout_ms == 1500);
  for (const char* bad : {"99", "600001", "\"5\"", "1.5"}) {
    INFO(bad);
    CHECK_THAT(f.one_problem(doc(bad)),
               Catch::Contains("crm.request_timeout_ms: must be an integer from 100 to 600000"));
  }
}

TEST_CASE("every problem names the file and the key path", "[config]") {
  Fixture f;
  struct Case {
    std::string extra_or_doc;
    std::string expected;
  };
  // Root-level overrides are spliced after the valid keys; RapidJSON keeps duplicates, so
  // these use keys the valid config does not have, or whole documents.
  std::vector<Case> cases = {
      {R"("timezone":"Mars/Olympus_Mons")", "config.json: timezone: unknown time zone"},
      {R"("timezone":"../../etc/passwd")", "config.json: timezone: not an IANA time zone name"},
      {R"("timezone":7)", "config.json: timezone: must be a string"},
      {R"("log_level":"loud")", "config.json: log_level: must be trace, debug, info"},
      {R"("bogus":1)", "config.json: bogus: unknown key"},
  };
  for (const auto& c : cases) {
    INFO(c.extra_or_doc);
    CHECK_THAT(f.one_problem(f.valid(c.extra_or_doc)), Catch::Contains(c.expected));
  }

  auto with = [&](const std::string& from, const std::string& to) {
    std::string doc = f.valid();
    auto at = doc.find(from);
    REQUIRE(at != std::string::npos);
    return doc.replace(at, from.size(), to);
  };
  std::vector<Case> replaced = {
      {with(R"("interval_minutes":15)", R"("interval_minutes":-1)"),
       "config.json: sync.interval_minutes: must be an integer >= 0"},
      {with(R"("interval_minutes":15)", R"("interval_minutes":1.5)"),
       "sync.interval_minutes: must be an integer >= 0"},
      {with(R"("interval_minutes":15)", R"("interval_minutes":"15")"),
       "sync.interval_minutes: must be an integer >= 0"},
      {with(R"("interval_minutes":15)", R"("interval_minutes":15,"color":"red")"),
       "config.json: sync.color: unknown key"},
      {with(R"("role":"primary")", R"("role":"boss")"),
       "config.json: role: must be primary, secondary, roaming or delegate"},
      {with(R"("type":"mock")", R"("type":"imap")"), "config.json: store.type: must be \"mock\""},
      {with(R"("url":"http://127.0.0.1:8555/")", R"("url":"ftp://x/")"),
       "config.json: crm.url: must be an http:// or https:// URL"},
      {with(R"("type":"bearer")", R"("type":"basic")"),
       "config.json: crm.auth.type: must be \"bearer\", \"client_credentials\", \"device_code\" or "
       "\"negotiate\""},
      {with(R"("token_file":"crm-token")", R"("token_file":"crm-token","pin":1)"),
       "config.json: crm.auth.pin: unknown key"},
      {with(R"("token_file":"crm-token")", R"("token_file":"nope")"),
       "config.json: crm.auth.token_file: no such file"},
      {with(R"("ttl_seconds":60)", R"("ttl_seconds":1)"),
       "config.json: lease.ttl_seconds: must be an integer from 5 to 86400"},
      {with(R"("listen":"127.0.0.1:8787")", R"("listen":"0.0.0.0:8787")"),
       "config.json: http.listen: must be a loopback address"},
      {with(R"("listen":"127.0.0.1:8787")", R"("listen":"127.0.0.1:99999")"),
       "config.json: http.listen: must be HOST:PORT"},
      {with(R"("listen":"127.0.0.1:8787")", R"("listen":"localhost")"),
       "config.json: http.listen: must be HOST:PORT"},
      {with(R"("cache":"state/cache.db")", R"("cache":"")"),
       "config.json: cache: must not be empty"},
      {with(R"("profile":"alice")", R"("profile":"a/b")"), "config.json: profile: must be"},
      {with(R"("interval_minutes":15)", R"("entities":{"contact":true,"unicorn":false})"),
       "config.json: sync.entities.unicorn: unknown entity"},
      {with(R"("interval_minutes":15)", R"("entities":{"contact":"yes"})"),
       "config.json: sync.entities.contact: must be true or false"},
      {with(R"("interval_minutes":15)", R"("mass_delete":{"ratio":2})"),
       "config.json: sync.mass_delete.ratio: must be a number from 0 to 1"},
      {with(R"("interval_minutes":15)", R"("mass_delete":{"min":-3})"),
       "config.json: sync.mass_delete.min: must be an integer >= 0"},
      {with(R"("interval_minutes":15)", R"("update_company_field":1)"),
       "config.json: sync.update_company_field: must be true or false"},
      {with(R"("interval_minutes":15)", R"("reconcile_batch":-5)"),
       "config.json: sync.reconcile_batch: must be an integer from 0 to 100000"},
      {with(R"("lease":{"ttl_seconds":60})", R"("lease":[])"),
       "config.json: lease: must be an object"},
  };
  for (const auto& c : replaced) {
    INFO(c.extra_or_doc);
    CHECK_THAT(f.one_problem(c.extra_or_doc), Catch::Contains(c.expected));
  }
}

TEST_CASE("missing required keys are each reported", "[config]") {
  Fixture f;
  auto p = f.problems("{}");
  CHECK(contains(p, "config.json: cache: is required"));
  CHECK(contains(p, "config.json: store: is required"));
  CHECK(contains(p, "config.json: crm: is required"));
  auto q = f.problems(R"({"cache":"c","store":{},"crm":{"auth":{"type":"bearer"}}})");
  CHECK(contains(q, "store.type: is required"));
  CHECK(contains(q, "store.path: is required"));
  CHECK(contains(q, "crm.url: is required"));
  CHECK(contains(q, "crm.auth: bearer needs token_file or token_env"));
}

TEST_CASE("duplicate keys are errors - not silently last-wins", "[config]") {
  Fixture f;
  CHECK_THAT(f.one_problem(f.valid(R"("profile":"bob")")),
             Catch::Contains("config.json: profile: duplicate key"));
}

TEST_CASE("secrets come from files or the environment and never appear in messages", "[config]") {
  Fixture f;
  auto env_doc = [&](const std::string& auth) {
    return R"({"cache":"c.db","store":{"type":"mock","path":"m.db"},"crm":{"url":"https://x/",)"
           R"("act_as":"alice@example.com","auth":)" +
           auth + "}}";
  };
  ::setenv("CRMSYNC_TEST_TOKEN", "tok-123", 1);
  auto c = f.parse(env_doc(R"({"type":"bearer","token_env":"CRMSYNC_TEST_TOKEN"})"));
  REQUIRE(c.ok());
  CHECK(c->crm.auth.token_env == "CRMSYNC_TEST_TOKEN");

  ::unsetenv("CRMSYNC_TEST_UNSET");
  CHECK_THAT(
      f.one_problem(env_doc(R"({"type":"bearer","token_env":"CRMSYNC_TEST_UNSET"})")),
      Catch::Contains("crm.auth.token_env: environment variable CRMSYNC_TEST_UNSET is not set"));
  CHECK_THAT(f.one_problem(env_doc(
                 R"({"type":"bearer","token_env":"CRMSYNC_TEST_TOKEN","token_file":"crm-token"})")),
             Catch::Contains("crm.auth: give token_file or token_env, not both"));

  ::setenv("CRMSYNC_TEST_SECRET", "s3cr3t-value", 1);
  auto cc = f.parse(env_doc(R"({"type":"client_credentials","token_endpoint":"https://login/t",
      "client_id":"app","client_secret_env":"CRMSYNC_TEST_SECRET","scope":"https://x/.default"})"));
  REQUIRE(cc.ok());
  CHECK(cc->crm.auth.type == CrmAuthConfig::Type::kClientCredentials);
  CHECK(cc->crm.auth.client_secret == "s3cr3t-value");

  f.write("secret", "from-file\n");
  auto cf = f.parse(env_doc(R"({"type":"client_credentials","token_endpoint":"https://login/t",
      "client_id":"app","client_secret_file":"secret","resource":"https://x/"})"));
  REQUIRE(cf.ok());
  CHECK(cf->crm.auth.client_secret_file == f.dir.file("secret"));

  auto bad = f.problems(env_doc(R"({"type":"client_credentials","client_id":"app",
      "client_secret_env":"CRMSYNC_TEST_SECRET","scope":7})"));
  CHECK(contains(bad, "crm.auth.token_endpoint: is required"));
  CHECK(contains(bad, "crm.auth.scope: must be a string"));
  for (const auto& p : bad) CHECK(p.find("s3cr3t") == std::string::npos);
}

TEST_CASE("U3: crm.auth device_code - tenant and client id, the authority by default Entra's",
          "[config]") {
  Fixture f;
  auto env_doc = [&](const std::string& auth) {
    return R"({"cache":"c.db","store":{"type":"mock","path":"m.db"},"crm":{"url":"https://x/","auth":)" +
           auth + "}}";
  };
  auto ok = f.parse(env_doc(R"({"type":"device_code","tenant":"contoso.onmicrosoft.com",
      "client_id":"4a1aa1d5-c567-49d0-ad0b-cd957a47f842"})"));
  REQUIRE(ok.ok());
  CHECK(ok->crm.auth.type == CrmAuthConfig::Type::kDeviceCode);
  CHECK(ok->crm.auth.tenant == "contoso.onmicrosoft.com");
  CHECK(ok->crm.auth.authority == "https://login.microsoftonline.com/");
  auto other = f.parse(env_doc(R"({"type":"device_code","tenant":"organizations",
      "client_id":"app","authority":"https://login.example/"})"));
  REQUIRE(other.ok());
  CHECK(other->crm.auth.authority == "https://login.example/");
  auto bad = f.problems(env_doc(R"({"type":"device_code","tenant":"../../etc",
      "authority":"ftp://x","token_file":"t"})"));
  CHECK(contains(bad, "crm.auth.tenant: must be a tenant id, a domain or \"organizations\""));
  CHECK(contains(bad, "crm.auth.client_id: is required"));
  CHECK(contains(bad, "crm.auth.authority: must be an http:// or https:// URL"));
  CHECK(contains(bad, "token_file"));
}

TEST_CASE("crm.auth negotiate: on-premises Dynamics with a domain account", "[config]") {
  Fixture f;
  auto doc = [&](const std::string& auth) {
    return R"({"cache":"c.db","store":{"type":"mock","path":"m.db"},"crm":{"url":"https://x/","auth":)" +
           auth + "}}";
  };
  f.write("pw", "secret\n");
  auto ok =
      f.parse(doc(R"({"type":"negotiate","username":"EXAMPLE\\alice","password_file":"pw"})"));
  REQUIRE(ok.ok());
  CHECK(ok->crm.auth.type == CrmAuthConfig::Type::kNegotiate);
  CHECK(ok->crm.auth.username == "EXAMPLE\\alice");
  CHECK(ok->crm.auth.password_file == f.dir.file("pw"));
  auto ntlm =
      f.parse(doc(R"({"type":"ntlm","username":"alice@example.com","password_file":"pw"})"));
  REQUIRE(ntlm.ok());
  auto bad = f.problems(doc(R"({"type":"negotiate","username":"alice","password_file":"nope"})"));
  CHECK(contains(bad, "crm.auth.username: must be DOMAIN\\user or user@domain"));
  CHECK(contains(bad, "nope"));
}

TEST_CASE("U3: crm.act_as names the user an application identity acts for", "[config]") {
  Fixture f;
  f.write("secret", "s\n");
  auto doc = [&](const std::string& crm_extra) {
    return R"({"cache":"c.db","store":{"type":"mock","path":"m.db"},"crm":{"url":"https://x/",)" +
           crm_extra +
           R"("auth":{"type":"client_credentials","token_endpoint":"https://login/t",)"
           R"("client_id":"app","client_secret_file":"secret","scope":"https://x/.default"}}})";
  };
  auto ok = f.parse(doc(R"("act_as":"alice@contoso.com",)"));
  REQUIRE(ok.ok());
  CHECK(ok->crm.act_as == "alice@contoso.com");
  CHECK(contains(f.problems(doc("")),
                 "crm.act_as: is required with client_credentials: name the user the daemon "
                 "acts for"));
  CHECK(contains(f.problems(doc(R"("act_as":"alice",)")),
                 "crm.act_as: must be the user's sign-in name (user@domain)"));
}

TEST_CASE("hostile or malformed JSON is refused with a message - never a crash", "[config]") {
  Fixture f;
  const std::vector<std::string> docs = {
      "",
      "{",
      "[]",
      "null",
      R"({"cache": "a" "b"})",
      std::string(200000, '['),
      std::string("{\"cache\":\"\xff\xfe\"}"),
      std::string("{\"cache\":\"a\\u0000b\"}"),
      R"({"sync":{"interval_minutes":1e400}})",
      R"({"sync":{"interval_minutes":99999999999999999999999}})",
  };
  for (const auto& d : docs) {
    INFO(d.substr(0, 40));
    auto r = f.parse(d);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message(), Catch::StartsWith(f.dir.file("config.json") + ": "));
  }
  CHECK_THAT(f.parse("{").error().message(), Catch::Contains("not valid JSON at byte"));
  CHECK_THAT(f.parse(docs[7]).error().message(), Catch::Contains("cache: must not contain NUL"));
}

TEST_CASE("load_config: missing files - directories and oversized files", "[config]") {
  Fixture f;
  CHECK(load_config(f.dir.file("absent.json")).error().is(ErrorKind::kNotFound));
  CHECK_FALSE(load_config(f.dir.path().string()).ok());
  f.write("big.json", std::string(2u << 20, ' '));
  CHECK_THAT(load_config(f.dir.file("big.json")).error().message(),
             Catch::Contains("larger than 1 MiB"));
  f.write("config.json", f.valid());
  CHECK(load_config(f.dir.file("config.json")).ok());
}

TEST_CASE("the loopback listen forms", "[config]") {
  Fixture f;
  for (const char* listen : {"127.0.0.1:0", "[::1]:8787", "localhost:8787", "127.1.2.3:80"}) {
    INFO(listen);
    std::string doc = f.valid();
    doc.replace(doc.find("127.0.0.1:8787"), 14, listen);
    CHECK(f.parse(doc).ok());
  }
  CHECK(is_loopback_host("::1"));
  CHECK_FALSE(is_loopback_host("127.0.0.1.evil.com"));
  CHECK_FALSE(is_loopback_host("10.0.0.1"));
}

namespace {

// A valid config whose store is Exchange (EWS); `store` replaces the store object.
std::string ews_doc(const std::string& store) {
  return R"({"cache":"state/cache.db","store":)" + store +
         R"(,"crm":{"url":"https://crm.example/","auth":{"type":"bearer","token_file":"crm-token"}}})";
}

const std::string kBasicStore =
    R"({"type":"ews","url":"https://mail.example.org/EWS/Exchange.asmx","mailbox":"alice@example.com",
        "auth":{"type":"basic","username":"alice@example.com","password_file":"ews-password"}})";

}  // namespace

TEST_CASE("store type ews: basic and bearer auth - defaults beside the cache", "[config][ews]") {
  Fixture f;
  f.write("ews-password", "pw\n");
  f.write("ews-token", "tok\n");
  f.write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
  auto basic = f.parse(ews_doc(kBasicStore));
  INFO((basic.ok() ? "" : basic.error().message()));
  REQUIRE(basic.ok());
  CHECK(basic->store.type == "ews");
  CHECK(basic->store.url == "https://mail.example.org/EWS/Exchange.asmx");
  CHECK(basic->store.mailbox == "alice@example.com");
  CHECK(basic->store.auth.type == EwsAuthConfig::Type::kBasic);
  CHECK(basic->store.auth.username == "alice@example.com");
  CHECK(basic->store.auth.password_file == f.dir.file("ews-password"));
  CHECK(basic->store.state_path == f.dir.file("state/cache.db") + ".ews-state.db");
  CHECK(basic->store.connect_timeout_ms == 10'000);
  CHECK(basic->store.request_timeout_ms == 60'000);
  CHECK_FALSE(basic->store.impersonate);
  CHECK(basic->store.ca_file.empty());

  auto bearer = f.parse(ews_doc(
      R"({"type":"ews","url":"https://mail.example.org/EWS/Exchange.asmx","mailbox":"a@b.example",
          "auth":{"type":"bearer","token_file":"ews-token"},"ca_file":"ca.pem",
          "connect_timeout_ms":2000,"request_timeout_ms":30000,"state_path":"ews/state.db",
          "impersonate":true})"));
  INFO((bearer.ok() ? "" : bearer.error().message()));
  REQUIRE(bearer.ok());
  CHECK(bearer->store.auth.type == EwsAuthConfig::Type::kBearer);
  CHECK(bearer->store.auth.token_file == f.dir.file("ews-token"));
  CHECK(bearer->store.ca_file == f.dir.file("ca.pem"));
  CHECK(bearer->store.connect_timeout_ms == 2000);
  CHECK(bearer->store.request_timeout_ms == 30000);
  CHECK(bearer->store.state_path == f.dir.file("ews/state.db"));
  CHECK(bearer->store.impersonate);
  // Another mailbox or state file is another store (a reload starts its cursor over).
  CHECK(bearer->store.identity() != basic->store.identity());

  // Plain http only to a local test server (the emulator).
  auto local = f.parse(ews_doc(
      R"({"type":"ews","url":"http://127.0.0.1:8080/EWS/Exchange.asmx","mailbox":"a@b.example",
          "auth":{"type":"bearer","token_file":"ews-token"}})"));
  INFO((local.ok() ? "" : local.error().message()));
  CHECK(local.ok());
}

TEST_CASE("store type ews: negotiate (ntlm) auth - down-level and UPN user names",
          "[config][ews]") {
  Fixture f;
  f.write("ews-password", "pw\n");
  for (const std::string type : {"negotiate", "ntlm"}) {
    for (const std::string user : {R"(EXAMPLE\\alice)", "alice@example.com"}) {
      auto c = f.parse(ews_doc(
          R"({"type":"ews","url":"https://mail.example.org/EWS/Exchange.asmx","mailbox":"alice@example.com",
              "auth":{"type":")" +
          type + R"(","username":")" + user + R"(","password_file":"ews-password"}})"));
      INFO(type << " " << user << ": " << (c.ok() ? "" : c.error().message()));
      REQUIRE(c.ok());
      CHECK(c->store.auth.type == EwsAuthConfig::Type::kNegotiate);
      CHECK(c->store.auth.username == (user == "alice@example.com" ? user : "EXAMPLE\\alice"));
      CHECK(c->store.auth.password_file == f.dir.file("ews-password"));
    }
  }
}

TEST_CASE("store type ews: each bad key is named with its path - secrets never shown",
          "[config][ews]") {
  Fixture f;
  f.write("ews-password", "hunter2-secret\n");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string store = kBasicStore;
    auto at = store.find(from);
    REQUIRE(at != std::string::npos);
    return ews_doc(store.replace(at, from.size(), to));
  };
  struct Case {
    std::string doc;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {with(R"("type":"ews")", R"("type":"exchange")"),
       "config.json: store.type: must be \"mock\", \"ews\", \"graph\" or \"mapi\""},
      {with(R"("https://mail.example.org/EWS/Exchange.asmx")", R"("ftp://mail/EWS")"),
       "config.json: store.url: must be an https:// URL"},
      {with(R"("https://mail.example.org/EWS/Exchange.asmx")", R"("https:///EWS")"),
       "config.json: store.url: must be an https:// URL"},
      {with(R"("https://mail.example.org/EWS/Exchange.asmx")",
            R"("http://mail.example.org/EWS/Exchange.asmx")"),
       "config.json: store.url: must be https:// (http:// only for a loopback host)"},
      {with(R"("https://mail.example.org/EWS/Exchange.asmx")",
            R"("http://127.0.0.1.evil.example/EWS/Exchange.asmx")"),
       "config.json: store.url: must be https://"},
      {with(R"("https://mail.example.org/EWS/Exchange.asmx")", "7"),
       "config.json: store.url: must be a string"},
      {with(R"("mailbox":"alice@example.com")", R"("mailbox":"alice")"),
       "config.json: store.mailbox: must be the mailbox's SMTP address"},
      // A header injection through X-AnchorMailbox.
      {with(R"("mailbox":"alice@example.com")", R"("mailbox":"a@b.example\r\nX-Evil: 1")"),
       "config.json: store.mailbox: must be the mailbox's SMTP address"},
      {with(R"("mailbox":"alice@example.com")", R"("mailbox":"a@b@c")"),
       "config.json: store.mailbox: must be the mailbox's SMTP address"},
      {with(R"("mailbox":"alice@example.com",)", ""), "config.json: store.mailbox: is required"},
      {with(R"("mailbox":"alice@example.com")", R"("mailbox":"alice@example.com","path":"m.db")"),
       "config.json: store.path: unknown key"},
      {with(R"("mailbox":"alice@example.com")",
            R"("mailbox":"alice@example.com","connect_timeout_ms":5)"),
       "config.json: store.connect_timeout_ms: must be an integer from 100 to 600000"},
      {with(R"("mailbox":"alice@example.com")",
            R"("mailbox":"alice@example.com","request_timeout_ms":"60")"),
       "config.json: store.request_timeout_ms: must be an integer from 100 to 600000"},
      {with(R"("mailbox":"alice@example.com")",
            R"("mailbox":"alice@example.com","ca_file":"no.pem")"),
       "config.json: store.ca_file: no such file"},
      {with(R"("mailbox":"alice@example.com")",
            R"("mailbox":"alice@example.com","impersonate":"yes")"),
       "config.json: store.impersonate: must be true or false"},
      {with(R"("mailbox":"alice@example.com")", R"("mailbox":"alice@example.com","state_path":"")"),
       "config.json: store.state_path: must not be empty"},
      {with(R"(,
        "auth":{"type":"basic","username":"alice@example.com","password_file":"ews-password"})",
            ""),
       "config.json: store.auth: is required"},
      {with(R"("type":"basic")", R"("type":"kerberos")"),
       "config.json: store.auth.type: must be \"basic\", \"bearer\" or \"negotiate\""},
      {with(R"("type":"basic","username":"alice@example.com")",
            R"("type":"negotiate","username":"alice")"),
       "config.json: store.auth.username: must be DOMAIN\\user or user@domain"},
      {with(R"("type":"basic","username":"alice@example.com")",
            R"("type":"negotiate","username":"EXAMPLE\\")"),
       "config.json: store.auth.username: must be DOMAIN\\user or user@domain"},
      {with(R"("type":"basic","username":"alice@example.com")",
            R"("type":"negotiate","username":"\\alice")"),
       "config.json: store.auth.username: must be DOMAIN\\user or user@domain"},
      {with(R"("type":"basic","username":"alice@example.com")",
            R"("type":"ntlm","username":"EXAMPLE\\alice\r\nX-Evil: 1")"),
       "config.json: store.auth.username: must be DOMAIN\\user or user@domain"},
      {with(R"("type":"basic","username":"alice@example.com")", R"("type":"negotiate")"),
       "config.json: store.auth.username: is required"},
      {with(R"("type":"basic","username":"alice@example.com","password_file":"ews-password")",
            R"("type":"negotiate","username":"EXAMPLE\\alice","password_file":"missing")"),
       "config.json: store.auth.password_file: no such file"},
      {with(R"("type":"basic","username":"alice@example.com","password_file":"ews-password")",
            R"("type":"negotiate","username":"EXAMPLE\\alice","token_file":"ews-password")"),
       "config.json: store.auth.token_file: unknown key"},
      {with(R"("username":"alice@example.com")", R"("username":"a:b")"),
       "config.json: store.auth.username: must not contain ':'"},
      {with(R"("username":"alice@example.com",)", ""),
       "config.json: store.auth.username: is required"},
      {with(R"("password_file":"ews-password")", R"("password_file":"missing")"),
       "config.json: store.auth.password_file: no such file"},
      {with(R"("password_file":"ews-password")", R"("password":"hunter2")"),
       "config.json: store.auth.password: unknown key"},
      {with(R"("type":"basic","username":"alice@example.com","password_file":"ews-password")",
            R"("type":"bearer","token_file":"ews-password","username":"x")"),
       "config.json: store.auth.username: unknown key"},
      {with(R"("type":"basic","username":"alice@example.com","password_file":"ews-password")",
            R"("type":"bearer")"),
       "config.json: store.auth.token_file: is required"},
      {with(R"("auth":{)", R"("auth":[],"x":{)"), "config.json: store.x: unknown key"},
  };
  for (const auto& c : cases) {
    INFO(c.doc);
    auto p = f.problems(c.doc);
    CHECK(contains(p, c.expected));
    for (const auto& line : p) CHECK(line.find("hunter2") == std::string::npos);
  }
  CHECK_THAT(f.one_problem(ews_doc(R"({"type":"ews","url":"https://m.example/EWS/Exchange.asmx",
      "mailbox":"a@b.example","auth":"basic"})")),
             Catch::Contains("config.json: store.auth: must be an object"));
  CHECK_THAT(f.one_problem(ews_doc(R"({"type":7,"url":"x"})")),
             Catch::Contains("config.json: store.type: must be a string"));
  CHECK_THAT(f.one_problem(ews_doc(R"("ews")")),
             Catch::Contains("config.json: store: must be an object"));
  // All problems at once, not only the first.
  auto many = f.problems(ews_doc(R"({"type":"ews","url":"gopher://x","mailbox":"nobody",
      "auth":{"type":"basic","username":"a:b","password_file":"nope"}})"));
  CHECK(many.size() == 4);
}

TEST_CASE("store type mapi: the Outlook profile by name - checked on every platform",
          "[config][mapi]") {
  Fixture f;
  auto c = f.parse(ews_doc(R"({"type":"mapi","profile":"Outlook"})"));
  INFO((c.ok() ? "" : c.error().message()));
  REQUIRE(c.ok());
  CHECK(c->store.type == "mapi");
  CHECK(c->store.profile == "Outlook");
  CHECK(c->store.identity() == "mapi|Outlook");
  CHECK(c->store.state_path.empty());  // MAPI keeps no state file of its own
  // Another profile is another mailbox: the event cursor starts over on a reload.
  auto other = f.parse(ews_doc(R"j({"type":"mapi","profile":"Outlook (work)"})j"));
  REQUIRE(other.ok());
  CHECK(other->store.identity() != c->store.identity());

  struct Case {
    std::string store;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {R"({"type":"mapi"})", "config.json: store.profile: is required"},
      {R"({"type":"mapi","profile":""})", "config.json: store.profile: must not be empty"},
      {R"({"type":"mapi","profile":"   "})", "config.json: store.profile: must be the name of an"},
      {R"({"type":"mapi","profile":")" + std::string(65, 'p') + R"("})",
       "config.json: store.profile: must be the name of an"},
      {R"({"type":"mapi","profile":"Out\nlook"})",
       "config.json: store.profile: must be the name of an"},
      {R"({"type":"mapi","profile":7})", "config.json: store.profile: must be a string"},
      {R"({"type":"mapi","profile":"Outlook","path":"mailbox.db"})",
       "config.json: store.path: unknown key"},
  };
  for (const auto& k : cases) {
    INFO(k.store);
    CHECK_THAT(f.one_problem(ews_doc(k.store)), Catch::Contains(k.expected));
  }
  // 64 characters is MAPI's limit, not past it.
  CHECK(f.parse(ews_doc(R"({"type":"mapi","profile":")" + std::string(64, 'p') + R"("})")).ok());
}

TEST_CASE("U1: sync.track_category - Dynamics 365's by default - empty is off - odd names refused",
          "[config]") {
  Fixture f;
  auto doc = [&](const std::string& v) {
    std::string text = f.valid();
    const std::string sync = R"("sync":{"interval_minutes":15)";
    return text.replace(text.find(sync), sync.size(), sync + R"(,"track_category":)" + v);
  };
  auto deflt = f.parse(f.valid());
  REQUIRE(deflt.ok());
  CHECK(deflt->sync.track_category == "Tracked to Dynamics 365");
  auto off = f.parse(doc(R"("  ")"));
  REQUIRE(off.ok());
  CHECK(off->sync.track_category.empty());
  auto mine = f.parse(doc(R"("  Suivi CRM é ")"));
  REQUIRE(mine.ok());
  CHECK(mine->sync.track_category == "Suivi CRM \xc3\xa9");
  for (const char* bad : {R"("a;b")", R"("a,b")", R"("a\u0001b")", R"("x\ny")", "true", "[]"}) {
    INFO(bad);
    CHECK_THAT(f.one_problem(doc(bad)),
               Catch::StartsWith(f.dir.file("config.json") + ": sync.track_category: "));
  }
  CHECK_THAT(f.one_problem(doc('"' + std::string(256, 'x') + '"')),
             Catch::Contains("sync.track_category: a category name is at most 255 bytes"));
}

TEST_CASE("the example configs have no key or type errors", "[config]") {
  for (const char* name :
       {"minimal.json", "full.json", "ews.json", "ews-negotiate.json", "mapi.json", "graph.json"}) {
    INFO(name);
    auto r = load_config(std::string(CRMSYNC_EXAMPLES_DIR) + "/" + name);
    if (r.ok()) continue;
    // Only the secrets of this machine may be missing.
    for (const auto& p : config_problems(r.error())) {
      INFO(p);
      CHECK((p.find("no such file") != std::string::npos ||
             p.find("is not set") != std::string::npos));
    }
  }
}

TEST_CASE("time zones from the TZ database", "[config][timezone]") {
  auto berlin = make_time_zone("Europe/Berlin");
  REQUIRE(berlin.ok());
  CHECK((*berlin)->utc_offset(UtcTime::from_seconds(1'767'225'600)) ==
        std::chrono::minutes(60));  // Jan
  CHECK((*berlin)->utc_offset(UtcTime::from_seconds(1'782'864'000)) ==
        std::chrono::minutes(120));  // Jul
  auto ny = make_time_zone("America/New_York");
  REQUIRE(ny.ok());
  CHECK((*ny)->utc_offset(UtcTime::from_seconds(1'767'225'600)) == std::chrono::minutes(-300));
  // The local date of an instant near midnight depends on the zone.
  CHECK((*ny)->local_date(UtcTime::from_seconds(1'767'225'600)).iso() == "2025-12-31");
  CHECK(make_time_zone("").ok());
  CHECK_FALSE(make_time_zone("Nowhere/Special").ok());
  CHECK_FALSE(make_time_zone("/etc/passwd").ok());
  CHECK_FALSE(make_time_zone("Europe/../../etc").ok());
  // The process's TZ is left as it was.
  const char* before = std::getenv("TZ");
  (void)(*berlin)->utc_offset(UtcTime{0});
  const char* after = std::getenv("TZ");
  CHECK((before == nullptr) == (after == nullptr));
}

TEST_CASE(
    "U1: sync.track_category for every store - the default - empty is off - odd names refused",
    "[config][U1]") {
  Fixture f;
  auto with = [&](const std::string& value) {
    std::string text = f.valid();
    const std::string sync = R"("sync":{"interval_minutes":15)";
    return text.replace(text.find(sync), sync.size(), sync + R"(,"track_category":)" + value);
  };
  auto dflt = f.parse(f.valid());
  REQUIRE(dflt.ok());
  CHECK(dflt->sync.track_category == "Tracked to Dynamics 365");
  auto trimmed = f.parse(with(R"("  Suivi CRM ")"));
  REQUIRE(trimmed.ok());
  CHECK(trimmed->sync.track_category == "Suivi CRM");
  auto off = f.parse(with(R"("")"));
  REQUIRE(off.ok());
  CHECK(off->sync.track_category.empty());
  for (const char* bad : {R"("a,b")", R"("a;b")", R"("tab\there")", "1", "null"}) {
    INFO(bad);
    CHECK_THAT(f.one_problem(with(bad)), Catch::Contains("sync.track_category"));
  }
  CHECK_THAT(f.one_problem(with('"' + std::string(300, 'x') + '"')),
             Catch::Contains("sync.track_category"));
}
