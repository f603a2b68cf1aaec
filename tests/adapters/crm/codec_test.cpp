// The Organization Service codec: every envelope the adapter sends validates against the
// official schemas (xmllint), and every sample response reads back the right values.
#include <catch2/catch.hpp>
#include <fstream>

#include "codec.hpp"
#include "crmsync/model/mapping.hpp"
#include "crmsync/test/crm_schema_v8.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace crmsync::crm_soap;
namespace fs = std::filesystem;

namespace {

CrmId id_of(const char* text) {
  return CrmId::parse(text).value();
}

// Validates against crm-envelope-validate.xsd; without the reference folder or xmllint the test
// fails (CI) or is marked skipped, and false is returned.
bool validate(const std::string& xml) {
  auto ref = crmtest::require_schema_check();
  if (!ref) return false;
  auto errors = crmtest::xmllint_errors(xml, *ref / "crm/xrm2011/xsd/crm-envelope-validate.xsd");
  INFO(xml);
  CHECK(errors == "");
  return true;
}

FieldMap all_value_kinds() {
  FieldMap f;
  f["subject"] = std::string("Call <Bob> & \"Alice\"");
  f["description"] = Value{};  // clears
  f["scheduleddurationminutes"] = std::int64_t{30};
  f["prioritycode"] = std::int64_t{2};
  f["isalldayevent"] = true;
  f["scheduledstart"] = UtcTime::parse("2025-03-01T08:00:00Z").value();
  f["birthdate"] = Date{1980, 2, 29};
  f["regardingobjectid"] = EntityRef{"account", id_of("5e1f2ca6-8b9d-e611-80e9-c4346bad4600"), ""};
  f["requiredattendees"] =
      PartyList{Party{"bob@example.com", "Bob",
                      EntityRef{"contact", id_of("7c4d3f2e-1111-4222-8333-444455556666"), "Bob"}},
                Party{"free@example.com", "", std::nullopt}};
  return f;
}

const soap::Element body_of(const std::string& xml) {
  auto env = soap::parse_envelope(xml);
  REQUIRE(env.ok());
  REQUIRE(env->body);
  return *env->body;
}

}  // namespace

TEST_CASE("Create envelope carries the chosen id and validates", "[codec][xsd]") {
  auto id = id_of("a1b2c3d4-0000-4000-8000-000000000001");
  std::string xml = execute_envelope(create_request("appointment", id, all_value_kinds()));
  CHECK_THAT(xml, Catch::Contains("<a:Id>a1b2c3d4-0000-4000-8000-000000000001</a:Id>"));
  CHECK_THAT(xml, Catch::Contains("i:type=\"a:OptionSetValue\"><a:Value>2</a:Value>"));
  CHECK_THAT(xml, Catch::Contains("i:type=\"d:int\">30<"));
  CHECK_THAT(xml, Catch::Contains("i:type=\"d:boolean\">true<"));
  CHECK_THAT(xml, Catch::Contains("i:type=\"d:dateTime\">2025-03-01T08:00:00Z<"));
  CHECK_THAT(xml, Catch::Contains("i:type=\"d:dateTime\">1980-02-29T00:00:00Z<"));
  CHECK_THAT(xml, Catch::Contains("<b:value i:nil=\"true\"/>"));
  CHECK_THAT(xml, Catch::Contains("<a:LogicalName>activityparty</a:LogicalName>"));
  CHECK_THAT(xml, Catch::Contains("<b:key>addressused</b:key>"));
  validate(xml);
}

TEST_CASE("Retrieve - Update - Delete - SetState - WhoAmI envelopes validate", "[codec][xsd]") {
  auto id = id_of("a1b2c3d4-0000-4000-8000-000000000001");
  validate(
      execute_envelope(retrieve_request("task", id, mapping_for(CrmEntity::kTask).crm_columns())));
  validate(execute_envelope(update_request("task", id, all_value_kinds())));
  validate(execute_envelope(delete_request("task", id)));
  std::string set_state = execute_envelope(set_state_request("task", id, 1, 5));
  CHECK_THAT(set_state, Catch::Contains("i:type=\"c:SetStateRequest\""));
  validate(set_state);
  std::string who = execute_envelope(who_am_i_request());
  CHECK_THAT(who, Catch::Contains("xmlns:c=\"http://schemas.microsoft.com/crm/2011/Contracts\""));
  validate(who);
  validate(execute_envelope(retrieve_user_privileges_request(id)));
}

