// The sync's pages read in place (codec.hpp read_entity_changes_reply and
// read_retrieve_multiple_reply, issue #20): the same records as the tree reading for every
// reply it takes, and no reply taken that parse_envelope or the tree reading refuses (the
// adapter then reads it the general way, so its error stays what it was).
#include <catch2/catch.hpp>

#include "codec.hpp"
#include "crmsync/core/original_state.hpp"
#include "support.hpp"

using namespace crmsync;
using namespace crmsync::crm_soap;
namespace fs = std::filesystem;

namespace {

constexpr const char* kHead =
    R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ExecuteResponse xmlns="http://schemas.microsoft.com/xrm/2011/Contracts/Services"><ExecuteResult xmlns:a="http://schemas.microsoft.com/xrm/2011/Contracts" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:b="http://schemas.datacontract.org/2004/07/System.Collections.Generic" i:type="a:RetrieveEntityChangesResponse"><a:ResponseName>RetrieveEntityChanges</a:ResponseName><a:Results><a:KeyValuePairOfstringanyType><b:key>EntityChanges</b:key><b:value i:type="c:BusinessEntityChanges" xmlns:c="http://schemas.microsoft.com/xrm/7.1/Contracts"><c:Changes>)";
constexpr const char* kTail =
    R"(</c:Changes><c:DataToken>14!11/25/2026 04:01:48</c:DataToken><c:MoreRecords>true</c:MoreRecords><c:PagingCookie>&lt;cookie page="2"/&gt;</c:PagingCookie></b:value></a:KeyValuePairOfstringanyType></a:Results></ExecuteResult></ExecuteResponse></s:Body></s:Envelope>)";

std::string kv(const std::string& key, const std::string& value_xml) {
  return "<a:KeyValuePairOfstringanyType><b:key>" + key + "</b:key>" + value_xml +
         "</a:KeyValuePairOfstringanyType>";
}

