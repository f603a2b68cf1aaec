// The EWS adapter on a scripted transport: throttling honoured through the injectable
// sleeper, stale change keys, a refused sync state (full resync without duplicate events),
// batching and authentication headers.
#include <catch2/catch.hpp>

#include <atomic>
#include <fstream>
#include <map>

#include "codec.hpp"
#include "crmsync/store_ews/ews_store.hpp"
#include "crmsync/test/temp_dir.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace std::chrono_literals;
using ewstest::Scripted;

namespace {

std::string op_of(const http::Request& r) {
  for (const auto& [k, v] : r.headers)
    if (k == "SOAPAction") {
      auto slash = v.rfind('/');
      return v.substr(slash + 1, v.size() - slash - 2);
    }
  return {};
}

std::string reply(const std::string& op, const std::string& messages) {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><m:" + op +
         "Response xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
         "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/"
         "types\"><m:ResponseMessages>" +
         messages + "</m:ResponseMessages></m:" + op + "Response></s:Body></s:Envelope>";
}

std::string ok_msg(const std::string& op, const std::string& payload) {
  return "<m:" + op +
         "ResponseMessage ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>" +
         payload + "</m:" + op + "ResponseMessage>";
}

std::string err_msg(const std::string& op, const std::string& code) {
  return "<m:" + op +
         "ResponseMessage ResponseClass=\"Error\"><m:MessageText>x</m:MessageText>"
         "<m:ResponseCode>" +
         code + "</m:ResponseCode></m:" + op + "ResponseMessage>";
}

std::string folders_reply() {
  std::string m;
  for (Folder f : ews::kAllFolders)
    m += ok_msg("GetFolder", "<m:Folders><t:Folder><t:FolderId Id=\"F-" +
                                 std::string(ews::distinguished_id(f)) +
                                 "\"/></t:Folder></m:Folders>");
  return reply("GetFolder", m);
}

std::string contact_xml(const std::string& id, const std::string& ck, const std::string& first) {
  return "<t:Contact><t:ItemId Id=\"" + id + "\" ChangeKey=\"" + ck +
         "\"/><t:ParentFolderId Id=\"F-contacts\"/><t:ItemClass>IPM.Contact</t:ItemClass>"
         "<t:LastModifiedTime>2026-01-01T00:00:00Z</t:LastModifiedTime><t:GivenName>" +
         first + "</t:GivenName></t:Contact>";
}

std::string sync_reply(const std::string& state, const std::string& changes) {
  return reply("SyncFolderItems",
               ok_msg("SyncFolderItems", "<m:SyncState>" + state +
                                             "</m:SyncState><m:IncludesLastItemInRange>true"
                                             "</m:IncludesLastItemInRange><m:Changes>" +
                                             changes + "</m:Changes>"));
}

struct Fixture {
  test::TempDir dir;
  FakeClock clock;
  std::shared_ptr<ewstest::FakeState> state = std::make_shared<ewstest::FakeState>();
  std::vector<std::chrono::milliseconds> waits;
  EwsStoreConfig config;

  Fixture() {
    std::ofstream(dir.file("pw")) << "s3cret\n";
    config.url = "https://mail.example.org/EWS/Exchange.asmx";
    config.mailbox = "ann@example.org";
    config.auth.username = "ann@example.org";
    config.auth.password_file = dir.file("pw");
    config.state_path = dir.file("state.db");
    config.sleep = [this](std::chrono::milliseconds d) { waits.push_back(d); };
  }
  std::unique_ptr<StoreAdapter> open() {
    auto r = open_ews_store(config, clock, std::make_unique<ewstest::FakeTransport>(state));
    if (!r) FAIL(r.error().describe());
    return std::move(r).value();
  }
  std::vector<std::string> ops() {
    std::vector<std::string> out;
    for (const auto& r : state->requests) out.push_back(op_of(r));
    return out;
  }
};

}  // namespace

