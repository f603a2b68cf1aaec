#include <utility>  // before Asio (Boost 1.74 needs std::exchange declared)

#include "graph_test.hpp"

#include <tinyxml2.h>

#include <chrono>
#include <filesystem>
#include <regex>

#include <cstdlib>
#include <fstream>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>

namespace graph_test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

const std::string& csdl_path() {
  static const std::string p = GRAPH_CSDL;
  return p;
}

bool csdl_present() {
  return std::filesystem::is_regular_file(csdl_path());
}

rapidjson::Document Response::json() const {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  INFO("status " << status << ": " << body);
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

Response http_request(unsigned short port, const std::string& method, const std::string& target,
                      const std::string& body, const Headers& headers, const std::string& ca) {
  asio::io_context io;
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown) req.method_string(method);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  Response out;
  beast::error_code ec;
  auto exchange = [&](auto& stream) {
    http::write(stream, req, ec);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buf, parser, ec);
    if (ec) return;
    auto res = parser.release();
    out.status = static_cast<int>(res.result_int());
    out.body = res.body();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      out.headers[name] = std::string(f.value());
    }
  };
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  if (ca.empty()) {
    beast::tcp_stream stream(io);
    stream.expires_after(60s);
    stream.connect(ep, ec);
    if (!ec) exchange(stream);
  } else {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(ca);
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
    stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream).expires_after(60s);
    beast::get_lowest_layer(stream).connect(ep, ec);
    if (!ec) stream.handshake(asio::ssl::stream_base::client, ec);
    if (!ec) exchange(stream);
  }
  return out;
}

std::optional<Pki> make_pki(const std::string& dir) {
  std::ofstream(dir + "/ext.cnf") << "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
  const std::string d = "'" + dir + "'";
  std::string cmd = "(cd " + d +
                    " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                    " -keyout ca.key -out ca.pem -days 2 -subj /CN=graph-emulator-test-ca"
                    " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
                    " -keyout server.key -out server.csr -subj /CN=127.0.0.1"
                    " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                    " -out server.pem -days 2 -extfile ext.cnf) > " +
                    d + "/openssl.log 2>&1";
  if (std::system(cmd.c_str()) != 0) return std::nullopt;
  return Pki{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
}

Emulator::Emulator(std::vector<std::string> extra, std::string ca) : ca_(std::move(ca)) {
  std::vector<std::string> args{GRAPH_EMULATOR_BIN,    "--listen", "127.0.0.1:0", "--db",
                                dir_.file("graph.db"), "--csdl",   csdl_path()};
  for (auto& e : extra) args.push_back(e);
  proc_ = std::make_unique<crmsync::test::Spawned>(args, dir_.file("stderr.txt"));
  auto line = proc_->read_line(60s);
  REQUIRE(line.has_value());
  REQUIRE(line->rfind("listening on 127.0.0.1:", 0) == 0);
  port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
  auto [id, tok] = add_user("alice@example.com");
  user_id = id;
  token = tok;
}

std::pair<std::string, std::string> Emulator::add_user(const std::string& upn) {
  auto r = admin("POST", "/admin/users", "{\"upn\":" + json_quote(upn) + "}");
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = r.json();
  return {str(j, "id"), str(j, "token")};
}

Response Emulator::admin(const std::string& method, const std::string& path,
                         const std::string& body) {
  return http_request(port_, method, path, body, {{"Content-Type", "application/json"}}, ca_);
}

void Emulator::faults(const std::string& json) {
  auto r = admin("POST", "/admin/faults", json);
  INFO(r.body);
  REQUIRE(r.status == 200);
}

Response Emulator::call(const std::string& method, const std::string& target,
                        const std::string& body, Headers headers) {
  return call_as(token, method, target, body, std::move(headers));
}