TEST_CASE("U3: CallerId goes in the SOAP header in the 2011 Contracts namespace", "[codec][xsd]") {
  auto bob = id_of("b0b0b0b0-0000-4000-8000-000000000002");
  std::string xml = execute_envelope(who_am_i_request(), bob);
  CHECK_THAT(xml, Catch::Contains("<s:Header><CallerId "
                                  "xmlns=\"http://schemas.microsoft.com/xrm/2011/Contracts\">"
                                  "b0b0b0b0-0000-4000-8000-000000000002</CallerId></s:Header>"));
  CHECK(xml.find("<s:Header>") < xml.find("<s:Body>"));
  validate(xml);
  CHECK(execute_envelope(who_am_i_request()).find("CallerId") == std::string::npos);
}

TEST_CASE("RetrieveMultiple QueryExpression envelopes validate (Or filter - page 2)",
          "[codec][xsd]") {
  Query q;
  q.entity = "contact";
  q.columns = {"fullname", "emailaddress1"};
  for (const char* a : {"emailaddress1", "emailaddress2", "emailaddress3"})
    q.conditions.push_back({a, "Equal", {"jane@example.com"}});
  q.filter_operator = "Or";
  q.order_ascending = {"modifiedon", "contactid"};
  q.page_number = 2;
  q.paging_cookie = R"(<cookie page="1"><contactid last="{7C4D}" /></cookie>)";
  std::string xml = execute_envelope(retrieve_multiple_request(q));
  CHECK_THAT(xml, Catch::Contains("<a:FilterOperator>Or</a:FilterOperator>"));
  CHECK_THAT(xml, Catch::Contains("&lt;cookie page=&quot;1&quot;&gt;"));
  validate(xml);
  Query since;
  since.entity = "task";
  since.columns = {"subject", "modifiedon"};
  since.conditions = {{"modifiedon", "GreaterEqual", {"2025-01-01T00:00:00Z"}, "d:dateTime"}};
  since.order_ascending = {"modifiedon", "activityid"};
  std::string since_xml = execute_envelope(retrieve_multiple_request(since));
  CHECK_THAT(since_xml,
             Catch::Contains("<f:anyType i:type=\"d:dateTime\">2025-01-01T00:00:00Z</f:anyType>"));
  validate(since_xml);
}

TEST_CASE("ExecuteMultiple envelope validates", "[codec][xsd]") {
  auto id = id_of("a1b2c3d4-0000-4000-8000-000000000001");
  std::string xml = execute_envelope(execute_multiple_request(
      {create_request("task", id, {{"subject", std::string("x")}}),
       update_request("task", id, {{"prioritycode", std::int64_t{1}}}),
       set_state_request("task", id, 1, 5), delete_request("contact", id)}));
  CHECK_THAT(xml, Catch::Contains("<g:ContinueOnError>true</g:ContinueOnError>"));
  CHECK_THAT(xml, Catch::Contains("<g:ReturnResponses>true</g:ReturnResponses>"));
  validate(xml);
}

// RetrieveEntityChanges is newer (CRM 2016) than the 7.0 schema set: we validate against a
// scratch copy of the schema set, written to a temp dir, with RetrieveEntityChangesRequest
// declared like the other SDK messages (an OrganizationRequest extension with no members)
// unless the shared copy already declares it (a later revision of the reference folder does).
// The constructed sample is validated the same way, which checks the scratch set itself.
TEST_CASE("RetrieveEntityChanges envelope validates against the schema plus the message",
          "[codec][xsd]") {
  auto ref = crmtest::require_schema_check();
  if (!ref) return;
  crmtest::TempDir dir;
  for (const auto& e : fs::directory_iterator(*ref / "crm/xrm2011/xsd"))
    if (e.path().extension() == ".xsd") fs::copy_file(e.path(), dir.path() / e.path().filename());
  auto msgs = dir.path() / "sdk-messages-xrm-2011-contracts.xsd";
  fs::permissions(msgs, fs::perms::owner_write, fs::perm_options::add);
  std::string text = crmtest::read_text(msgs);
  auto end = text.rfind("</xs:schema>");
  REQUIRE(end != std::string::npos);
  if (text.find("\"RetrieveEntityChangesRequest\"") == std::string::npos)
    text.insert(end,
                "<xs:complexType name=\"RetrieveEntityChangesRequest\"><xs:complexContent>"
                "<xs:extension base=\"tns:OrganizationRequest\"><xs:sequence/></xs:extension>"
                "</xs:complexContent></xs:complexType>\n");
  {
    std::ofstream out(msgs, std::ios::binary | std::ios::trunc);
    out << text;
  }
  // The constructed sample validates with the scratch set (and so the set is right)...
  auto sample = crmtest::read_text(
      *ref / "crm/xrm2011/samples/req-execute-retrieveentitychanges.constructed.xml");
  CHECK(crmtest::xmllint_errors(sample, dir.path() / "crm-envelope-validate.xsd") == "");
  // ... and so do ours: first page without DataVersion, later page with token and cookie.
  auto cols = mapping_for(CrmEntity::kContact).crm_columns();
  std::string first =
      execute_envelope(retrieve_entity_changes_request("contact", cols, "", 1, "", 500));
  CHECK_THAT(first, !Catch::Contains("DataVersion"));
  CHECK(crmtest::xmllint_errors(first, dir.path() / "crm-envelope-validate.xsd") == "");
  std::string later = execute_envelope(retrieve_entity_changes_request(
      "contact", cols, "1289573!04/15/2025 08:12:51", 2, "<cookie page=\"1\"/>", 500));
  CHECK_THAT(later, Catch::Contains("<b:key>DataVersion</b:key>"));
  CHECK(crmtest::xmllint_errors(later, dir.path() / "crm-envelope-validate.xsd") == "");
}