TEST_CASE("E3: ErrorServerBusy is retried after BackOffMilliseconds", "[ews][adapter]") {
  Fixture fx;
  auto s = fx.open();
  const std::string busy =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>"
      "<faultcode "
      "xmlns:a=\"http://schemas.microsoft.com/exchange/services/2006/types\">a:ErrorServerBusy</"
      "faultcode>"
      "<faultstring>busy</faultstring><detail>"
      "<e:ResponseCode "
      "xmlns:e=\"http://schemas.microsoft.com/exchange/services/2006/errors\">ErrorServerBusy</"
      "e:ResponseCode>"
      "<t:MessageXml xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\">"
      "<t:Value "
      "Name=\"BackOffMilliseconds\">7000</t:Value></t:MessageXml></detail></s:Fault></s:Body></"
      "s:Envelope>";
  fx.state->replies.push_back({500, busy});
  fx.state->replies.push_back({200, reply("GetItem", err_msg("GetItem", "ErrorItemNotFound"))});
  auto got = s->get(EntryId("AAMk"));
  REQUIRE_FALSE(got.ok());
  CHECK(got.error().is(ErrorKind::kNotFound));
  REQUIRE(fx.waits.size() == 1);
  CHECK(fx.waits[0] == 7000ms);

  // Busy inside a 200 reply, every time: gives up after max_attempts with kTransient.
  fx.state->fallback = [](const http::Request&) {
    return Scripted{200,
                    reply("GetItem",
                          "<m:GetItemResponseMessage ResponseClass=\"Error\">"
                          "<m:MessageText>busy</m:MessageText><m:ResponseCode>ErrorServerBusy"
                          "</m:ResponseCode><m:MessageXml><t:Value Name=\"BackOffMilliseconds\">"
                          "250</t:Value></m:MessageXml></m:GetItemResponseMessage>")};
  };
  fx.waits.clear();
  auto again = s->get(EntryId("AAMk"));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().is(ErrorKind::kTransient));
  CHECK(fx.waits.size() == static_cast<std::size_t>(fx.config.max_attempts - 1));
  for (auto w : fx.waits) CHECK(w >= 500ms);  // never shorter than our own backoff or theirs
}

TEST_CASE("E3: a create whose request went out is not sent twice", "[ews][adapter]") {
  Fixture fx;
  auto s = fx.open();
  fx.state->replies.push_back({0, "", Error::Transient("connection reset"), true});
  NewStoreItem n;
  n.item.fields["FirstName"] = std::string("Ann");
  auto r = s->create(n);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kTransient));
  CHECK(fx.state->requests.size() == 1);
}

TEST_CASE("update: ErrorIrresolvableConflict is kConflict - basic auth and anchor headers",
          "[ews][adapter]") {
  Fixture fx;
  auto s = fx.open();
  fx.state->fallback = [](const http::Request& r) {
    std::string op = op_of(r);
    if (op == "GetFolder") return Scripted{200, folders_reply()};
    if (op == "GetItem")
      return Scripted{
          200, reply("GetItem", ok_msg("GetItem", "<m:Items>" + contact_xml("I1", "K1", "Ann") +
                                                      "</m:Items>"))};
    if (op == "UpdateItem")
      return Scripted{200, reply("UpdateItem", err_msg("UpdateItem", "ErrorIrresolvableConflict"))};
    return Scripted{500, "no"};
  };
  auto r = s->update(EntryId("I1"), "K1", {{"FirstName", Value(std::string("Bo"))}}, std::nullopt);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kConflict));
  // A stale key is refused before any write is sent.
  auto stale =
      s->update(EntryId("I1"), "K0", {{"FirstName", Value(std::string("Bo"))}}, std::nullopt);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().is(ErrorKind::kConflict));
  auto ops = fx.ops();
  CHECK(std::count(ops.begin(), ops.end(), "UpdateItem") == 1);

  const auto& req = fx.state->requests.front();
  auto header = [&](const std::string& name) {
    for (const auto& [k, v] : req.headers)
      if (k == name) return v;
    return std::string();
  };
  CHECK(header("Authorization") ==
        "Basic YW5uQGV4YW1wbGUub3JnOnMzY3JldA==");  // ann@example.org:s3cret
  CHECK(header("X-AnchorMailbox") == "ann@example.org");
  CHECK(header("Content-Type") == "text/xml; charset=utf-8");
}

TEST_CASE("bearer auth reads the token file per request", "[ews][adapter]") {
  Fixture fx;
  std::ofstream(fx.dir.file("token")) << "tok-1\n";
  fx.config.auth.type = EwsAuth::Type::kBearer;
  fx.config.auth.token_file = fx.dir.file("token");
  auto s = fx.open();
  fx.state->fallback = [](const http::Request&) {
    return Scripted{200, reply("GetItem", err_msg("GetItem", "ErrorItemNotFound"))};
  };
  (void)s->get(EntryId("A"));
  std::ofstream(fx.dir.file("token")) << "tok-2\n";
  (void)s->get(EntryId("A"));
  REQUIRE(fx.state->requests.size() == 2);
  auto auth = [&](int i) {
    for (const auto& [k, v] : fx.state->requests[i].headers)
      if (k == "Authorization") return v;
    return std::string();
  };
  CHECK(auth(0) == "Bearer tok-1");
  CHECK(auth(1) == "Bearer tok-2");
}

