// The EWS codec: every request the adapter writes validates against the official schema
// (xmllint, Exchange 2010 SP2 set); the reference samples read to the right values; hostile
// replies give a clear kInvalid (or the error kind their code stands for), never a crash.
#include <catch2/catch.hpp>

#include "codec.hpp"
#include "support.hpp"

using namespace crmsync;
namespace e = crmsync::ews;

namespace {

// The user's zone as Exchange names it (Europe/Berlin): appointments carry it.
constexpr std::string_view kZone = "W. Europe Standard Time";

CrmId guid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return CrmId::parse(buf).value();
}

std::string text_of(const Result<std::string>& r) {
  if (!r) FAIL(r.error().describe());
  return *r;
}

NewStoreItem full_contact() {
  NewStoreItem n;
  n.folder = Folder::kContacts;
  n.item.kind = ItemKind::kContact;
  auto& f = n.item.fields;
  std::vector<std::string> names = ewstest::mapped_contact_text_fields();
  // Store-only fields (never synchronized) travel too.
  for (const char* extra : {"IMAddress", "OfficeLocation", "Profession", "Business2TelephoneNumber",
                            "Home2TelephoneNumber", "CarTelephoneNumber"})
    names.emplace_back(extra);
  for (const auto& t : names) f[t] = "v " + t + " <&>";
  f["Birthday"] = Date{1980, 2, 29};
  f["Anniversary"] = Date{2005, 6, 1};
  n.link = CrmLink{true, guid(1), true, CrmEntity::kContact};
  return n;
}

NewStoreItem full_task() {
  NewStoreItem n;
  n.folder = Folder::kTasks;
  n.item.kind = ItemKind::kTask;
  auto& f = n.item.fields;
  f["Subject"] = std::string("Call back");
  f["Body"] = std::string("line 1\nline 2");
  f["StartDate"] = Date{2026, 3, 1};
  f["DueDate"] = Date{2026, 3, 2};
  f["Status"] = std::string("Waiting");
  f["Importance"] = std::string("High");
  f["ReminderTime"] = UtcTime::parse("2026-03-02T08:00:00Z").value();
  f["ReminderSet"] = true;
  f["TotalWork"] = std::int64_t{90};
  f["Mileage"] = std::string("12 km");
  f["BillingInformation"] = std::string("none");
  f["DateCompleted"] = Date{2026, 3, 3};
  f["Regarding"] = EntityRef{"account", guid(5), ""};
  n.link = CrmLink{true, guid(2), false, CrmEntity::kPhoneCall};
  return n;
}

NewStoreItem full_appointment(bool all_day) {
  NewStoreItem n;
  n.folder = Folder::kCalendar;
  n.item.kind = ItemKind::kAppointment;
  auto& f = n.item.fields;
  f["Subject"] = std::string("Review");
  f["Body"] = std::string("agenda");
  f["Start"] = UtcTime::parse("2026-03-15T00:00:00Z").value();
  f["End"] = UtcTime::parse("2026-03-16T00:00:00Z").value();
  f["AllDayEvent"] = all_day;
  f["Location"] = std::string("Room 1");
  f["ShowTimeAs"] = std::string("OutOfOffice");
  f["Importance"] = std::string("Low");
  f["Organizer"] = PartyList{{"me@example.org", "Me", std::nullopt}};
  f["RequiredAttendees"] = PartyList{{"a@example.org", "A", std::nullopt}};
  f["OptionalAttendees"] = PartyList{{"b@example.org", "", std::nullopt}};
  f["Duration"] = std::int64_t{1440};
  f["ReminderMinutesBeforeStart"] = std::int64_t{15};
  f["Regarding"] = EntityRef{"contact", guid(6), ""};
  return n;
}

NewStoreItem full_email() {
  NewStoreItem n;
  n.folder = Folder::kSentItems;
  n.item.kind = ItemKind::kEmail;
  auto& f = n.item.fields;
  f["Subject"] = std::string("Offer");
  f["Body"] = std::string("Hello");
  f["From"] = PartyList{{"me@example.org", "Me", std::nullopt}};
  f["To"] = PartyList{{"a@example.org", "A", std::nullopt}, {"b@example.org", "B", std::nullopt}};
  f["Cc"] = PartyList{{"c@example.org", "", std::nullopt}};
  f["MessageId"] = std::string("<x@example.org>");
  f["Importance"] = std::string("Normal");
  f["Regarding"] = EntityRef{"opportunity", guid(7), ""};
  return n;
}

