// Contacts: CRUD, delta rounds, change keys and If-Match, extended properties, categories.
#include <set>

#include "graph_test.hpp"

using graph_test::check_entities;
using graph_test::Emulator;
using graph_test::str;

namespace {

const std::string kProp = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name CrmId";

std::string new_contact(Emulator& e, const std::string& given, const std::string& extra = "") {
  auto r = e.call(
      "POST", "/v1.0/me/contacts",
      "{\"givenName\":" + graph_test::json_quote(given) + ",\"surname\":\"Bansky\"" + extra + "}");
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto j = r.json();
  check_entities(j, "contact");
  return str(j, "id");
}

std::set<std::string> ids_of(const rapidjson::Value& page, bool removed) {
  std::set<std::string> out;
  for (const auto& v : page["value"].GetArray())
    if (v.HasMember("@removed") == removed) out.insert(str(v, "id"));
  return out;
}

}  // namespace

TEST_CASE("contacts: create, read, update and delete; every answer fits the CSDL",
          "[graph][contacts]") {
  REQUIRE_CSDL();
  Emulator e;
  auto r = e.call("POST", "/v1.0/me/contacts",
                  R"({"givenName":"Pavel","surname":"Bansky","birthday":"1974-07-22",
                      "emailAddresses":[{"address":"pavelb@contoso.com","name":"Pavel Bansky"}],
                      "businessPhones":["+1 732 555 0102"],
                      "homeAddress":{"street":"1 Main St","city":"Redmond"}})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto created = r.json();
  check_entities(created, "contact");
  std::string id = str(created, "id");
  CHECK(str(created, "displayName") == "Pavel Bansky");  // generated, as Outlook does
  CHECK(str(created, "@odata.etag") == "W/\"" + str(created, "changeKey") + "\"");
  CHECK(str(created, "@odata.context").find("/contacts/$entity") != std::string::npos);
  CHECK(created["children"].IsArray());  // unset collections are [], strings null
  CHECK(created["jobTitle"].IsNull());

  auto folders = e.call("GET", "/v1.0/me/contactFolders").json();
  REQUIRE(folders["value"].Size() == 1);
  check_entities(folders, "contactFolder");
  std::string folder = str(folders["value"][0], "id");
  CHECK(str(created, "parentFolderId") == folder);

  auto got =
      e.call("GET", "/v1.0/users/alice%40example.com/contacts/" + graph_test::url_encode(id));
  REQUIRE(got.status == 200);
  CHECK(got.header("etag") == str(created, "@odata.etag"));
  auto sel = e.call("GET", "/v1.0/me/contacts/" + id + "?$select=givenName,surname").json();
  check_entities(sel, "contact");
  CHECK(str(sel, "givenName") == "Pavel");
  CHECK_FALSE(sel.HasMember("displayName"));
  CHECK(str(sel, "id") == id);

  auto p =
      e.call("PATCH", "/v1.0/me/contacts/" + id, R"({"jobTitle":"Manager","categories":["Blue"]})");
  REQUIRE(p.status == 200);
  auto patched = p.json();
  check_entities(patched, "contact");
  CHECK(str(patched, "jobTitle") == "Manager");
  CHECK(str(patched, "givenName") == "Pavel");
  CHECK(str(patched, "changeKey") != str(created, "changeKey"));
  CHECK(patched["categories"][0] == "Blue");

  auto in_folder = e.call("GET", "/v1.0/me/contactFolders/" + folder + "/contacts").json();
  check_entities(in_folder, "contact");
  CHECK(in_folder["value"].Size() == 1);

  CHECK(e.call("DELETE", "/v1.0/me/contacts/" + id).status == 204);
  auto gone = e.call("GET", "/v1.0/me/contacts/" + id);
  CHECK(gone.status == 404);
  CHECK(str(gone.json()["error"], "code") == "ErrorItemNotFound");
  CHECK(e.call("DELETE", "/v1.0/me/contacts/" + id).status == 404);
}