TEST_CASE("S1: ErrorInvalidSyncStateData → full resync without duplicate events",
          "[ews][adapter][sync]") {
  Fixture fx;
  auto s = fx.open();
  // contacts: baseline with I1, I2, I3; then the server forgets our state; the full resync
  // lists I1 unchanged, I2 changed, I4 new, and not I3 (deleted meanwhile).
  int contacts_calls = 0;
  fx.state->fallback = [&](const http::Request& r) {
    std::string op = op_of(r);
    if (op != "SyncFolderItems") return Scripted{500, "unexpected " + op};
    if (r.body.find("Id=\"contacts\"") == std::string::npos)
      return Scripted{200, sync_reply("S", "")};
    ++contacts_calls;
    if (contacts_calls == 1)
      return Scripted{200, sync_reply("S1", "<t:Create>" + contact_xml("I1", "K1", "a") +
                                                "</t:Create>"
                                                "<t:Create>" +
                                                contact_xml("I2", "K2", "b") +
                                                "</t:Create>"
                                                "<t:Create>" +
                                                contact_xml("I3", "K3", "c") + "</t:Create>")};
    if (contacts_calls == 2) {
      CHECK(r.body.find("<m:SyncState>S1</m:SyncState>") != std::string::npos);
      return Scripted{
          200, reply("SyncFolderItems", err_msg("SyncFolderItems", "ErrorInvalidSyncStateData"))};
    }
    if (contacts_calls == 3) {
      CHECK(r.body.find("m:SyncState") == std::string::npos);
      return Scripted{200, sync_reply("S2", "<t:Create>" + contact_xml("I1", "K1", "a") +
                                                "</t:Create>"
                                                "<t:Create>" +
                                                contact_xml("I2", "K2b", "b") +
                                                "</t:Create>"
                                                "<t:Create>" +
                                                contact_xml("I4", "K4", "d") + "</t:Create>")};
    }
    CHECK(r.body.find("<m:SyncState>S") != std::string::npos);  // S2, then S3
    return Scripted{200, sync_reply("S3", "")};
  };
  auto first = s->events_after(0, 100);
  REQUIRE(first.ok());
  CHECK(first->empty());  // the first sync is the baseline: S2 scans cover older items

  auto second = s->events_after(0, 100);
  REQUIRE(second.ok());
  std::map<std::string, Action> by_id;
  for (const auto& e : *second) {
    CHECK(e.surface == Surface::kNone);
    CHECK(e.kind == ItemKind::kContact);
    by_id[e.entry_id.str()] = e.action;
  }
  CHECK(second->size() == 3);
  CHECK(by_id.count("I1") == 0);
  CHECK(by_id["I2"] == Action::kUpdate);
  CHECK(by_id["I4"] == Action::kCreate);
  CHECK(by_id["I3"] == Action::kDelete);

  auto third = s->events_after(second->back().seq, 100);
  REQUIRE(third.ok());
  CHECK(third->empty());

  // The sync states survive a reopen (a new adapter on the same state file).
  auto reopened = fx.open();
  auto fourth = reopened->events_after(0, 100);
  REQUIRE(fourth.ok());
  CHECK(fourth->size() == 3);
}