// The CSDL type of what a successful answer to `path` holds ("" when none: $batch, errors).
std::string answer_type(std::string path) {
  path = path.substr(0, path.find('?'));
  for (auto& ch : path) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::vector<std::string> segs;
  for (std::size_t pos = 0; pos < path.size();) {
    auto next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    std::string seg = path.substr(pos, next - pos);
    auto paren = seg.find('(');  // mailfolders('id'), delta()
    if (paren != std::string::npos) seg = seg.substr(0, paren);
    if (!seg.empty()) segs.push_back(seg);
    pos = next + 1;
  }
  std::string type;
  static const std::map<std::string, std::string> kTypes = {
      {"contactfolders", "contactFolder"},
      {"contacts", "contact"},
      {"calendar", "calendar"},
      {"events", "event"},
      {"calendarview", "event"},
      {"lists", "todoTaskList"},
      {"tasks", "todoTask"},
      {"linkedresources", "linkedResource"},
      {"mailfolders", "mailFolder"},
      {"messages", "message"},
      {"mastercategories", "outlookCategory"}};
  for (const auto& seg : segs) {
    auto it = kTypes.find(seg);
    if (it != kTypes.end()) type = it->second;
  }
  return type;
}

Response Emulator::call_as(const std::string& tok, const std::string& method,
                           const std::string& target, const std::string& body, Headers headers) {
  if (!tok.empty()) headers.emplace("Authorization", "Bearer " + tok);
  if (!body.empty()) headers.emplace("Content-Type", "application/json");
  auto r = http_request(port_, method, target, body, headers, ca_);
  // Every entity the emulator answers with is held to the CSDL.
  std::string type = target.rfind("/v1.0/", 0) == 0 ? answer_type(target) : "";
  if ((r.status == 200 || r.status == 201) && !type.empty()) {
    INFO(method << " " << target);
    check_entities(r.json(), type);
  }
  return r;
}

Response Emulator::follow(const std::string& link, Headers headers) {
  std::string prefix = base();
  INFO(link);
  REQUIRE(link.rfind(prefix, 0) == 0);
  return call("GET", link.substr(prefix.size()), "", std::move(headers));
}

std::string str(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject() || !v.HasMember(key) || !v[key].IsString()) return "";
  return v[key].GetString();
}

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

// ------------------------------------------------------------------ the CSDL checker

namespace {

std::string short_type(std::string t, bool& collection) {
  collection = false;
  if (t.rfind("Collection(", 0) == 0) {
    collection = true;
    t = t.substr(11, t.size() - 12);
  }
  for (const char* p : {"microsoft.graph.", "graph."})
    if (t.rfind(p, 0) == 0) return t.substr(std::string(p).size());
  return t;
}

}  // namespace

const Schema& Schema::get() {
  static const Schema s = [] {
    Schema out;
    tinyxml2::XMLDocument doc;
    REQUIRE(doc.LoadFile(csdl_path().c_str()) == tinyxml2::XML_SUCCESS);
    auto* ds = doc.RootElement()->FirstChildElement("edmx:DataServices");
    for (auto* schema = ds->FirstChildElement("Schema"); schema;
         schema = schema->NextSiblingElement("Schema")) {
      if (std::string(schema->Attribute("Namespace")) != "microsoft.graph") continue;
      for (auto* e = schema->FirstChildElement(); e; e = e->NextSiblingElement()) {
        std::string kind = e->Name();
        if (kind == "EnumType") {
          auto& members = out.enums_[e->Attribute("Name")];
          for (auto* m = e->FirstChildElement("Member"); m; m = m->NextSiblingElement("Member"))
            members.push_back(m->Attribute("Name"));
          continue;
        }
        if (kind != "EntityType" && kind != "ComplexType") continue;
        Type t;
        bool coll;
        if (const char* b = e->Attribute("BaseType")) t.base = short_type(b, coll);
        for (auto* p = e->FirstChildElement(); p; p = p->NextSiblingElement()) {
          std::string pk = p->Name();
          if (pk != "Property" && pk != "NavigationProperty") continue;
          Prop prop;
          prop.type = short_type(p->Attribute("Type"), prop.collection);
          prop.nullable = !p->Attribute("Nullable", "false");
          prop.navigation = pk == "NavigationProperty";
          t.props[p->Attribute("Name")] = prop;
        }
        out.types_[e->Attribute("Name")] = std::move(t);
      }
    }
    return out;
  }();
  return s;
}