// One changed contact with every kind of value the model holds, and the usual inline
// namespace declarations of WCF.
std::string changed(int i, const std::string& extra = {}) {
  char id[40];
  std::snprintf(id, sizeof id, "11111111-2222-3333-4444-%012d", i);
  return std::string(
             R"(<c:anyType i:type="c:NewOrUpdatedItem"><c:NewOrUpdatedEntity><a:Attributes>)") +
         kv("contactid",
            std::string(
                R"(<b:value i:type="e:guid" xmlns:e="http://schemas.microsoft.com/2003/10/Serialization/">)") +
                id + "</b:value>") +
         kv("firstname",
            R"(<b:value i:type="d:string" xmlns:d="http://www.w3.org/2001/XMLSchema">Ann &amp; Bob <![CDATA[<x>]]></b:value>)") +
         kv("numberofchildren",
            R"(<b:value i:type="d:int" xmlns:d="http://www.w3.org/2001/XMLSchema"> 3 </b:value>)") +
         kv("donotemail",
            R"(<b:value i:type="d:boolean" xmlns:d="http://www.w3.org/2001/XMLSchema">true</b:value>)") +
         kv("modifiedon",
            R"(<b:value i:type="d:dateTime" xmlns:d="http://www.w3.org/2001/XMLSchema">2026-11-25T04:01:49Z</b:value>)") +
         kv("statecode", R"(<b:value i:type="a:OptionSetValue"><a:Value>1</a:Value></b:value>)") +
         kv("ownerid",
            R"(<b:value i:type="q:EntityReference" xmlns:q="http://schemas.microsoft.com/xrm/2011/Contracts"><q:Id>0ec243d4-1aaf-ea11-a812-000d3a44a2a9</q:Id><q:LogicalName>systemuser</q:LogicalName><q:Name>Me</q:Name></b:value>)") +
         kv("jobtitle", R"(<b:value i:nil="true"/>)") +
         kv("creditlimit", R"(<b:value i:type="a:Money"><a:Value>10</a:Value></b:value>)") +
         kv("description", "<b:value>untyped</b:value>") + extra +
         R"(</a:Attributes><a:EntityState i:nil="true"/><a:FormattedValues/><a:Id>)" + id +
         R"(</a:Id><a:LogicalName>contact</a:LogicalName><a:RelatedEntities/><a:RowVersion> 14 </a:RowVersion></c:NewOrUpdatedEntity><c:Type>NewOrUpdated</c:Type></c:anyType>)";
}

const std::string kRemoved =
    R"(<c:anyType i:type="c:RemovedOrDeletedItem"><c:RemovedItem><a:Id>9e9cc03c-e7cc-e111-bbd7-005056b14b94</a:Id><a:LogicalName>contact</a:LogicalName></c:RemovedItem><c:Type>RemoveOrDeleted</c:Type></c:anyType>)";

std::string page(const std::string& items) {
  return kHead + items + kTail;
}

std::string nested(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "<a:D>";
  for (int i = 0; i < depth; ++i) s += "</a:D>";
  return s;
}

// Every field of a record, the attributes in the original state's canonical form.
std::string describe(const CrmRecord& r) {
  return std::string(to_string(r.entity)) + " " + r.id.str() + " " +
         std::to_string(r.modified_on.ms) + " " + (r.owner ? r.owner->str() : "-") + " [" +
         r.row_version + "] " + serialize_fields(r.attributes);
}

std::string describe(const CrmChangePage& p) {
  std::string out = p.data_version + "|" + (p.more ? "more" : "last") + "|" + p.paging_cookie;
  for (const auto& r : p.new_or_updated) out += "\n" + describe(r);
  for (const auto& id : p.removed) out += "\nremoved " + id.str();
  return out;
}

std::string describe(const EntityPage& p) {
  std::string out = std::string(p.more ? "more" : "last") + "|" + p.paging_cookie;
  for (const auto& r : p.records) out += "\n" + describe(r);
  return out;
}

// The tree reading of a reply: the page, or the error the adapter reported before.
Result<CrmChangePage> tree_changes(const std::string& xml) {
  auto env = soap::parse_envelope(xml);
  if (!env.ok()) return env.error();
  if (env->fault || !env->body) return Error::Invalid("fault or empty body");
  return parse_entity_changes(*env->body);
}

Result<EntityPage> tree_multiple(const std::string& xml) {
  auto env = soap::parse_envelope(xml);
  if (!env.ok()) return env.error();
  if (env->fault || !env->body) return Error::Invalid("fault or empty body");
  return parse_retrieve_multiple(*env->body);
}

}  // namespace

TEST_CASE("issue 20: a RetrieveEntityChanges page read in place equals the tree reading",
          "[codec][in-place]") {
  std::string items;
  for (int i = 1; i <= 50; ++i) items += changed(i);
  items += kRemoved;
  const std::string xml = page(items);
  auto in_place = read_entity_changes_reply(xml, {});
  REQUIRE(in_place);
  auto tree = tree_changes(xml);
  REQUIRE(tree.ok());
  CHECK(in_place->new_or_updated.size() == 50);
  CHECK(describe(*in_place) == describe(*tree));
  // Spot checks that the comparison compares something.
  const CrmRecord& r = in_place->new_or_updated.front();
  CHECK(std::get<std::string>(r.attributes.at("firstname")) == "Ann & Bob <x>");
  CHECK(std::get<std::int64_t>(r.attributes.at("numberofchildren")) == 3);
  CHECK(r.row_version == "14");
  CHECK(r.attributes.count("creditlimit") == 0);
  CHECK(in_place->paging_cookie == "<cookie page=\"2\"/>");
}

TEST_CASE("issue 20: the reference and corpus replies read in place as the tree reads them",
          "[codec][in-place]") {
  std::vector<std::string> replies;
  for (const char* f : {"entity_changes.xml", "retrieve_multiple.xml", "retrieve.xml",
                        "fault-throttled.xml", "who_am_i.xml", "execute_multiple.xml"})
    replies.push_back(
        crmtest::read_text(fs::path(CRMSYNC_SOURCE_DIR) / "tests/fuzz/corpus/crm_response" / f));
  if (auto ref = crmtest::require_reference())
    replies.push_back(crmtest::read_text(
        *ref / "crm/xrm2011/samples/resp-execute-retrieveentitychanges.constructed.xml"));
  int taken = 0;
  for (const auto& xml : replies) {
    INFO(xml.substr(0, 300));
    auto tree = tree_changes(xml);
    if (auto p = read_entity_changes_reply(xml, {})) {
      ++taken;
      REQUIRE(tree.ok());
      CHECK(describe(*p) == describe(*tree));
    }
    auto multiple = tree_multiple(xml);
    if (auto p = read_retrieve_multiple_reply(xml, {})) {
      ++taken;
      REQUIRE(multiple.ok());
      CHECK(describe(*p) == describe(*multiple));
    }
  }
  CHECK(taken >= 2);  // the two sync pages of the corpus at least
}

TEST_CASE("issue 20: no reply the tree reading refuses is taken in place",
          "[codec][in-place][hostile]") {
  const std::string ok = changed(1);
  const std::vector<std::pair<const char*, std::string>> hostile = {
      // An undeclared prefix or a reference to no character in parts no reader looks at.
      {"undeclared prefix, unread element", page(changed(1, "<zz:extra/>"))},
      {"undeclared attribute prefix", page(changed(1, R"(<a:Extra zz:x="1"/>)"))},
      {"attribute decoding to invalid UTF-8", page(changed(1, R"(<a:Extra k="&#xD800;"/>)"))},
      {"text decoding to invalid UTF-8", page(changed(1, "<a:Extra>&#xD800;</a:Extra>"))},
      {"split text decoding to invalid UTF-8",
       page(changed(1, "<a:Extra>a<a:B/>&#xDFFF;</a:Extra>"))},
      {"a value of the wrong type",
       page(changed(
           1,
           kv("x",
              R"(<b:value i:type="d:int" xmlns:d="http://www.w3.org/2001/XMLSchema">ten</b:value>)")))},
      {"a removal of the nil GUID",
       page(
           R"(<c:anyType i:type="c:RemovedOrDeletedItem"><c:RemovedItem><a:Id>00000000-0000-0000-0000-000000000000</a:Id></c:RemovedItem></c:anyType>)")},
      {"a DOCTYPE", "<!DOCTYPE x []>" + page(ok)},
      {"malformed", page(ok).substr(0, 900)},
      {"not UTF-8", page(ok) + "\xC3"},
      {"too deep", page(changed(1, nested(70)))},
      {"a fault",
       R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>no</faultstring></s:Fault></s:Body></s:Envelope>)"},
      {"an empty body",
       R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>)"},
      {"not an envelope", "<x/>"},
  };
  for (const auto& [what, xml] : hostile) {
    INFO(what);
    CHECK_FALSE(read_entity_changes_reply(xml, {}));
    CHECK_FALSE(read_retrieve_multiple_reply(xml, {}));
    CHECK_FALSE(tree_changes(xml).ok());
  }
  // Over the size limit: refused by both.
  soap::ParseLimits small;
  small.max_bytes = 1000;
  CHECK_FALSE(read_entity_changes_reply(page(ok), small));
  CHECK_FALSE(soap::parse_envelope(page(ok), small).ok());
}