TEST_CASE("S2: scan pages FindItem and batches GetItem", "[ews][adapter]") {
  Fixture fx;
  fx.config.page_size = 2;
  fx.config.get_batch_size = 2;
  auto s = fx.open();
  std::vector<int> getitem_sizes;
  fx.state->fallback = [&](const http::Request& r) {
    std::string op = op_of(r);
    if (op == "GetFolder") return Scripted{200, folders_reply()};
    if (op == "FindItem") {
      bool first = r.body.find("Offset=\"0\"") != std::string::npos;
      std::string items = first ? "<t:Contact><t:ItemId Id=\"I1\" ChangeKey=\"K\"/></t:Contact>"
                                  "<t:Contact><t:ItemId Id=\"I2\" ChangeKey=\"K\"/></t:Contact>"
                                : "<t:Contact><t:ItemId Id=\"I3\" ChangeKey=\"K\"/></t:Contact>";
      return Scripted{
          200,
          reply("FindItem", ok_msg("FindItem", std::string("<m:RootFolder TotalItemsInView=\"3\" "
                                                           "IncludesLastItemInRange=\"") +
                                                   (first ? "false" : "true") + "\"><t:Items>" +
                                                   items + "</t:Items></m:RootFolder>"))};
    }
    if (op == "GetItem") {
      std::string msgs;
      int n = 0;
      for (std::string id : {"I1", "I2", "I3"})
        if (r.body.find("Id=\"" + id + "\"") != std::string::npos) {
          msgs += ok_msg("GetItem", "<m:Items>" + contact_xml(id, "K", id) + "</m:Items>");
          ++n;
        }
      getitem_sizes.push_back(n);
      return Scripted{200, reply("GetItem", msgs)};
    }
    return Scripted{500, "unexpected"};
  };
  auto items = s->scan_modified_since(ItemKind::kContact, UtcTime{0});
  REQUIRE(items.ok());
  REQUIRE(items->size() == 3);
  CHECK((*items)[0].entry_id.str() == "I1");
  CHECK((*items)[2].item.text("FirstName") == "I3");
  CHECK(getitem_sizes == std::vector<int>{2, 1});
}

TEST_CASE("open_ews_store refuses a bad config", "[ews][adapter]") {
  test::TempDir dir;
  FakeClock clock;
  EwsStoreConfig c;
  c.url = "ftp://x";
  c.state_path = dir.file("s.db");
  c.auth.username = "u";
  c.auth.password_file = dir.file("pw");
  CHECK(open_ews_store(c, clock).error().is(ErrorKind::kInvalid));
  c.url = "https://mail.example.org/EWS/Exchange.asmx";
  c.auth.username.clear();
  CHECK(open_ews_store(c, clock).error().is(ErrorKind::kInvalid));
  c.auth.type = EwsAuth::Type::kBearer;
  CHECK(open_ews_store(c, clock).error().is(ErrorKind::kInvalid));
  c.auth.token_file = dir.file("token");
  c.state_path.clear();
  CHECK(open_ews_store(c, clock).error().is(ErrorKind::kInvalid));
}

TEST_CASE("E3: a create refused by throttling is retried - after a server error it is not",
          "[ews][adapter]") {
  Fixture fx;
  auto s = fx.open();
  auto fault = [](const std::string& code) {
    return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>"
           "<faultcode>s:Server</faultcode><faultstring>x</faultstring><detail>"
           "<e:ResponseCode "
           "xmlns:e=\"http://schemas.microsoft.com/exchange/services/2006/errors\">" +
           code + "</e:ResponseCode></detail></s:Fault></s:Body></s:Envelope>";
  };
  NewStoreItem n;
  n.item.fields["FirstName"] = std::string("Ann");
  fx.state->replies.push_back({500, fault("ErrorInternalServerError")});
  auto r = s->create(n);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kTransient));
  CHECK(fx.state->requests.size() == 1);

  fx.state->replies.push_back({500, fault("ErrorServerBusy")});
  fx.state->replies.push_back(
      {200, reply("CreateItem", err_msg("CreateItem", "ErrorAccessDenied"))});
  auto r2 = s->create(n);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().is(ErrorKind::kPermission));
  CHECK(fx.state->requests.size() == 3);
}