TEST_CASE("contacts: delta pages, then returns exactly the changed and removed items",
          "[graph][contacts][delta]") {
  REQUIRE_CSDL();
  Emulator e;
  std::vector<std::string> ids;
  for (const char* n : {"A", "B", "C", "D", "E"}) ids.push_back(new_contact(e, n));
  // Round 1, two per page: nextLink pages (never both links), then the deltaLink.
  std::set<std::string> seen;
  auto page = e.call("GET", "/v1.0/me/contacts/delta()", "", {{"Prefer", "odata.maxpagesize=2"}});
  REQUIRE(page.status == 200);
  CHECK(page.header("preference-applied") == "odata.maxpagesize=2");
  std::string delta_link;
  for (int i = 0; i < 10; ++i) {
    auto j = page.json();
    check_entities(j, "contact");
    CHECK(j["value"].Size() <= 2);
    for (auto& id : ids_of(j, false)) seen.insert(id);
    CHECK(j.HasMember("@odata.nextLink") != j.HasMember("@odata.deltaLink"));
    if (j.HasMember("@odata.deltaLink")) {
      delta_link = str(j, "@odata.deltaLink");
      break;
    }
    std::string next = str(j, "@odata.nextLink");
    CHECK(next.find("/contactfolders/") != std::string::npos);
    CHECK(next.find("$skiptoken=") != std::string::npos);
    page = e.follow(next, {{"Prefer", "odata.maxpagesize=2"}});
    REQUIRE(page.status == 200);
  }
  REQUIRE_FALSE(delta_link.empty());
  CHECK(delta_link.find("$deltatoken=") != std::string::npos);
  CHECK(seen == std::set<std::string>(ids.begin(), ids.end()));

  // Nothing changed: an empty round.
  auto quiet = e.follow(delta_link).json();
  CHECK(quiet["value"].Size() == 0);
  delta_link = str(quiet, "@odata.deltaLink");

  // Change one, delete one, add one: exactly those come back.
  REQUIRE(e.call("PATCH", "/v1.0/me/contacts/" + ids[0], R"({"nickName":"Al"})").status == 200);
  REQUIRE(e.call("DELETE", "/v1.0/me/contacts/" + ids[1]).status == 204);
  std::string added = new_contact(e, "F");
  auto round = e.follow(delta_link);
  REQUIRE(round.status == 200);
  auto j = round.json();
  check_entities(j, "contact");
  CHECK(ids_of(j, false) == std::set<std::string>{ids[0], added});
  CHECK(ids_of(j, true) == std::set<std::string>{ids[1]});
  for (const auto& v : j["value"].GetArray())
    if (str(v, "id") == ids[0]) CHECK(str(v, "nickName") == "Al");
  // The same deltaLink again replays the same round (tokens are not consumed).
  auto again = e.follow(delta_link).json();
  CHECK(again["value"].Size() == 3);
}

TEST_CASE("contacts: a stale If-Match answers 412 ErrorIrresolvableConflict and writes nothing",
          "[graph][contacts][concurrency]") {
  REQUIRE_CSDL();
  Emulator e;
  auto created = e.call("POST", "/v1.0/me/contacts", R"({"givenName":"Ann"})").json();
  std::string id = str(created, "id");
  std::string etag = str(created, "@odata.etag");
  auto ok =
      e.call("PATCH", "/v1.0/me/contacts/" + id, R"({"surname":"One"})", {{"If-Match", etag}});
  REQUIRE(ok.status == 200);
  std::string fresh = str(ok.json(), "@odata.etag");
  CHECK(fresh != etag);
  auto stale =
      e.call("PATCH", "/v1.0/me/contacts/" + id, R"({"surname":"Two"})", {{"If-Match", etag}});
  CHECK(stale.status == 412);
  auto stale_doc = stale.json();
  const auto& err = stale_doc["error"];
  CHECK(str(err, "code") == "ErrorIrresolvableConflict");
  CHECK(err["innerError"].HasMember("request-id"));
  CHECK(err["innerError"].HasMember("date"));
  CHECK(str(e.call("GET", "/v1.0/me/contacts/" + id).json(), "surname") == "One");
  // A bare change key (without W/"...") is taken too; a stale one refuses a DELETE.
  CHECK(e.call("DELETE", "/v1.0/me/contacts/" + id, "", {{"If-Match", etag}}).status == 412);
  CHECK(e.call("GET", "/v1.0/me/contacts/" + id).status == 200);
  std::string key = str(e.call("GET", "/v1.0/me/contacts/" + id).json(), "changeKey");
  CHECK(e.call("DELETE", "/v1.0/me/contacts/" + id, "", {{"If-Match", key}}).status == 204);
}

