// SPEC U2: the CRM records a user picks what an item is regarding from, found by name through
// the SOAP adapter against the real crm-emulator.
#include <catch2/catch.hpp>
#include <fstream>

#include "crmsync/crm_soap/soap_crm_adapter.hpp"
#include "crmsync/test/crm_requests.hpp"
#include "emulator_process.hpp"

using namespace crmsync;
using namespace std::chrono_literals;

#ifdef CRM_EMULATOR_PATH

namespace {

// Creates an account as the user of `token` through the real SOAP contract.
void create_account(const crmtest::EmulatorProcess& e, const std::string& token,
                    const std::string& name_xml) {
  http::Request req;
  req.url = e.base_url().substr(0, e.base_url().size() - 1) + test::crm::kOrganizationPath;
  req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                 {"SOAPAction", test::crm::kExecuteAction},
                 {"Authorization", "Bearer " + token}};
  req.body = test::crm::execute_envelope(test::crm::org_request(
      "CreateRequest", "Create",
      test::crm::target_entity("account", "00000000-0000-0000-0000-000000000000",
                               test::crm::str_attr("name", name_xml))));
  http::Client client;
  auto r = client.send(req);
  REQUIRE(r.ok());
  INFO(r->body);
  REQUIRE(r->status == 200);
}

// The emulator with Alice, and the SOAP adapter signed in as her.
struct SearchRig {
  crmtest::EmulatorProcess emulator{CRM_EMULATOR_PATH};
  crmtest::TempDir dir;
  FakeClock clock;
  std::unique_ptr<CrmAdapter> crm;
  SearchRig() {
    REQUIRE(emulator.ok());
    REQUIRE_FALSE(emulator.add_user("Alice Adams", "alice-token-1234").empty());
    std::ofstream(dir.path() / "alice") << "alice-token-1234\n";
    SoapCrmConfig c;
    c.base_url = emulator.base_url();
    c.auth.type = SoapCrmAuth::Type::kBearerFile;
    c.auth.token_file = (dir.path() / "alice").string();
    c.request_timeout = 30s;
    crm = make_soap_crm_adapter(c, clock);
  }
};

std::vector<std::string> names(const std::vector<EntityRef>& refs) {
  std::vector<std::string> out;
  for (const auto& r : refs) {
    CHECK(r.entity == "account");
    CHECK_FALSE(r.id.is_nil());
    out.push_back(r.name);
  }
  return out;
}

}  // namespace

TEST_CASE("U2: records are found by a part of their name - by name - at most max",
          "[contract][emulator][U2]") {
  SearchRig rig;
  for (const char* n :
       {"Contoso Pharma", "Fabrikam", "Contoso Ltd", "50% Off Ltd", "50X Corp", "R&amp;D Labs"})
    create_account(rig.emulator, "alice-token-1234", n);
  auto& crm = rig.crm;
  auto found = crm->find_by_name("account", "CONTO", 10);
  REQUIRE(found.ok());
  CHECK(names(*found) == std::vector<std::string>{"Contoso Ltd", "Contoso Pharma"});
  auto one = crm->find_by_name("account", "contoso", 1);
  REQUIRE(one.ok());
  CHECK(names(*one) == std::vector<std::string>{"Contoso Ltd"});
  auto amp = crm->find_by_name("account", "R&D", 10);  // escaped on the wire
  REQUIRE(amp.ok());
  CHECK(names(*amp) == std::vector<std::string>{"R&D Labs"});
  // A LIKE wildcard the user typed matches any one character: never all records.
  auto wild = crm->find_by_name("account", "50%", 10);
  REQUIRE(wild.ok());
  CHECK(names(*wild) == std::vector<std::string>{"50% Off Ltd", "50X Corp"});
  auto none = crm->find_by_name("account", "%", 10);
  REQUIRE(none.ok());
  CHECK(none->size() == 6);  // '%' is one character here, which every name has
  auto nothing = crm->find_by_name("account", "Northwind", 10);
  REQUIRE(nothing.ok());
  CHECK(nothing->empty());
}

TEST_CASE("U2: a name search of an unknown entity or with hostile text is refused",
          "[contract][emulator][U2]") {
  SearchRig rig;
  auto& crm = rig.crm;
  for (const auto& [entity, text, max] :
       {std::tuple<std::string, std::string, std::size_t>{"task", "x", 5},
        {"account'; drop", "x", 5},
        {"account", "", 5},
        {"account", std::string("a\x01z"), 5},
        {"account", std::string(201, 'x'), 5},
        {"account", "x", 0},
        {"account", "x", 51}}) {
    INFO(entity << " " << text.size() << " " << max);
    auto r = crm->find_by_name(entity, text, max);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
  }
  // An entity this adapter knows but the server does not: the server's fault, not a crash.
  auto r = crm->find_by_name("opportunity", "x", 5);
  CHECK_FALSE(r.ok());
}

#endif