TEST_CASE("S1: streaming refused - the pull subscription takes over and resubscribes when lost",
          "[ews][adapter]") {
  Fixture fx;
  fx.config.poll_interval = 5ms;
  fx.config.backoff_base = 5ms;
  auto s = fx.open();
  int subscribes = 0, get_events = 0, contact_syncs = 0, streaming_subscribes = 0;
  fx.state->fallback = [&](const http::Request& r) {
    std::string op = op_of(r);
    if (op == "Subscribe" && r.body.find("StreamingSubscriptionRequest") != std::string::npos) {
      ++streaming_subscribes;  // an Exchange 2010 RTM server: no streaming subscriptions
      return Scripted{200,
                      reply("Subscribe", err_msg("Subscribe", "ErrorInvalidSubscriptionRequest"))};
    }
    if (op == "Subscribe") {
      ++subscribes;
      return Scripted{
          200, reply("Subscribe",
                     ok_msg("Subscribe", "<m:SubscriptionId>sub-" + std::to_string(subscribes) +
                                             "</m:SubscriptionId><m:Watermark>W0</m:Watermark>"))};
    }
    if (op == "GetEvents") {
      ++get_events;
      if (get_events == 1)
        return Scripted{200, reply("GetEvents", err_msg("GetEvents", "ErrorSubscriptionNotFound"))};
      if (get_events == 2)
        return Scripted{
            200,
            reply("GetEvents", ok_msg("GetEvents",
                                      "<m:Notification><t:SubscriptionId>sub-2</t:SubscriptionId>"
                                      "<t:PreviousWatermark>W0</"
                                      "t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
                                      "<t:StatusEvent><t:Watermark>W1</t:Watermark></"
                                      "t:StatusEvent></m:Notification>"))};
      return Scripted{
          200,
          reply(
              "GetEvents",
              ok_msg(
                  "GetEvents",
                  "<m:Notification><t:SubscriptionId>sub-2</t:SubscriptionId>"
                  "<t:PreviousWatermark>W1</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
                  "<t:CreatedEvent><t:Watermark>W2</t:Watermark><t:TimeStamp>2026-01-01T00:00:00Z</"
                  "t:TimeStamp>"
                  "<t:ItemId Id=\"I9\"/><t:ParentFolderId "
                  "Id=\"F-contacts\"/></t:CreatedEvent></m:Notification>"))};
    }
    if (op == "SyncFolderItems") {
      if (r.body.find("Id=\"contacts\"") == std::string::npos)
        return Scripted{200, sync_reply("S", "")};
      ++contact_syncs;
      // The first syncs are the baseline and the catch-up after subscribing; then a create.
      if (get_events < 3) return Scripted{200, sync_reply("S", "")};
      return Scripted{200,
                      sync_reply("S", "<t:Create>" + contact_xml("I9", "K9", "x") + "</t:Create>")};
    }
    return Scripted{500, "unexpected " + op};
  };
  REQUIRE(s->events_after(0, 10).ok());
  CHECK(s->wait_for_events(0, 5s));
  CHECK(streaming_subscribes == 1);  // asked once, then pull for good
  CHECK(subscribes == 2);
  CHECK(get_events >= 3);
  bool sent_w1 = false;
  for (const auto& r : fx.state->requests)
    if (op_of(r) == "GetEvents" &&
        r.body.find("<m:Watermark>W1</m:Watermark>") != std::string::npos)
      sent_w1 = true;
  CHECK(sent_w1);  // each poll continues from the last watermark
  auto ev = s->events_after(0, 10);
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 1);
  CHECK(ev->front().entry_id.str() == "I9");
  CHECK(ev->front().action == Action::kCreate);
}

namespace {

std::string stream_reply(const std::string& payload) {
  return reply("GetStreamingEvents", ok_msg("GetStreamingEvents", payload));
}
std::string stream_status(const std::string& status) {
  return stream_reply("<m:ConnectionStatus>" + status + "</m:ConnectionStatus>");
}

}  // namespace