const Schema::Prop* Schema::prop(const std::string& type, const std::string& name) const {
  for (auto it = types_.find(type); it != types_.end(); it = types_.find(it->second.base)) {
    auto p = it->second.props.find(name);
    if (p != it->second.props.end()) return &p->second;
    if (it->second.base.empty()) break;
  }
  return nullptr;
}

std::vector<std::pair<std::string, Schema::Prop>> Schema::properties(
    const std::string& type) const {
  std::vector<std::pair<std::string, Prop>> out;
  for (auto it = types_.find(type); it != types_.end(); it = types_.find(it->second.base)) {
    for (const auto& p : it->second.props) out.push_back(p);
    if (it->second.base.empty()) break;
  }
  return out;
}

void Schema::check_object(const rapidjson::Value& v, const std::string& type,
                          const std::string& where, std::vector<std::string>& out) const {
  if (!v.IsObject()) {
    out.push_back(where + ": not an object");
    return;
  }
  if (!types_.count(type)) {
    out.push_back(where + ": no type " + type);
    return;
  }
  for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
    std::string name = m->name.GetString();
    if (name.rfind("@odata.", 0) == 0) continue;
    const Prop* p = prop(type, name);
    if (!p) {
      out.push_back(where + "." + name + ": not a property of " + type);
      continue;
    }
    check_value(m->value, *p, where + "." + name, out);
  }
}

void Schema::check_value(const rapidjson::Value& v, const Prop& p, const std::string& where,
                         std::vector<std::string>& out) const {
  if (p.collection) {
    if (!v.IsArray()) {
      out.push_back(where + ": a collection must be an array");
      return;
    }
    Prop one = p;
    one.collection = false;
    one.nullable = false;
    for (const auto& e : v.GetArray()) check_value(e, one, where + "[]", out);
    return;
  }
  if (v.IsNull()) {
    if (!p.nullable) out.push_back(where + ": null for a Nullable=false " + p.type);
    return;
  }
  static const std::regex dto(
      R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2}))");
  const std::string& t = p.type;
  bool ok = true;
  if (t == "Edm.String" || t == "Edm.Binary")
    ok = v.IsString();
  else if (t == "Edm.Boolean")
    ok = v.IsBool();
  else if (t == "Edm.Int32" || t == "Edm.Int64")
    ok = v.IsInt64();
  else if (t == "Edm.Double")
    ok = v.IsNumber();
  else if (t == "Edm.DateTimeOffset")
    ok = v.IsString() && std::regex_match(v.GetString(), dto);
  else if (t == "Edm.Date")
    ok = v.IsString() && std::regex_match(v.GetString(), std::regex(R"(\d{4}-\d{2}-\d{2})"));
  else if (enums_.count(t)) {
    const auto& members = enums_.at(t);
    ok = v.IsString() && std::find(members.begin(), members.end(), v.GetString()) != members.end();
  } else if (types_.count(t)) {
    check_object(v, t, where, out);
    return;
  } else {
    ok = false;
  }
  if (!ok) out.push_back(where + ": not a " + t);
}

std::vector<std::string> Schema::check(const rapidjson::Value& v, const std::string& type) const {
  std::vector<std::string> out;
  check_object(v, type, type, out);
  return out;
}

void check_entities(const rapidjson::Value& doc, const std::string& type) {
  const auto& schema = Schema::get();
  auto one = [&](const rapidjson::Value& e) {
    if (e.IsObject() && e.HasMember("@removed")) {
      CHECK(e.MemberCount() == 3);
      CHECK(str(e, "@odata.type") == "#microsoft.graph." + type);
      CHECK(str(e["@removed"], "reason") == "deleted");
      return;
    }
    auto problems = schema.check(e, type);
    for (const auto& p : problems) FAIL_CHECK(p);
    CHECK(e.HasMember("id"));
  };
  if (doc.IsObject() && doc.HasMember("value") && doc["value"].IsArray()) {
    for (const auto& e : doc["value"].GetArray()) one(e);
  } else {
    one(doc);
  }
}

}  // namespace graph_test
