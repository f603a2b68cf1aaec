// Shared by graph-emulator's tests: the emulator as a real process on port 0, a small HTTP
// client, JSON helpers, and an independent CSDL type checker (tinyxml2, not the emulator's
// libxml2 code) that every entity the emulator returns is held to.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include "crmsync/test/prerequisite.hpp"
#include "crmsync/test/spawn.hpp"
#include "crmsync/test/temp_dir.hpp"

namespace graph_test {

// ../shared/reference/graph/v1.0-Prod.csdl beside the source tree.
const std::string& csdl_path();
bool csdl_present();

struct Response {
  int status = 0;  // 0: no answer
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  rapidjson::Document json() const;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

using Headers = std::map<std::string, std::string>;

// One HTTP request on a fresh connection to 127.0.0.1:port; HTTPS verified against `ca` when
// it is not empty.
Response http_request(unsigned short port, const std::string& method, const std::string& target,
                      const std::string& body = "", const Headers& headers = {},
                      const std::string& ca = "");

// A private CA and a server certificate for 127.0.0.1 made with the openssl CLI.
struct Pki {
  std::string ca, cert, key;
};
std::optional<Pki> make_pki(const std::string& dir);

class Emulator {
 public:
  // `ca`: the emulator serves HTTPS (extra has --tls-cert/--tls-key); requests verify with it.
  explicit Emulator(std::vector<std::string> extra = {}, std::string ca = "");
  unsigned short port() const { return port_; }
  std::string base() const {
    return (ca_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") + std::to_string(port_);
  }
  crmsync::test::TempDir& dir() { return dir_; }

  // {"id","token"} of a new mailbox.
  std::pair<std::string, std::string> add_user(const std::string& upn);
  Response admin(const std::string& method, const std::string& path, const std::string& body = "");
  void faults(const std::string& json);

  // A Graph request as `token`'s user (JSON content type when there is a body).
  Response call(const std::string& method, const std::string& target, const std::string& body = "",
                Headers headers = {});
  Response call_as(const std::string& token, const std::string& method, const std::string& target,
                   const std::string& body = "", Headers headers = {});
  std::string token;  // the default caller's (alice@example.com, made by the constructor)
  std::string user_id;

  // Follows an absolute link of this emulator.
  Response follow(const std::string& link, Headers headers = {});

 private:
  crmsync::test::TempDir dir_;
  std::string ca_;
  std::unique_ptr<crmsync::test::Spawned> proc_;
  unsigned short port_ = 0;
};

// The independent CSDL checker.
class Schema {
 public:
  static const Schema& get();  // loads csdl_path() once
  // Problems of `v` as an entity of `type` ("contact", ...); empty when it fits.
  std::vector<std::string> check(const rapidjson::Value& v, const std::string& type) const;

  struct Prop {
    std::string type;
    bool collection = false, nullable = true, navigation = false;
  };
  // Every property of `type` with its base types' (name, property).
  std::vector<std::pair<std::string, Prop>> properties(const std::string& type) const;
  bool is_enum(const std::string& type) const { return enums_.count(type) != 0; }
  struct Type {
    std::string base;
    std::map<std::string, Prop> props;
  };

 private:
  void check_value(const rapidjson::Value& v, const Prop& p, const std::string& where,
                   std::vector<std::string>& out) const;
  void check_object(const rapidjson::Value& v, const std::string& type, const std::string& where,
                    std::vector<std::string>& out) const;
  const Prop* prop(const std::string& type, const std::string& name) const;
  std::map<std::string, Type> types_;
  std::map<std::string, std::vector<std::string>> enums_;
};

// Checks every entity of an answer (a single entity, or "value" of a collection; @removed
// entries are checked for their three members) against the CSDL type; fails the test on a
// problem.
void check_entities(const rapidjson::Value& doc, const std::string& type);

std::string str(const rapidjson::Value& v, const char* key);
std::string json_quote(const std::string& s);
std::string url_encode(const std::string& s);

}  // namespace graph_test

// Ends the test case unless the CSDL is there (a failure under CI, a skip elsewhere).
#define REQUIRE_CSDL()                                                                    \
  REQUIRE_PREREQUISITE(::crmsync::test::prereq::kReference, ::graph_test::csdl_present(), \
                       ::graph_test::csdl_path())