TEST_CASE("S1: streaming - split envelopes wake the wait - Closed and broken streams reopen",
          "[ews][adapter][streaming]") {
  Fixture fx;
  fx.config.poll_interval = 1h;  // a pull poll could not wake the wait in time
  fx.config.backoff_base = 5ms;
  fx.config.stream_connection_minutes = 7;
  auto s = fx.open();
  int subscribes = 0, opens = 0;
  std::atomic<bool> event_sent{false};
  fx.state->fallback = [&](const http::Request& r) {
    std::string op = op_of(r);
    if (op == "Subscribe") {
      ++subscribes;
      return Scripted{200, reply("Subscribe", ok_msg("Subscribe", "<m:SubscriptionId>sub-" +
                                                                      std::to_string(subscribes) +
                                                                      "</m:SubscriptionId>"))};
    }
    if (op == "SyncFolderItems") {
      if (r.body.find("Id=\"contacts\"") == std::string::npos || !event_sent)
        return Scripted{200, sync_reply("S", "")};
      return Scripted{
          200, sync_reply("S2", "<t:Create>" + contact_xml("I9", "K9", "x") + "</t:Create>")};
    }
    return Scripted{500, "unexpected " + op};
  };
  const std::string created = stream_reply(
      "<m:Notifications><m:Notification><t:SubscriptionId>sub-2</t:SubscriptionId>"
      "<t:CreatedEvent><t:TimeStamp>2026-01-01T00:00:00Z</t:TimeStamp><t:ItemId Id=\"I9\" "
      "ChangeKey=\"K9\"/><t:ParentFolderId Id=\"F-contacts\"/></t:CreatedEvent>"
      "</m:Notification></m:Notifications>");
  const std::string keep_alive = stream_status("OK");
  const std::string lost =
      reply("GetStreamingEvents", err_msg("GetStreamingEvents", "ErrorSubscriptionNotFound"));
  fx.state->stream = [&](const http::Request&) -> Result<std::unique_ptr<http::BodyStream>> {
    std::deque<ewstest::StreamPiece> pieces;
    switch (++opens) {
      case 1:  // a keep-alive split in two chunks, then Closed at the connection timeout
        pieces = {{keep_alive.substr(0, 40)},
                  {keep_alive.substr(40)},
                  {stream_status("Closed")},
                  {"", true}};
        break;
      case 2:  // the connection breaks
        pieces = {{keep_alive.substr(0, 10)}, {"", false, Error::Transient("reset by peer")}};
        break;
      case 3:  // the server forgot the subscription (a restart)
        pieces = {{lost + keep_alive}};
        break;
      default:  // the event, in three chunks, two envelopes in the last one
        pieces = {{created.substr(0, 100)},
                  {created.substr(100, 200)},
                  {created.substr(300) + keep_alive}};
        break;
    }
    auto stream = std::make_unique<ewstest::ScriptedStream>(std::move(pieces), [&, n = opens] {
      if (n >= 4) event_sent = true;
    });
    return std::unique_ptr<http::BodyStream>(std::move(stream));
  };
  REQUIRE(s->events_after(0, 10).ok());
  const auto start = std::chrono::steady_clock::now();
  CHECK(s->wait_for_events(0, 10s));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(opens == 4);
  CHECK(subscribes == 2);  // Closed and a broken stream keep the subscription; a lost one not
  auto ev = s->events_after(0, 10);
  REQUIRE(ev.ok());
  REQUIRE(ev->size() == 1);
  CHECK(ev->front().entry_id.str() == "I9");
  CHECK(ev->front().action == Action::kCreate);
  std::vector<std::string> stream_bodies;
  for (const auto& r : fx.state->requests)
    if (op_of(r) == "GetStreamingEvents") stream_bodies.push_back(r.body);
  REQUIRE(stream_bodies.size() == 4);
  CHECK_THAT(stream_bodies[0], Catch::Contains("<t:SubscriptionId>sub-1</t:SubscriptionId>"));
  CHECK_THAT(stream_bodies[2], Catch::Contains("<t:SubscriptionId>sub-1</t:SubscriptionId>"));
  CHECK_THAT(stream_bodies[3], Catch::Contains("<t:SubscriptionId>sub-2</t:SubscriptionId>"));
  CHECK_THAT(stream_bodies[0], Catch::Contains("<m:ConnectionTimeout>7</m:ConnectionTimeout>"));
  for (const auto& r : fx.state->requests) CHECK(op_of(r) != "GetEvents");
}

TEST_CASE("S1: a stream that ends without Closed backs off - no reconnect storm",
          "[ews][adapter][streaming]") {
  Fixture fx;
  fx.config.poll_interval = 1h;
  fx.config.backoff_base = 200ms;
  auto s = fx.open();
  int subscribes = 0, opens = 0;
  fx.state->fallback = [&](const http::Request& r) {
    if (op_of(r) == "Subscribe") {
      ++subscribes;
      return Scripted{
          200, reply("Subscribe", ok_msg("Subscribe", "<m:SubscriptionId>s</m:SubscriptionId>"))};
    }
    return Scripted{200, sync_reply("S", "")};
  };
  // A proxy in the way answers every GetStreamingEvents with 401 and no body.
  fx.state->stream = [&](const http::Request&) -> Result<std::unique_ptr<http::BodyStream>> {
    ++opens;
    return std::unique_ptr<http::BodyStream>(std::make_unique<ewstest::ScriptedStream>(
        std::deque<ewstest::StreamPiece>{{"", true}}, std::function<void()>{}, 401));
  };
  REQUIRE(s->events_after(0, 10).ok());
  CHECK_FALSE(s->wait_for_events(0, 1s));
  // Opens at about 0, 0.2 and 0.6 s (backoff doubling), not one per loop.
  CHECK(opens >= 2);
  CHECK(opens <= 4);
  CHECK(subscribes == 1);
}
