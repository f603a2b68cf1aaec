#include "graph_support.hpp"

#include <rapidjson/document.h>

#include "crmsync/oauth/form.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <unistd.h>

using namespace std::chrono_literals;
using crmsync::Result;
using crmsync::http::Response;

namespace graphtest {

const std::string& csdl_path() {
  static const std::string p = GRAPH_CSDL;
  return p;
}

bool csdl_present() {
  std::error_code ec;
  return std::filesystem::is_regular_file(csdl_path(), ec);
}

std::unique_ptr<Emulator> Emulator::launch(std::string* why) {
  if (!csdl_present()) {
    if (why) *why = "no CSDL at " + csdl_path();
    return nullptr;
  }
  std::unique_ptr<Emulator> e(new Emulator());
  e->proc_ = std::make_unique<crmsync::test::Spawned>(
      std::vector<std::string>{GRAPH_EMULATOR_BIN, "--listen", "127.0.0.1:0", "--db",
                               e->dir_.file("graph.db"), "--csdl", csdl_path()},
      e->dir_.file("stderr.txt"));
  auto line = e->proc_->read_line(60s);
  if (!line || line->rfind("listening on 127.0.0.1:", 0) != 0) {
    if (why) *why = "graph-emulator did not start";
    return nullptr;
  }
  e->port_ = static_cast<unsigned short>(std::stoi(line->substr(line->rfind(':') + 1)));
  return e;
}

Emulator* Emulator::shared(std::string* why) {
  static std::string reason;
  static std::unique_ptr<Emulator> instance = launch(&reason);
  if (!instance && why) *why = reason;
  return instance.get();
}

Result<Response> Emulator::admin(const std::string& method, const std::string& path,
                                 const std::string& json) {
  crmsync::http::Client client;
  crmsync::http::Request r;
  r.method = method;
  r.url = url() + path.substr(path[0] == '/' ? 1 : 0);
  r.body = json;
  if (!json.empty()) r.headers.emplace_back("Content-Type", "application/json");
  return client.send(r);
}

std::string Emulator::add_user(const std::string& upn) {
  auto r = admin("POST", "/admin/users", "{\"upn\":\"" + upn + "\"}");
  if (!r.ok() || r->status != 200) return {};
  rapidjson::Document d;
  d.Parse(r->body.c_str());
  if (!d.IsObject() || !d.HasMember("token")) return {};
  return d["token"].GetString();
}

bool Emulator::faults(const std::string& json) {
  auto r = admin("POST", "/admin/faults", json);
  return r.ok() && r->status == 200;
}

Result<Response> Emulator::graph(const std::string& token, const std::string& method,
                                 const std::string& path, const std::string& json) {
  crmsync::http::Client client;
  crmsync::http::Request r;
  r.method = method;
  r.url = url() + path.substr(path[0] == '/' ? 1 : 0);
  r.body = json;
  r.headers.emplace_back("Authorization", "Bearer " + token);
  if (!json.empty()) r.headers.emplace_back("Content-Type", "application/json");
  return client.send(r);
}

std::size_t Emulator::requests() {
  auto r = admin("GET", "/admin/requests");
  if (!r.ok()) return 0;
  rapidjson::Document d;
  d.Parse(r->body.c_str());
  if (!d.IsArray()) return 0;
  std::size_t n = 0;
  for (const auto& e : d.GetArray())
    if (!e.HasMember("batch")) ++n;
  return n;
}

std::string url_encode(const std::string& s) {
  return crmsync::oauth::form_encode(s);
}

std::string unique_upn() {
  static std::atomic<int> n{0};
  return "user" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "@example.com";
}

Result<Response> CountingTransport::send(const crmsync::http::Request& r,
                                         crmsync::http::SendInfo* info) {
  {
    std::lock_guard<std::mutex> lock(log_->mu);
    log_->lines.push_back(r.method + " " + r.url);
  }
  ++log_->count;
  return inner_->send(r, info);
}

Result<Response> HookTransport::send(const crmsync::http::Request& r,
                                     crmsync::http::SendInfo* info) {
  if (before) before(r);
  auto res = inner_.send(r, info);
  if (res.ok() && lose && lose(r)) {
    if (info) info->request_written = true;
    return crmsync::Error::Transient("the reply was lost (test)");
  }
  return res;
}

Result<Response> ScriptedTransport::send(const crmsync::http::Request& r,
                                         crmsync::http::SendInfo* info) {
  std::lock_guard<std::mutex> lock(s_->mu);
  s_->requests.push_back(r);
  if (info) info->request_written = true;
  return s_->answer(r, info);
}

Response json_response(int status, std::string body, crmsync::http::Headers headers) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

}  // namespace graphtest