TEST_CASE("The reference request samples validate (the validator itself works)", "[codec][xsd]") {
  auto ref = crmtest::require_schema_check();
  if (!ref) return;
  auto xml = crmtest::read_text(*ref / "crm/xrm2011/samples/req-execute-create-contact.web.xml");
  validate(xml);
  // And a broken envelope does not.
  std::string broken = execute_envelope(set_state_request("task", CrmId::generate(), 1, 5));
  broken.replace(broken.find("<a:Value>1</a:Value>"), 20, "<a:Value>one</a:Value>");
  CHECK(crmtest::xmllint_errors(broken, *ref / "crm/xrm2011/xsd/crm-envelope-validate.xsd") != "");
}

TEST_CASE("Sample responses read back the right values", "[codec][samples]") {
  auto ref = crmtest::require_reference();
  if (!ref) return;
  auto sample = [&](const char* name) {
    return crmtest::read_text(*ref / "crm/xrm2011/samples" / name);
  };
  SECTION("WhoAmI") {
    auto who = parse_who_am_i(body_of(sample("resp-execute-whoami.web.xml")));
    REQUIRE(who.ok());
    CHECK(who->user_id.str() == "0ec243d4-1aaf-ea11-a812-000d3a44a2a9");
    CHECK(who->business_unit_id.str() == "b78fd0c3-ae25-e811-a83f-000d3a2af321");
    CHECK(who->organization_id.str() == "820d7afa-a6a6-44ea-8279-ba5621810971");
  }
  SECTION("Create and Update") {
    auto body = body_of(sample("resp-execute-create.constructed.xml"));
    auto result = execute_result(body);
    REQUIRE(result.ok());
    const soap::Element* id = result_value(**result, "id");
    REQUIRE(id);
    CHECK(id->text() == "7c4d3f2e-1111-4222-8333-444455556666");
    CHECK(execute_result(body_of(sample("resp-execute-update.constructed.xml"))).ok());
  }
  SECTION("RetrieveEntityChanges") {
    auto page =
        parse_entity_changes(body_of(sample("resp-execute-retrieveentitychanges.constructed.xml")));
    REQUIRE(page.ok());
    REQUIRE(page->new_or_updated.size() == 1);
    const CrmRecord& r = page->new_or_updated[0];
    CHECK(r.entity == CrmEntity::kContact);
    CHECK(r.id.str() == "7c4d3f2e-1111-4222-8333-444455556666");
    CHECK(std::get<std::string>(r.attributes.at("firstname")) == "Jane");
    CHECK(std::get<std::string>(r.attributes.at("lastname")) == "Doe");
    CHECK(r.modified_on == UtcTime::parse("2025-04-15T08:10:02Z").value());
    CHECK(r.attributes.count("contactid") == 0);
    REQUIRE(page->removed.size() == 1);
    CHECK(page->removed[0].str() == "9e9cc03c-e7cc-e111-bbd7-005056b14b94");
    CHECK(page->data_version == "1289575!04/15/2025 08:13:40");
    CHECK_FALSE(page->more);
    CHECK(page->paging_cookie.empty());
  }
  SECTION("ExecuteMultiple") {
    auto items =
        parse_execute_multiple(body_of(sample("resp-execute-executemultiple.constructed.xml")));
    REQUIRE(items.ok());
    REQUIRE(items->size() == 2);
    CHECK((*items)[0].index == 0);
    CHECK_FALSE((*items)[0].fault);
    CHECK((*items)[1].index == 1);
    REQUIRE((*items)[1].fault);
    CHECK((*items)[1].fault->error_code == -2147220969);
  }
  SECTION("RetrieveMultiple (SOAP 1.2 capture: its Body child)") {
    // The capture is a SOAP 1.2 envelope; read its ExecuteResponse directly.
    auto root = soap::parse_xml(
        sample("resp-execute-retrievemultiple-serviceappointment.online2015.soap12.xml"));
    REQUIRE(root.ok());
    const soap::Element* body = root->child_any_ns("Body");
    REQUIRE(body);
    REQUIRE_FALSE(body->children().empty());
    const soap::Element& response = body->children().front();
    auto result = execute_result(response);
    REQUIRE(result.ok());
    const soap::Element* coll = result_value(**result, "EntityCollection");
    REQUIRE(coll);
    const soap::Element* entities = coll->child(kXrmNs, "Entities");
    REQUIRE(entities);
    REQUIRE_FALSE(entities->children().empty());
    // serviceappointment is not a synced entity: read the values, not the record.
    const soap::Element& e = entities->children().front();
    const soap::Element* attrs = e.child(kXrmNs, "Attributes");
    REQUIRE(attrs);
    FieldMap values;
    for (const auto& kv : attrs->children()) {
      auto v = read_value(*kv.child(kGenericNs, "value"));
      REQUIRE(v.ok());
      if (*v) values[kv.child(kGenericNs, "key")->text()] = **v;
    }
    CHECK(std::get<std::int64_t>(values.at("prioritycode")) == 2);
    CHECK(std::get<bool>(values.at("isbilled")) == false);
    auto owner = std::get<EntityRef>(values.at("ownerid"));
    CHECK(owner.entity == "systemuser");
    CHECK(owner.name == "System Administrator");
    CHECK(std::get<EntityRef>(values.at("regardingobjectid")).name == "Rimmer Lankester");
    CHECK(std::get<UtcTime>(values.at("scheduledend")) ==
          UtcTime::parse("2000-02-05T11:00:00Z").value());
    CHECK(values.count("tb_deposit") == 0);  // Money: not part of the model, skipped
  }
}