std::vector<e::Message> parse_ok(std::string_view op, const std::string& body, int status = 200) {
  auto r = e::parse_response(op, status, body);
  if (!r) FAIL(r.error().describe());
  return *r;
}

// Microsoft's doc samples print the SOAP namespace as https://; servers send http://.
std::string as_served(std::string s) {
  const std::string from = "https://schemas.xmlsoap.org/soap/envelope/";
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from))
    s.replace(p, from.size(), "http://schemas.xmlsoap.org/soap/envelope/");
  return s;
}

#define NEED_REFERENCE() \
  if (!ewstest::require_reference()) return

}  // namespace

TEST_CASE("EWS requests validate against the Exchange 2010 SP2 schema", "[ews][codec][schema]") {
  if (!ewstest::require_schema_check()) return;
  std::vector<std::string> ops;
  ops.push_back(text_of(e::create_item(full_contact(), kZone)));
  ops.push_back(text_of(e::create_item(full_task(), kZone)));
  ops.push_back(text_of(e::create_item(full_appointment(true), kZone)));
  ops.push_back(text_of(e::create_item(full_appointment(false), kZone)));
  ops.push_back(text_of(e::create_item(full_email(), kZone)));
  const e::ItemRef ref{"AAMkAD==", "CQAAAB=="};
  for (const NewStoreItem& n :
       {full_contact(), full_task(), full_appointment(true), full_email()}) {
    ops.push_back(text_of(e::update_item(n.item.kind, ref, n.item.fields, n.link, kZone)));
    FieldMap clears;
    for (const auto& [k, v] : n.item.fields) clears[k] = Value();
    ops.push_back(text_of(e::update_item(n.item.kind, ref, clears, CrmLink{}, kZone)));
    ops.push_back(e::delete_item(ref.id, n.item.kind, false));
  }
  ops.push_back(e::delete_item(ref.id, ItemKind::kEmail, true));
  ops.push_back(e::get_items({"A==", "B==", "C=="}, true));
  ops.push_back(e::get_items({"A=="}, false));
  ops.push_back(e::get_folders({"contacts", "tasks", "calendar", "inbox", "sentitems", "drafts"}));
  ops.push_back(e::find_modified(
      Folder::kContacts, UtcTime::parse("2026-01-01T10:00:00.250Z").value(), 0, 100, false));
  ops.push_back(e::find_modified(Folder::kDrafts, UtcTime{0}, 200, 100, false));
  ops.push_back(e::find_modified(Folder::kCalendar, UtcTime{0}, 0, 100, true));
  ops.push_back(e::find_by_crm_ids({Folder::kContacts, Folder::kTasks, Folder::kCalendar,
                                    Folder::kInbox, Folder::kSentItems, Folder::kDrafts},
                                   {guid(9).str()}));  // one id: no Or
  ops.push_back(e::find_by_crm_ids({Folder::kContacts, Folder::kTasks},
                                   {guid(9).str(), guid(10).str(), guid(11).str()}));
  ops.push_back(e::sync_folder_items(Folder::kCalendar, "", 100));
  ops.push_back(e::sync_folder_items(Folder::kInbox, "H4sIAAAAAAAEAO29B2AcSZY==", 512));
  ops.push_back(e::subscribe_pull(10));
  ops.push_back(e::get_events("39ea5d0f-f062-455e-a1e9-89c0304390f4", "AAAAAHgGAAAAAAAAAQ=="));
  ops.push_back(e::subscribe_streaming());
  ops.push_back(e::get_streaming_events("JgBibjFwcjAzbWIy", 30));
  ops.push_back(e::get_streaming_events("JgBibjFwcjAzbWIy", 0));  // clamped to 1
  ops.push_back(
      e::create_hidden(e::kLeaseClass, {{"LeaseHolder", "client-a"}, {"LeaseEpoch", "3"}}));
  ops.push_back(e::update_hidden(ref, {{"LeaseHolder", "client-b"}, {"LeaseEpoch", "4"}}));
  ops.push_back(e::find_hidden(e::kQueueClass, {"QueueSeq"}, 0, 100));
  ops.push_back(e::get_hidden({"A==", "B=="}, {"QueueSeq", "QueueKind"}));
  std::vector<std::string> envelopes;
  for (const auto& op : ops) envelopes.push_back(e::envelope(op));
  envelopes.push_back(e::envelope(e::get_items({"A=="}, false), "ann@example.org"));
  INFO(ewstest::schema_errors(envelopes));
  CHECK(ewstest::schema_errors(envelopes).empty());
}

