// An independent client: Microsoft's JavaScript Graph SDK (@microsoft/microsoft-graph-client,
// from npm, installed by scripts/setup) under node, pointed at graph-emulator over HTTPS with
// baseUrl: create a contact, list through delta, patch with If-Match (and a stale one), add a
// category, then a second delta round.
#include <filesystem>
#include <sstream>

#include "graph_test.hpp"

using graph_test::Emulator;
using graph_test::str;
using namespace std::chrono_literals;

namespace {

std::string find_on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto p = std::filesystem::path(dir) / program;
    if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

}  // namespace

TEST_CASE("node: Microsoft's JavaScript Graph SDK drives the emulator", "[graph][node]") {
  REQUIRE_CSDL();
  const std::string client_dir = GRAPH_NODE_CLIENT_DIR;
  std::string node = find_on_path("node");
  bool sdk = std::filesystem::exists(
      client_dir + "/node_modules/@microsoft/microsoft-graph-client/package.json");
  REQUIRE_PREREQUISITE(crmsync::test::prereq::kNode, !node.empty() && sdk,
                       node.empty() ? "node is not on PATH" : client_dir + "/node_modules");
  REQUIRE_PREREQUISITE(crmsync::test::prereq::kOpenssl, crmsync::test::on_path("openssl"));
  crmsync::test::TempDir certs;
  auto pki = graph_test::make_pki(certs.path().string());
  REQUIRE(pki.has_value());
  Emulator e({"--tls-cert", pki->cert, "--tls-key", pki->key}, pki->ca);

  crmsync::test::Spawned proc(
      {node, client_dir + "/graph_client.js"}, certs.file("node-stderr.txt"),
      {"GRAPH_BASE=" + e.base() + "/", "GRAPH_TOKEN=" + e.token, "NODE_EXTRA_CA_CERTS=" + pki->ca});
  std::map<std::string, rapidjson::Document> steps;
  std::string transcript;
  while (auto line = proc.read_line(60s)) {
    transcript += *line + "\n";
    rapidjson::Document d;
    d.Parse(line->c_str(), line->size());
    if (d.IsObject() && d.HasMember("step")) steps[str(d, "step")] = std::move(d);
  }
  auto rc = proc.wait(30s);
  INFO(transcript);
  REQUIRE(rc.has_value());
  CHECK(*rc == 0);
  REQUIRE(steps.count("create"));
  CHECK(str(steps["create"], "displayName") == "Pavel Bansky");
  REQUIRE(steps.count("delta"));
  CHECK(steps["delta"]["ids"].Size() == 2);
  CHECK(steps["delta"]["paged"].IsTrue());  // it followed @odata.nextLink pages
  REQUIRE(steps.count("stale"));
  CHECK(steps["stale"]["statusCode"].GetInt() == 412);
  CHECK(str(steps["stale"], "code") == "ErrorIrresolvableConflict");
  REQUIRE(steps.count("category"));
  CHECK(str(steps["category"], "color") == "preset9");
  REQUIRE(steps.count("done"));
  CHECK(steps["done"]["ok"].IsTrue());

  // What the SDK did is what the mailbox holds.
  std::string id = str(steps["create"], "id");
  auto got = e.call("GET", "/v1.0/me/contacts/" + id);
  REQUIRE(got.status == 200);
  auto j = got.json();
  graph_test::check_entities(j, "contact");
  CHECK(str(j, "jobTitle") == "Manager");
  CHECK(j["categories"][0] == "CRM");
  CHECK(e.call("GET", "/v1.0/me/contacts").json()["value"].Size() == 1);
}