namespace {

std::string retrieve_reply(const std::string& attributes_xml) {
  return R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ExecuteResponse xmlns="http://schemas.microsoft.com/xrm/2011/Contracts/Services"><ExecuteResult xmlns:a="http://schemas.microsoft.com/xrm/2011/Contracts" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="a:RetrieveResponse"><a:ResponseName>Retrieve</a:ResponseName><a:Results xmlns:b="http://schemas.datacontract.org/2004/07/System.Collections.Generic"><a:KeyValuePairOfstringanyType><b:key>Entity</b:key><b:value i:type="a:Entity"><a:Attributes>)" +
         attributes_xml +
         R"(</a:Attributes><a:EntityState i:nil="true"/><a:FormattedValues/><a:Id>a1b2c3d4-0000-4000-8000-000000000001</a:Id><a:LogicalName>appointment</a:LogicalName><a:RelatedEntities/></b:value></a:KeyValuePairOfstringanyType></a:Results></ExecuteResult></ExecuteResponse></s:Body></s:Envelope>)";
}

std::string kv(const std::string& key, const std::string& value_xml) {
  return "<a:KeyValuePairOfstringanyType><b:key>" + key + "</b:key>" + value_xml +
         "</a:KeyValuePairOfstringanyType>";
}

}  // namespace