TEST_CASE("EWS requests: fields in schema order - unknown fields and bad values are kInvalid",
          "[ews][codec]") {
  std::string contact = text_of(e::create_item(full_contact(), kZone));
  // ExtendedProperty (ItemType) before GivenName (Contact); GivenName before Surname.
  CHECK(contact.find("t:ExtendedProperty") < contact.find("t:GivenName"));
  CHECK(contact.find("t:GivenName") < contact.find("t:Surname"));
  CHECK(contact.find("<t:Birthday>1980-02-29T00:00:00Z</t:Birthday>") != std::string::npos);
  CHECK(contact.find("&lt;&amp;&gt;") != std::string::npos);

  NewStoreItem bad = full_contact();
  bad.item.fields["NoSuchField"] = std::string("x");
  CHECK(e::create_item(bad, kZone).error().is(ErrorKind::kInvalid));
  NewStoreItem unsupported = full_contact();
  unsupported.item.fields["Categories"] = std::string("x");
  CHECK(e::create_item(unsupported, kZone).error().is(ErrorKind::kInvalid));
  NewStoreItem wrong_type = full_task();
  wrong_type.item.fields["DueDate"] = std::string("tomorrow");
  CHECK(e::create_item(wrong_type, kZone).error().is(ErrorKind::kInvalid));
  NewStoreItem bad_choice = full_task();
  bad_choice.item.fields["Status"] = std::string("Done");
  CHECK(e::create_item(bad_choice, kZone).error().is(ErrorKind::kInvalid));
  NewStoreItem control = full_task();
  control.item.fields["Subject"] = std::string("bell \x07");
  CHECK(e::create_item(control, kZone).error().is(ErrorKind::kInvalid));
  NewStoreItem wrong_folder = full_task();
  wrong_folder.folder = Folder::kContacts;
  CHECK(e::create_item(wrong_folder, kZone).error().is(ErrorKind::kInvalid));

  std::string task = text_of(e::create_item(full_task(), kZone));
  CHECK(task.find("<t:Status>WaitingOnOthers</t:Status>") != std::string::npos);
  std::string cal = text_of(e::create_item(full_appointment(false), kZone));
  CHECK(cal.find("<t:LegacyFreeBusyStatus>OOF</t:LegacyFreeBusyStatus>") != std::string::npos);
  CHECK(cal.find("SendMeetingInvitations=\"SendToNone\"") != std::string::npos);
  CHECK(cal.find("t:Organizer") == std::string::npos);  // read-only in EWS
  CHECK(cal.find("t:Duration") == std::string::npos);   // derived from Start and End

  std::string upd = text_of(e::update_item(ItemKind::kContact, {"I", "K"}, {{"FirstName", Value()}},
                                           std::nullopt, kZone));
  CHECK(upd.find("ConflictResolution=\"NeverOverwrite\"") != std::string::npos);
  CHECK(upd.find("ChangeKey=\"K\"") != std::string::npos);
  CHECK(upd.find("<t:DeleteItemField><t:FieldURI FieldURI=\"contacts:GivenName\"/>") !=
        std::string::npos);
}