TEST_CASE("extended properties: inline create and patch, $expand with $filter, $filter any()",
          "[graph][contacts][extended]") {
  REQUIRE_CSDL();
  Emulator e;
  std::string marked = new_contact(
      e, "Marked",
      ",\"singleValueExtendedProperties\":[{\"id\":\"" + kProp + "\",\"value\":\"crm-1\"}]");
  std::string plain = new_contact(e, "Plain");
  // Not expanded: the property is not in the answer.
  auto got = e.call("GET", "/v1.0/me/contacts/" + marked).json();
  CHECK_FALSE(got.HasMember("singleValueExtendedProperties"));
  std::string expand = "?$expand=singleValueExtendedProperties($filter=id%20eq%20'" +
                       graph_test::url_encode(kProp) + "')";
  auto ex = e.call("GET", "/v1.0/me/contacts/" + marked + expand).json();
  check_entities(ex, "contact");
  REQUIRE(ex["singleValueExtendedProperties"].Size() == 1);
  CHECK(str(ex["singleValueExtendedProperties"][0], "value") == "crm-1");
  CHECK(str(ex["singleValueExtendedProperties"][0], "id") == kProp);
  // Filter: the name is case-sensitive, the value is not; `Any` and `any` both work.
  auto filter = [&](const std::string& id, const std::string& value, const char* any) {
    std::string f = std::string("singleValueExtendedProperties/") + any + "(ep: ep/id eq '" + id +
                    "' and ep/value eq '" + value + "')";
    auto r = e.call("GET", "/v1.0/me/contacts?$filter=" + graph_test::url_encode(f));
    INFO(r.body);
    REQUIRE(r.status == 200);
    auto j = r.json();
    check_entities(j, "contact");
    return ids_of(j, false);
  };
  CHECK(filter(kProp, "CRM-1", "Any") == std::set<std::string>{marked});
  CHECK(filter(kProp, "crm-2", "any").empty());
  std::string other_case = kProp;
  other_case.replace(other_case.find("CrmId"), 5, "crmid");
  CHECK(filter(other_case, "crm-1", "any").empty());
  // PATCH upserts by id and leaves the others.
  auto p = e.call(
      "PATCH", "/v1.0/me/contacts/" + plain,
      "{\"singleValueExtendedProperties\":[{\"id\":\"" + kProp + "\",\"value\":\"crm-2\"}]}");
  REQUIRE(p.status == 200);
  CHECK(filter(kProp, "crm-2", "any") == std::set<std::string>{plain});
  // A malformed property id is refused.
  auto bad = e.call(
      "POST", "/v1.0/me/contacts",
      R"({"givenName":"X","singleValueExtendedProperties":[{"id":"Nonsense","value":"1"}]})");
  CHECK(bad.status == 400);
  CHECK(e.call("GET", "/v1.0/me/contacts").json()["value"].Size() == 2);
}

TEST_CASE("categories on items and the mailbox's masterCategories", "[graph][categories]") {
  REQUIRE_CSDL();
  Emulator e;
  auto empty = e.call("GET", "/v1.0/me/outlook/masterCategories").json();
  CHECK(empty["value"].Size() == 0);
  CHECK(str(empty, "@odata.context").find("/outlook/masterCategories") != std::string::npos);
  auto r = e.call("POST", "/v1.0/me/outlook/masterCategories",
                  R"({"displayName":"CRM","color":"preset9"})");
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto cat = r.json();
  check_entities(cat, "outlookCategory");
  CHECK(str(cat, "id").size() == 36);
  CHECK(str(cat, "color") == "preset9");
  auto dup = e.call("POST", "/v1.0/me/outlook/masterCategories",
                    R"({"displayName":"crm","color":"preset1"})");
  CHECK(dup.status == 409);
  auto bad_color = e.call("POST", "/v1.0/me/outlook/masterCategories",
                          R"({"displayName":"Other","color":"purple"})");
  CHECK(bad_color.status == 400);
  auto list = e.call("GET", "/v1.0/me/outlook/masterCategories").json();
  check_entities(list, "outlookCategory");
  CHECK(list["value"].Size() == 1);
  // Categories on each kind of item.
  std::string id = new_contact(e, "Cat", ",\"categories\":[\"CRM\"]");
  CHECK(e.call("GET", "/v1.0/me/contacts/" + id).json()["categories"][0] == "CRM");
  auto task_list = str(e.call("GET", "/v1.0/me/todo/lists").json()["value"][0], "id");
  auto t = e.call("POST", "/v1.0/me/todo/lists/" + task_list + "/tasks",
                  R"({"title":"t","categories":["CRM"]})");
  CHECK(t.json()["categories"][0] == "CRM");
  auto m = e.call("POST", "/v1.0/me/messages", R"({"subject":"s","categories":["CRM"]})");
  CHECK(m.json()["categories"][0] == "CRM");
  auto cat_id = str(cat, "id");
  CHECK(e.call("PATCH", "/v1.0/me/outlook/masterCategories/" + cat_id, R"({"color":"preset2"})")
            .status == 200);
  // outlookcategory.md: "After a category is created, the name cannot be changed."
  CHECK(e.call("PATCH", "/v1.0/me/outlook/masterCategories/" + cat_id, R"({"displayName":"Other"})")
            .status == 400);
  CHECK(e.call("DELETE", "/v1.0/me/outlook/masterCategories/" + cat_id).status == 204);
}