TEST_CASE("Retrieve reply: option sets - references - party lists - owner", "[codec]") {
  const std::string party =
      R"(<b:value i:type="a:EntityCollection"><a:Entities><a:Entity><a:Attributes>)" +
      kv("partyid",
         R"(<b:value i:type="a:EntityReference"><a:Id>7c4d3f2e-1111-4222-8333-444455556666</a:Id><a:LogicalName>contact</a:LogicalName><a:Name>Jane Doe</a:Name></b:value>)") +
      R"(</a:Attributes><a:Id>00000000-0000-0000-0000-000000000000</a:Id><a:LogicalName>activityparty</a:LogicalName></a:Entity><a:Entity><a:Attributes>)" +
      kv("addressused",
         R"(<b:value i:type="d:string" xmlns:d="http://www.w3.org/2001/XMLSchema">x@y.org</b:value>)") +
      R"(</a:Attributes><a:LogicalName>activityparty</a:LogicalName></a:Entity></a:Entities><a:EntityName>activityparty</a:EntityName><a:MoreRecords>false</a:MoreRecords></b:value>)";
  auto xml = retrieve_reply(
      kv("statecode", R"(<b:value i:type="a:OptionSetValue"><a:Value>3</a:Value></b:value>)") +
      kv("ownerid",
         R"(<b:value i:type="q:EntityReference" xmlns:q="http://schemas.microsoft.com/xrm/2011/Contracts"><q:Id>0ec243d4-1aaf-ea11-a812-000d3a44a2a9</q:Id><q:LogicalName>systemuser</q:LogicalName><q:Name>Me</q:Name></b:value>)") +
      kv("modifiedon",
         R"(<b:value i:type="x:dateTime" xmlns:x="http://www.w3.org/2001/XMLSchema">2025-03-02T10:15:00Z</b:value>)") +
      kv("requiredattendees", party) + kv("location", R"(<b:value i:nil="true"/>)") +
      kv("activityid",
         R"(<b:value i:type="g:guid" xmlns:g="http://schemas.microsoft.com/2003/10/Serialization/">a1b2c3d4-0000-4000-8000-000000000001</b:value>)"));
  auto rec = parse_retrieve(body_of(xml));
  REQUIRE(rec.ok());
  CHECK(rec->entity == CrmEntity::kAppointment);
  CHECK(std::get<std::int64_t>(rec->attributes.at("statecode")) == 3);
  REQUIRE(rec->owner);
  CHECK(rec->owner->str() == "0ec243d4-1aaf-ea11-a812-000d3a44a2a9");
  CHECK(rec->modified_on == UtcTime::parse("2025-03-02T10:15:00Z").value());
  CHECK(std::holds_alternative<std::monostate>(rec->attributes.at("location")));
  const auto& parties = std::get<PartyList>(rec->attributes.at("requiredattendees"));
  REQUIRE(parties.size() == 2);
  REQUIRE(parties[0].ref);
  CHECK(parties[0].ref->entity == "contact");
  CHECK(parties[0].name == "Jane Doe");
  CHECK(parties[1].address == "x@y.org");
  CHECK_FALSE(parties[1].ref);
  CHECK(rec->attributes.count("activityid") == 0);
}

TEST_CASE("Retrieve reply with wrong types is kInvalid - never a crash", "[codec][hostile]") {
  const char* bad[] = {
      R"(<b:value i:type="a:OptionSetValue"><a:Value>high</a:Value></b:value>)",
      R"(<b:value i:type="a:OptionSetValue"/>)",
      R"(<b:value i:type="d:int" xmlns:d="http://www.w3.org/2001/XMLSchema">fifty</b:value>)",
      R"(<b:value i:type="d:int" xmlns:d="http://www.w3.org/2001/XMLSchema">99999999999999999999999</b:value>)",
      R"(<b:value i:type="d:boolean" xmlns:d="http://www.w3.org/2001/XMLSchema">maybe</b:value>)",
      R"(<b:value i:type="d:dateTime" xmlns:d="http://www.w3.org/2001/XMLSchema">yesterday</b:value>)",
      R"(<b:value i:type="a:EntityReference"><a:Id>not-a-guid</a:Id><a:LogicalName>contact</a:LogicalName></b:value>)",
      R"(<b:value i:type="a:EntityReference"><a:LogicalName>contact</a:LogicalName></b:value>)",
      R"(<b:value i:type="nope:int">1</b:value>)",
  };
  for (const char* v : bad) {
    INFO(v);
    auto env = soap::parse_envelope(retrieve_reply(kv("prioritycode", v)));
    if (!env.ok()) {
      CHECK(env.error().is(ErrorKind::kInvalid));
      continue;
    }
    auto rec = parse_retrieve(*env->body);
    REQUIRE_FALSE(rec.ok());
    CHECK(rec.error().is(ErrorKind::kInvalid));
    CHECK_THAT(rec.error().message(), Catch::Contains("prioritycode"));
  }
}

TEST_CASE("check_attributes refuses text that cannot travel in XML", "[codec]") {
  CHECK(check_attributes(all_value_kinds()).ok());
  auto r = check_attributes({{"subject", std::string("bad\x01")}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().is(ErrorKind::kInvalid));
  CHECK_THAT(r.error().message(), Catch::Contains("subject"));
  CHECK_FALSE(check_attributes({{"subject", std::string("\xFF\xFE")}}).ok());
}

TEST_CASE(
    "U7: a tracked e-mail's Create - then SetState to Received - validate; resolved parties "
    "carry partyid and addressused",
    "[codec][xsd][email]") {
  auto id = id_of("a1b2c3d4-0000-4000-8000-000000000002");
  const CrmId contact = id_of("7c4d3f2e-1111-4222-8333-444455556666");
  const CrmId user = id_of("0ec243d4-1aaf-ea11-a812-000d3a44a2a9");
  FieldMap mail{
      {"subject", std::string("Quote")},
      {"description", std::string("<p>Hello</p>")},
      {"directioncode", false},
      {"actualend", UtcTime::parse("2025-03-01T08:00:00Z").value()},
      {"messageid", std::string("<abc@example.com>")},
      {"from", PartyList{Party{"rita@example.com", "Rita", EntityRef{"contact", contact, ""}}}},
      {"to", PartyList{Party{"me@corp.example", "", EntityRef{"systemuser", user, ""}},
                       Party{"nobody@example.org", "No Body", std::nullopt}}},
  };
  std::string create = execute_envelope(create_request("email", id, mail));
  // The resolved sender: the record and the address it was matched on.
  CHECK_THAT(create, Catch::Contains("<b:key>partyid</b:key><b:value i:type=\"a:EntityReference\">"
                                     "<a:Id>7c4d3f2e-1111-4222-8333-444455556666</a:Id>"
                                     "<a:LogicalName>contact</a:LogicalName>"));
  CHECK_THAT(create, Catch::Contains("<b:key>addressused</b:key><b:value i:type=\"d:string\">"
                                     "rita@example.com</b:value>"));
  CHECK_THAT(create, Catch::Contains("<b:key>addressused</b:key><b:value i:type=\"d:string\">"
                                     "nobody@example.org</b:value>"));
  CHECK_THAT(create, Catch::Contains("<b:key>directioncode</b:key><b:value i:type=\"d:boolean\">"
                                     "false</b:value>"));
  // Three parties, each with its record and/or its address.
  std::size_t parties = 0;
  for (auto p = create.find("<a:LogicalName>activityparty</a:LogicalName>"); p != std::string::npos;
       p = create.find("<a:LogicalName>activityparty</a:LogicalName>", p + 1))
    ++parties;
  CHECK(parties == 3);
  validate(create);
  std::string both = execute_envelope(execute_multiple_request(
      {create_request("email", id, mail), set_state_request("email", id, 1, 4)}));
  CHECK_THAT(both, Catch::Contains("<b:key>State</b:key><b:value i:type=\"a:OptionSetValue\">"
                                   "<a:Value>1</a:Value>"));
  CHECK_THAT(both, Catch::Contains("<b:key>Status</b:key><b:value i:type=\"a:OptionSetValue\">"
                                   "<a:Value>4</a:Value>"));
  CHECK_THAT(both, !Catch::Contains("SendEmail"));
  validate(both);
}

TEST_CASE("U7: the system-user lookup by address validates - its reply reads as records",
          "[codec][xsd][email]") {
  Query q;
  q.entity = "systemuser";
  q.columns = {"systemuserid", "fullname", "internalemailaddress"};
  q.conditions = {{"internalemailaddress", "In", {"me@corp.example", "colin@corp.example"}}};
  validate(execute_envelope(retrieve_multiple_request(q)));

  const std::string reply =
      R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ExecuteResponse xmlns="http://schemas.microsoft.com/xrm/2011/Contracts/Services"><ExecuteResult xmlns:a="http://schemas.microsoft.com/xrm/2011/Contracts" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="a:RetrieveMultipleResponse"><a:ResponseName>RetrieveMultiple</a:ResponseName><a:Results xmlns:b="http://schemas.datacontract.org/2004/07/System.Collections.Generic">)" +
      kv("EntityCollection",
         R"(<b:value i:type="a:EntityCollection"><a:Entities><a:Entity><a:Attributes>)" +
             kv("systemuserid",
                R"(<b:value i:type="e:guid" xmlns:e="http://schemas.microsoft.com/2003/10/Serialization/">0ec243d4-1aaf-ea11-a812-000d3a44a2a9</b:value>)") +
             kv("fullname",
                R"(<b:value i:type="d:string" xmlns:d="http://www.w3.org/2001/XMLSchema">Me Myself</b:value>)") +
             kv("internalemailaddress",
                R"(<b:value i:type="d:string" xmlns:d="http://www.w3.org/2001/XMLSchema">Me@Corp.example</b:value>)") +
             R"(</a:Attributes><a:EntityState i:nil="true"/><a:FormattedValues/><a:Id>0ec243d4-1aaf-ea11-a812-000d3a44a2a9</a:Id><a:LogicalName>systemuser</a:LogicalName><a:RelatedEntities/></a:Entity></a:Entities><a:EntityName>systemuser</a:EntityName><a:MinActiveRowVersion i:nil="true"/><a:MoreRecords>false</a:MoreRecords><a:PagingCookie i:nil="true"/><a:TotalRecordCount>-1</a:TotalRecordCount><a:TotalRecordCountLimitExceeded>false</a:TotalRecordCountLimitExceeded></b:value>)") +
      R"(</a:Results></ExecuteResult></ExecuteResponse></s:Body></s:Envelope>)";
  validate(reply);
  auto page = parse_retrieve_multiple_any(body_of(reply), "systemuserid");
  REQUIRE(page.ok());
  REQUIRE(page->records.size() == 1);
  CHECK(page->records[0].entity == "systemuser");
  CHECK(page->records[0].id.str() == "0ec243d4-1aaf-ea11-a812-000d3a44a2a9");
  CHECK(std::get<std::string>(page->records[0].attributes.at("internalemailaddress")) ==
        "Me@Corp.example");
  CHECK_FALSE(page->more);
  // The existing reader still refuses entities the model does not hold.
  CHECK_FALSE(parse_retrieve_multiple(body_of(reply)).ok());
}

// Optimistic concurrency is newer (CRM 2015 Update 1 / 2016) than the 7.0 schema set: the
// conditional Update validates against that set plus Entity's RowVersion and the xrm/7.1
// ConcurrencyBehavior enum (crm_schema_v8.hpp), and not against the 7.0 set alone.
TEST_CASE("U6: a conditional Update carries RowVersion and ConcurrencyBehavior IfRowVersionMatches",
          "[codec][xsd]") {
  const CrmId id = id_of("7c4d3f2e-1111-4222-8333-444455556666");
  std::string xml = execute_envelope(
      update_request("contact", id, {{"jobtitle", std::string("CEO")}}, "1289570"));
  CHECK_THAT(xml, Catch::Contains("<a:LogicalName>contact</a:LogicalName><a:RelatedEntities/>"
                                  "<a:RowVersion>1289570</a:RowVersion></b:value>"));
  CHECK_THAT(xml, Catch::Contains("<a:KeyValuePairOfstringanyType><b:key>ConcurrencyBehavior"
                                  "</b:key><b:value i:type=\"h:ConcurrencyBehavior\" "
                                  "xmlns:h=\"http://schemas.microsoft.com/xrm/7.1/Contracts\">"
                                  "IfRowVersionMatches</b:value></a:KeyValuePairOfstringanyType>"));
  CHECK_THAT(xml, Catch::Contains("<a:RequestName>Update</a:RequestName>"));
  // Without a version: the 7.0 form, no condition.
  std::string plain =
      execute_envelope(update_request("contact", id, {{"jobtitle", std::string("CEO")}}, ""));
  CHECK_THAT(plain, !Catch::Contains("RowVersion"));
  CHECK_THAT(plain, !Catch::Contains("ConcurrencyBehavior"));

  auto ref = crmtest::require_schema_check();
  if (!ref) return;
  crmtest::TempDir dir;
  const fs::path v8 = crmsync::test::write_crm_schema_v8(*ref, dir.path());
  CHECK(crmtest::xmllint_errors(xml, v8) == "");
  CHECK(crmtest::xmllint_errors(plain, v8) == "");
  CHECK(crmtest::xmllint_errors(execute_envelope(execute_multiple_request({update_request(
                                    "task", id, {{"subject", std::string("s")}}, "42")})),
                                v8) == "");
  // The 7.0 set knows neither member; an enum value Dynamics does not have fails the set.
  CHECK(crmtest::xmllint_errors(xml, *ref / "crm/xrm2011/xsd/crm-envelope-validate.xsd") != "");
  std::string wrong = xml;
  wrong.replace(wrong.find(">IfRowVersionMatches<"), 21, ">IfVersionMatches<");
  CHECK(crmtest::xmllint_errors(wrong, v8) != "");
}

TEST_CASE("U6: records read from CRM carry their RowVersion", "[codec]") {
  auto reply = retrieve_reply(
      kv("subject",
         R"(<b:value i:type="d:string" xmlns:d="http://www.w3.org/2001/XMLSchema">S</b:value>)"));
  reply.replace(reply.find("<a:RelatedEntities/>"), 20,
                "<a:RelatedEntities/><a:RowVersion>95046280</a:RowVersion>");
  auto rec = parse_retrieve(body_of(reply));
  REQUIRE(rec.ok());
  CHECK(rec->row_version == "95046280");
  auto none = parse_retrieve(body_of(retrieve_reply("")));
  REQUIRE(none.ok());
  CHECK(none->row_version.empty());

  auto ref = crmtest::require_reference();
  if (!ref) return;
  auto page = parse_entity_changes(body_of(crmtest::read_text(
      *ref / "crm/xrm2011/samples/resp-execute-retrieveentitychanges.constructed.xml")));
  REQUIRE(page.ok());
  REQUIRE(page->new_or_updated.size() == 1);
  CHECK(page->new_or_updated[0].row_version == "1289570");
}

// ---- U4: the user's filters as sync queries ---------------------------------------------

#include "fetch.hpp"

TEST_CASE("U4: a filter's FetchXML is rewritten to our columns - order - page - modified floor",
          "[codec][fetch]") {
  const std::string filter =
      R"(<fetch version="1.0" top="10" mapping="logical"><entity name="contact">)"
      R"(<attribute name="fullname"/><order attribute="fullname" descending="true"/>)"
      R"(<filter type="and"><condition attribute="ownerid" operator="eq-userid"/></filter>)"
      R"(</entity></fetch>)";
  crm_soap::FetchPage page;
  page.columns = {"lastname", "emailaddress1"};
  page.primary_key = "contactid";
  page.page = 3;
  page.count = 500;
  page.paging_cookie = R"(<cookie page="2"><contactid last="{A}" /></cookie>)";
  page.modified_since = UtcTime::parse("2026-12-01T10:00:00Z").value();
  auto xml = crm_soap::sync_fetchxml(filter, "contact", page);
  REQUIRE(xml.ok());
  CHECK_THAT(
      *xml,
      Catch::Contains(
          R"(<attribute name="lastname"/><attribute name="emailaddress1"/><order attribute="contactid"/>)"));
  CHECK(xml->find("fullname") == std::string::npos);  // the filter's own columns and order go
  CHECK(xml->find("top=") == std::string::npos);
  CHECK_THAT(*xml, Catch::Contains(R"(operator="eq-userid")"));  // its conditions stay
  CHECK_THAT(
      *xml,
      Catch::Contains(
          R"(<condition attribute="modifiedon" operator="ge" value="2026-12-01T10:00:00Z"/>)"));
  CHECK_THAT(*xml, Catch::Contains(R"(count="500")"));
  CHECK_THAT(*xml, Catch::Contains(R"(page="3")"));
  CHECK_THAT(*xml, Catch::Contains("paging-cookie=\"&lt;cookie"));
  // The request carries it escaped inside a FetchExpression and validates.
  validate(execute_envelope(crm_soap::fetch_request(*xml)));
}

TEST_CASE("U4: hostile or unusable filters are clear errors - nothing is sent", "[codec][fetch]") {
  crm_soap::FetchPage page;
  page.columns = {"lastname"};
  page.primary_key = "contactid";
  struct Row {
    const char* name;
    std::string xml;
    const char* says;
  };
  const std::vector<Row> rows = {
      {"not XML", "<fetch><entity name='contact'>", "not well-formed"},
      {"no fetch", "<query/>", "no <fetch>"},
      {"two entities", "<fetch><entity name='contact'/><entity name='contact'/></fetch>",
       "exactly one"},
      {"another entity", "<fetch><entity name='account'/></fetch>", "queries account"},
      {"a DTD", "<!DOCTYPE fetch [<!ENTITY x 'y'>]><fetch><entity name='contact'/></fetch>", "DTD"},
      {"oversized",
       "<fetch><entity name='contact'>" + std::string(300 * 1024, ' ') + "</entity></fetch>",
       "256 KiB"},
  };
  for (const auto& row : rows) {
    INFO(row.name);
    auto r = crm_soap::sync_fetchxml(row.xml, "contact", page);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    CHECK_THAT(r.error().message(), Catch::Contains(row.says));
  }
}