TEST_CASE("EWS samples: GetItem contact reads to SPEC store fields", "[ews][codec][samples]") {
  NEED_REFERENCE();
  std::string xml = ewstest::sample("getitem-contact-response.xml");
  REQUIRE_FALSE(xml.empty());
  // This 2007 reply carries no LastModifiedTime (ours asks for it by name): add one.
  auto at = xml.find("<t:FileAs>");
  REQUIRE(at != std::string::npos);
  xml.insert(at, "<t:LastModifiedTime>2006-08-18T17:31:18Z</t:LastModifiedTime>");
  auto msgs = parse_ok("GetItem", xml);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].ok());
  auto items = e::items_of(*msgs[0].element.child(e::kMNs, "Items"));
  REQUIRE(items.ok());
  REQUIRE(items->size() == 1);
  auto item =
      e::to_store_item(items->front(), [](const std::string&) { return Folder::kContacts; });
  REQUIRE(item.ok());
  CHECK(item->entry_id.str() == "AAAtAEA=");
  CHECK(item->change_key == "EQAAABYq");
  CHECK(item->item.kind == ItemKind::kContact);
  CHECK(item->item.text("FirstName") == "Tanja");
  CHECK(item->item.text("LastName") == "Plate");
  CHECK(item->item.text("CompanyName") == "Northwind Traders");
  CHECK(item->item.text("Email1Address") == "tplate@example.com");
  CHECK(item->item.text("BusinessTelephoneNumber") == "5625550199");
  CHECK(item->item.text("MailingAddressStreet") == "12345 67th Ave");
  CHECK(item->item.text("MailingAddressCity") == "Whittier");
  CHECK(item->item.text("JobTitle") == "Project Manager");
  CHECK(item->item.find("Body") == nullptr);  // empty body: absent
  CHECK(item->item.modified == UtcTime::parse("2006-08-18T17:31:18Z").value());
  CHECK(item->link == CrmLink{});
}

TEST_CASE("EWS samples: sync - find - subscribe - events - create", "[ews][codec][samples]") {
  NEED_REFERENCE();
  {
    auto msgs = parse_ok("SyncFolderItems",
                         as_served(ewstest::sample("syncfolderitems-changes-response.xml")));
    auto page = e::sync_page_of(msgs.at(0));
    REQUIRE(page.ok());
    CHECK(page->sync_state == "H4sIAAAAAAAEAO29B2AcSZY==");
    CHECK(page->last);
    REQUIRE_FALSE(page->changes.empty());
    CHECK(page->changes[0].type == e::SyncChange::Type::kUpdate);
    CHECK(page->changes[0].item.element == "Message");
    CHECK(page->changes[0].item.ref.id == "q04QAAAA==");
  }
  {
    auto msgs = parse_ok("FindItem", as_served(ewstest::sample("finditem-paged-response.xml")));
    auto page = e::find_page_of(msgs.at(0));
    REQUIRE(page.ok());
    CHECK_FALSE(page->last);
    CHECK(page->total == 8);
    CHECK(page->items.size() == 6);
  }
  {
    auto msgs = parse_ok("Subscribe", ewstest::sample("subscribe-pull-response.xml"));
    auto sub = e::subscription_of(msgs.at(0));
    REQUIRE(sub.ok());
    CHECK(sub->id == "39ea5d0f-f062-455e-a1e9-89c0304390f4");
    CHECK(sub->watermark == "AAAAAHgGAAAAAAAAAQ==");
  }
  {
    auto msgs = parse_ok("GetEvents", ewstest::sample("getevents-response.xml"));
    auto ev = e::events_of(msgs.at(0));
    REQUIRE(ev.ok());
    CHECK(ev->changes == 2);
    CHECK(ev->watermark == "AAAAAOQGAAAAAAAAAQ==");
    CHECK_FALSE(ev->more);
  }
  {
    auto msgs = parse_ok("CreateItem", ewstest::sample("createitem-contact-response.xml"));
    auto items = e::items_of(*msgs.at(0).element.child(e::kMNs, "Items"));
    REQUIRE(items.ok());
    REQUIRE(items->size() == 1);
    CHECK(items->front().ref.id == "AAAtA=");
    CHECK(items->front().ref.change_key == "EQAAAB");
  }
}

TEST_CASE("S1: GetStreamingEvents - the sample notification and envelopes split as they arrive",
          "[ews][codec][samples][streaming]") {
  NEED_REFERENCE();
  const std::string sample = as_served(ewstest::sample("getstreamingevents-response-repaired.xml"));
  REQUIRE_FALSE(sample.empty());
  auto msgs = parse_ok("GetStreamingEvents", sample);
  auto batch = e::streaming_events_of(msgs.at(0));
  REQUIRE(batch.ok());
  CHECK(batch->changes == 3);  // Created, NewMail, Modified (a folder's, still a change)
  CHECK(batch->status.empty());

  const std::string keep_alive =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
      "<m:GetStreamingEventsResponse "
      "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\">"
      "<m:ResponseMessages><m:GetStreamingEventsResponseMessage ResponseClass=\"Success\">"
      "<m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus>"
      "</m:GetStreamingEventsResponseMessage></m:ResponseMessages>"
      "</m:GetStreamingEventsResponse></s:Body></s:Envelope >";
  // One chunked body: keep-alive, then the events, delivered in pieces of every size.
  const std::string body = keep_alive + sample;
  for (std::size_t piece : {1u, 7u, 64u, 100000u}) {
    INFO("piece " << piece);
    std::string buffer;
    std::vector<std::string> got;
    for (std::size_t at = 0; at < body.size(); at += piece) {
      buffer += body.substr(at, piece);
      while (auto env = e::take_envelope(buffer)) got.push_back(*env);
    }
    REQUIRE(got.size() == 2);
    CHECK(got[0] == keep_alive);
    auto ok = e::streaming_events_of(parse_ok("GetStreamingEvents", got[0]).at(0));
    REQUIRE(ok.ok());
    CHECK(ok->status == "OK");
    CHECK(ok->changes == 0);
    auto events = e::streaming_events_of(parse_ok("GetStreamingEvents", got[1]).at(0));
    REQUIRE(events.ok());
    CHECK(events->changes == 3);
    CHECK(buffer.find_first_not_of(" \r\n") == std::string::npos);
  }
  // "Envelope" in other places is not the end of one.
  std::string tricky = "<s:Envelope><s:Body><t:Subject>Envelope</t:Subject><x:Envelope/>";
  CHECK_FALSE(e::take_envelope(tricky).has_value());
  tricky += "</s:Envelope>";
  CHECK(e::take_envelope(tricky).has_value());
  CHECK(tricky.empty());
}

TEST_CASE("EWS samples: error replies map to error kinds", "[ews][codec][samples]") {
  NEED_REFERENCE();
  {
    auto r = e::parse_response("FindItem", 500,
                               ewstest::sample("fault-errorserverbusy-backoff-response.xml"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kTransient));
    REQUIRE(r.error().retry_after_ms());
    CHECK(*r.error().retry_after_ms() == 297749);
  }
  {
    auto msgs = parse_ok("FindItem", ewstest::sample("constructed-finditem-busy-response.xml"));
    REQUIRE_FALSE(msgs.at(0).ok());
    CHECK(e::error_of(msgs[0]).is(ErrorKind::kTransient));
    CHECK(msgs[0].backoff_ms.has_value());
  }
  {
    auto msgs = parse_ok(
        "UpdateItem", ewstest::sample("constructed-updateitem-irresolvableconflict-response.xml"));
    CHECK(e::error_of(msgs.at(0)).is(ErrorKind::kConflict));
  }
  {
    auto msgs =
        parse_ok("DeleteItem", ewstest::sample("deleteitem-error-itemnotfound-response.xml"));
    CHECK(e::error_of(msgs.at(0)).is(ErrorKind::kNotFound));
  }
  {
    auto msgs = parse_ok("SyncFolderItems",
                         ewstest::sample("syncfolderitems-error-invalidsyncstate-response.xml"));
    CHECK(msgs.at(0).code == "ErrorInvalidSyncStateData");
  }
  {
    auto r = e::parse_response("UpdateItem", 500,
                               ewstest::sample("updateitem-schemavalidation-fault-response.xml"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    CHECK(r.error().message().find("ErrorSchemaValidation") != std::string::npos);
  }
}

namespace {
std::string getitem_reply(const std::string& item_xml) {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
         "<m:GetItemResponse "
         "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
         "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/"
         "types\"><m:ResponseMessages>"
         "<m:GetItemResponseMessage "
         "ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>"
         "<m:Items>" +
         item_xml +
         "</m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"
         "</s:Body></s:Envelope>";
}
Result<StoreItem> read_item(const std::string& item_xml) {
  auto msgs = e::parse_response("GetItem", 200, getitem_reply(item_xml));
  if (!msgs) return msgs.error();
  auto items = e::items_of(*msgs->at(0).element.child(e::kMNs, "Items"));
  if (!items) return items.error();
  if (items->size() != 1) return Error::Invalid("not one item");
  return e::to_store_item(items->front(), [](const std::string&) { return Folder::kTasks; });
}
const std::string kHead =
    "<t:ItemId Id=\"I1\" ChangeKey=\"K1\"/><t:ParentFolderId "
    "Id=\"F\"/><t:ItemClass>IPM.Task</t:ItemClass>";
const std::string kTail = "<t:LastModifiedTime>2026-01-01T00:00:00Z</t:LastModifiedTime>";
}  // namespace

TEST_CASE("EWS replies: values read back - dates to the nearest midnight", "[ews][codec]") {
  auto item = read_item(
      "<t:Task>" + kHead +
      "<t:Subject>S</t:Subject><t:Importance>High</t:Importance>"
      "<t:ExtendedProperty><t:ExtendedFieldURI "
      "PropertySetId=\"C3A7D2F0-5B1E-4E8A-9F6D-2A4B8C1E7F35\" "
      "PropertyName=\"CrmId\" "
      "PropertyType=\"String\"/><t:Value>00000000-0000-4000-8000-000000000042</t:Value>"
      "</t:ExtendedProperty>"
      "<t:ExtendedProperty><t:ExtendedFieldURI "
      "PropertySetId=\"c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35\" "
      "PropertyName=\"Tracked\" "
      "PropertyType=\"Boolean\"/><t:Value>true</t:Value></t:ExtendedProperty>" +
      kTail +
      // Berlin midnight of 15 March, New York midnight of 16 March.
      "<t:DueDate>2026-03-14T23:00:00Z</t:DueDate><t:StartDate>2026-03-16T04:00:00Z</t:StartDate>"
      "<t:Status>Completed</t:Status></t:Task>");
  REQUIRE(item.ok());
  CHECK(item->item.fields.at("DueDate") == Value(Date{2026, 3, 15}));
  CHECK(item->item.fields.at("StartDate") == Value(Date{2026, 3, 16}));
  CHECK(item->item.text("Status") == "Complete");
  CHECK(item->item.text("Importance") == "High");
  CHECK(item->link.tracked);
  REQUIRE(item->link.crm_id);
  CHECK(*item->link.crm_id == guid(42));
}

TEST_CASE("X3: hostile EWS replies are a clear kInvalid", "[ews][codec][hostile]") {
  auto invalid = [](std::string_view op, int status, const std::string& body) {
    auto r = e::parse_response(op, status, body);
    REQUIRE_FALSE(r.ok());
    INFO(r.error().describe());
    CHECK(r.error().is(ErrorKind::kInvalid));
  };
  invalid("GetItem", 200, "");
  invalid("GetItem", 200, "<html><body>Outlook Web App</body></html>");
  invalid("GetItem", 200, "not xml at all <<<");
  invalid("GetItem", 200, "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>");
  invalid("GetItem", 200, "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"/>");
  invalid("GetItem", 200,
          "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
          "<m:FindItemResponse "
          "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\"/>"
          "</s:Body></s:Envelope>");
  invalid(
      "GetItem", 200,
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
      "<m:GetItemResponse xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\">"
      "<m:ResponseMessages><m:GetItemResponseMessage ResponseClass=\"Maybe\"/></m:ResponseMessages>"
      "</m:GetItemResponse></s:Body></s:Envelope>");
  invalid("GetItem", 200, getitem_reply("<t:Task>\xff\xfe</t:Task>"));
  invalid("GetItem", 200, std::string(100, '<') + "a");
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += "<a>";
  invalid("GetItem", 200, deep);

  // HTTP-level: an HTML 500 is transient, 401 is a permission problem.
  CHECK(e::parse_response("GetItem", 500, "<html>oops</html>").error().is(ErrorKind::kTransient));
  CHECK(e::parse_response("GetItem", 401, "").error().is(ErrorKind::kPermission));

  // Item-level: malformed values in a well-formed reply.
  auto bad = [](const std::string& item_xml) {
    auto r = read_item(item_xml);
    REQUIRE_FALSE(r.ok());
    INFO(r.error().describe());
    CHECK(r.error().is(ErrorKind::kInvalid));
  };
  bad("<t:Task><t:Subject>no id</t:Subject></t:Task>");
  bad("<t:Task>" + kHead + "<t:Importance>Urgent</t:Importance>" + kTail + "</t:Task>");
  bad("<t:Task>" + kHead + kTail + "<t:DueDate>yesterday</t:DueDate></t:Task>");
  bad("<t:Task>" + kHead + "</t:Task>");  // no LastModifiedTime
  bad("<t:Task>" + kHead +
      "<t:ExtendedProperty><t:ExtendedFieldURI "
      "PropertySetId=\"c3a7d2f0-5b1e-4e8a-9f6d-2a4b8c1e7f35\" "
      "PropertyName=\"CrmId\" PropertyType=\"String\"/><t:Value>'; DROP TABLE</t:Value>"
      "</t:ExtendedProperty>" +
      kTail + "</t:Task>");
  bad("<t:Task><t:ItemId Id=\"" + std::string(500, 'A') + "\" ChangeKey=\"K\"/>" + kTail +
      "</t:Task>");
}

TEST_CASE("§7 all-day events: appointments carry the user's zone - where their midnights are",
          "[ews][codec][timezone]") {
  std::string cal = text_of(e::create_item(full_appointment(true), kZone));
  const std::string start_zone = "<t:StartTimeZone Id=\"W. Europe Standard Time\"/>";
  const std::string end_zone = "<t:EndTimeZone Id=\"W. Europe Standard Time\"/>";
  REQUIRE(cal.find(start_zone) != std::string::npos);
  CHECK(cal.find(end_zone) == cal.find(start_zone) + start_zone.size());  // schema order
  CHECK(cal.find("<t:IsAllDayEvent>true</t:IsAllDayEvent>") < cal.find(start_zone));
  // A timed event gets the zone too (as Outlook gives it), a contact never.
  CHECK(text_of(e::create_item(full_appointment(false), kZone)).find(start_zone) !=
        std::string::npos);
  CHECK(text_of(e::create_item(full_contact(), kZone)).find("TimeZone") == std::string::npos);
  // Hostile text in a zone id is escaped, never markup.
  CHECK(text_of(e::create_item(full_appointment(true), "\"/><x a=\"")).find("<x a=") ==
        std::string::npos);

  const e::ItemRef ref{"I", "K"};
  for (const char* moved : {"Start", "End", "AllDayEvent"}) {
    INFO(moved);
    FieldMap changes{{moved, full_appointment(true).item.fields.at(moved)}};
    std::string upd = text_of(e::update_item(ItemKind::kAppointment, ref, changes, std::nullopt,
                                             "Eastern Standard Time"));
    CHECK(upd.find("<t:FieldURI FieldURI=\"calendar:StartTimeZone\"/><t:CalendarItem>"
                   "<t:StartTimeZone Id=\"Eastern Standard Time\"/></t:CalendarItem>") !=
          std::string::npos);
    CHECK(upd.find("calendar:EndTimeZone") != std::string::npos);
  }
  std::string subject = text_of(e::update_item(
      ItemKind::kAppointment, ref, {{"Subject", Value(std::string("x"))}}, std::nullopt, kZone));
  CHECK(subject.find("TimeZone") == std::string::npos);  // the item keeps the zone it has
}

TEST_CASE("EWS requests: an update of read-only fields only writes nothing", "[ews][codec]") {
  auto r = e::update_item(ItemKind::kAppointment, {"I", "K"},
                          {{"Duration", Value(std::int64_t{30})},
                           {"Organizer", Value(PartyList{{"x@example.org", "", std::nullopt}})}},
                          std::nullopt, kZone);
  REQUIRE(r.ok());
  CHECK(r->empty());
  auto bad = e::update_item(ItemKind::kAppointment, {"I", "K"},
                            {{"Duration", Value(std::string("long"))}}, std::nullopt, kZone);
  REQUIRE_FALSE(bad.ok());  // not written, but still a value of the wrong type
  CHECK(bad.error().is(ErrorKind::kInvalid));
}
