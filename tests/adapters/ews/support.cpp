#include "support.hpp"

#include "crmsync/model/mapping.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "crmsync/test/prerequisite.hpp"
#include "crmsync/test/process.hpp"
#include "rapidjson/document.h"

namespace ewstest {

std::vector<std::string> mapped_contact_text_fields() {
  using crmsync::Converter;
  std::vector<std::string> out;
  for (const auto& f : crmsync::mapping_for(crmsync::CrmEntity::kContact).fields)
    if (f.converter == Converter::kText || f.converter == Converter::kStreet ||
        f.converter == Converter::kCompanyName)
      out.emplace_back(f.store_field);
  return out;
}

using namespace std::chrono_literals;

std::string reference_dir() {
  std::filesystem::path p = std::filesystem::path(CRMSYNC_REFERENCE_DIR) / "ews";
  std::error_code ec;
  if (!std::filesystem::exists(p / "exchange2010_sp2" / "ews-envelope-validate.xsd", ec)) return {};
  return p.string();
}

std::string sample(const std::string& name) {
  std::string dir = reference_dir();
  if (dir.empty()) return {};
  std::ifstream f(std::filesystem::path(dir) / "samples" / name, std::ios::binary);
  if (!f) return {};
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool require_reference() {
  const auto xsd = std::filesystem::path(CRMSYNC_REFERENCE_DIR) / "ews" / "exchange2010_sp2" /
                   "ews-envelope-validate.xsd";
  return crmsync::test::prerequisite(crmsync::test::prereq::kReference, !reference_dir().empty(),
                                     "no " + xsd.string());
}

bool require_schema_check() {
#ifdef CRMSYNC_XMLLINT
  const bool xmllint = true;
#else
  const bool xmllint = false;
#endif
  const bool reference = require_reference();
  return crmsync::test::prerequisite(crmsync::test::prereq::kXmllint, xmllint,
                                     "not found when the build was configured") &&
         reference;
}

std::string schema_errors(const std::vector<std::string>& envelopes) {
  std::string dir = reference_dir();
  if (dir.empty()) return "no reference folder";
#ifndef CRMSYNC_XMLLINT
  return "xmllint was not found at configure time (libxml2-utils)";
#else
  std::string tmpl = (std::filesystem::temp_directory_path() / "ews-validate-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return "mkdtemp failed";
  std::filesystem::path tmp(tmpl);
  std::vector<std::string> argv = {CRMSYNC_XMLLINT, "--noout", "--schema",
                                   dir + "/exchange2010_sp2/ews-envelope-validate.xsd"};
  for (std::size_t i = 0; i < envelopes.size(); ++i) {
    auto file = tmp / ("request-" + std::to_string(i) + ".xml");
    std::ofstream(file, std::ios::binary) << envelopes[i];
    argv.push_back(file.string());
  }
  auto r = crmsync::test::run_program(argv);
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  if (r.exit_code == 0) return {};
  // Name the failing documents by content, so a failure shows the request.
  std::string out = r.err;
  for (std::size_t i = 0; i < envelopes.size(); ++i) {
    std::string tag = "request-" + std::to_string(i) + ".xml";
    if (out.find(tag + " fails") != std::string::npos || out.find(tag + ":") != std::string::npos)
      out += "\n--- " + tag + ":\n" + envelopes[i].substr(0, 4000) + "\n";
  }
  return out.empty() ? "xmllint exit " + std::to_string(r.exit_code) : out;
#endif
}

crmsync::Result<crmsync::http::Response> FakeTransport::send(const crmsync::http::Request& r,
                                                             crmsync::http::SendInfo* info) {
  Scripted next;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->requests.push_back(r);
    if (!s_->replies.empty()) {
      next = std::move(s_->replies.front());
      s_->replies.pop_front();
    } else if (s_->fallback) {
      next = s_->fallback(r);
    } else {
      next.error = crmsync::Error::Transient("no scripted reply");
      next.written = false;
    }
  }
  if (info) info->request_written = next.written;
  if (next.error) return *next.error;
  crmsync::http::Response resp;
  resp.status = next.status;
  resp.body = next.body;
  return resp;
}

crmsync::Result<std::unique_ptr<crmsync::http::BodyStream>> FakeTransport::open_stream(
    const crmsync::http::Request& r) {
  std::function<crmsync::Result<std::unique_ptr<crmsync::http::BodyStream>>(
      const crmsync::http::Request&)>
      stream;
  {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->requests.push_back(r);
    stream = s_->stream;
  }
  if (!stream) return crmsync::http::Transport::open_stream(r);
  return stream(r);
}

crmsync::Result<bool> ScriptedStream::read(std::string& out, std::chrono::milliseconds timeout) {
  if (pieces_.empty()) {
    std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(5)));
    return true;
  }
  StreamPiece p = std::move(pieces_.front());
  pieces_.pop_front();
  if (on_piece_) on_piece_();
  if (p.error) return *p.error;
  out += p.data;
  return !p.end;
}

Emulator* Emulator::shared(std::string* why) {
#ifdef EWS_EMULATOR_PATH
  static Emulator* instance = [] {
    auto* e = new Emulator();
    static std::string reason;
    if (!e->start(EWS_EMULATOR_PATH, {}, &reason)) {
      delete e;
      return static_cast<Emulator*>(nullptr);
    }
    return e;
  }();
  static std::unique_ptr<Emulator> owner(instance);  // stopped at exit
  if (!instance && why) *why = "ews-emulator did not start";
  return instance;
#else
  if (why) *why = "ews-emulator is not part of this build";
  return nullptr;
#endif
}

std::unique_ptr<Emulator> Emulator::launch(const std::vector<std::string>& extra_args,
                                           std::string* why) {
#ifdef EWS_EMULATOR_PATH
  std::unique_ptr<Emulator> e(new Emulator());
  if (!e->start(EWS_EMULATOR_PATH, extra_args, why)) return nullptr;
  return e;
#else
  (void)extra_args;
  if (why) *why = "ews-emulator is not part of this build";
  return nullptr;
#endif
}

bool Emulator::start(const std::string& path, const std::vector<std::string>& extra_args,
                     std::string* why) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "ews-emulator-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) return false;
  dir_ = tmpl;
  int fds[2];
  if (::pipe(fds) != 0) return false;
  const std::string db = (dir_ / "ews.db").string();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<std::string> args = {path, "--listen", "127.0.0.1:0", "--db", db};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  out_fd_ = fds[0];
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      *why = "no 'listening on' line within 20 s";
      return false;
    }
    pollfd p{out_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    ssize_t n = ::read(out_fd_, buf, sizeof buf);
    if (n <= 0) {
      *why = "ews-emulator exited before listening";
      return false;
    }
    line.append(buf, static_cast<std::size_t>(n));
  }
  line = line.substr(0, line.find('\n'));
  const std::string prefix = "listening on 127.0.0.1:";
  if (line.rfind(prefix, 0) != 0) {
    *why = "unexpected first line: " + line;
    return false;
  }
  port_ = static_cast<unsigned short>(std::stoi(line.substr(prefix.size())));
  drain_ = std::thread([fd = out_fd_] {
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
  });
  return true;
}

Emulator::~Emulator() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
  }
  if (drain_.joinable()) drain_.join();
  if (out_fd_ >= 0) ::close(out_fd_);
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

namespace {
bool admin_post(const std::string& url, const std::string& json) {
  crmsync::http::Client client;
  crmsync::http::Request r;
  r.method = "POST";
  r.url = url;
  r.body = json;
  r.headers.emplace_back("Content-Type", "application/json");
  auto res = client.send(r);
  return res.ok() && res->status == 200;
}
}  // namespace

bool Emulator::add_user(const std::string& email, const std::string& password) {
  return admin_post(admin_url("/admin/users"),
                    R"({"email":")" + email + R"(","password":")" + password + R"("})");
}

bool Emulator::set_faults(const std::string& json) {
  return admin_post(admin_url("/admin/faults"), json);
}

crmsync::Result<crmsync::http::Response> Emulator::admin(const std::string& method,
                                                         const std::string& path,
                                                         const std::string& json) {
  crmsync::http::Client client;
  crmsync::http::Request r;
  r.method = method;
  r.url = admin_url(path);
  r.body = json;
  if (method == "POST") r.headers.emplace_back("Content-Type", "application/json");
  return client.send(r);
}

std::vector<std::pair<std::string, int>> Emulator::logged() {
  std::vector<std::pair<std::string, int>> out;
  auto res = admin("GET", "/admin/requests");
  if (!res || res->status != 200) return out;
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  if (!doc.IsArray()) return out;
  for (const auto& e : doc.GetArray())
    if (e.IsObject() && e.HasMember("status") && e["status"].IsInt() &&
        e.HasMember("soap_action") && e["soap_action"].IsString()) {
      std::string action = e["soap_action"].GetString();
      action = action.substr(action.rfind('/') + 1);
      if (!action.empty() && action.back() == '"') action.pop_back();
      out.emplace_back(action, e["status"].GetInt());
    }
  return out;
}

TcpProxy::TcpProxy(unsigned short upstream_port) : upstream_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 16) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      ::pipe(wake_fds_) != 0)
    throw std::runtime_error("TcpProxy: cannot listen");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { run(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, wake_fds_[0], wake_fds_[1]})
    if (fd >= 0) ::close(fd);
}

void TcpProxy::wake() {
  char c = 1;
  (void)!::write(wake_fds_[1], &c, 1);
}

void TcpProxy::drop_all() {
  drop_ = true;
  wake();
  while (drop_) std::this_thread::sleep_for(1ms);  // until the proxy thread has cut them
}

void TcpProxy::run() {
  std::map<int, int> peer;  // each side's fd -> the other side's
  auto close_pair = [&](int fd) {
    int other = peer[fd];
    ::close(fd);
    ::close(other);
    peer.erase(fd);
    peer.erase(other);
  };
  while (!stop_) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}, {wake_fds_[0], POLLIN, 0}};
    for (const auto& [fd, other] : peer) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
    if (fds[1].revents) {
      char buf[64];
      (void)!::read(wake_fds_[0], buf, sizeof buf);
      if (drop_) {
        while (!peer.empty()) close_pair(peer.begin()->first);
        drop_ = false;
      }
      continue;  // the fd list changed
    }
    if (fds[0].revents & POLLIN) {
      int client = ::accept(listen_fd_, nullptr, nullptr);
      if (client >= 0) {
        int server = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(upstream_);
        if (::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
          ::close(client);
          ::close(server);
        } else {
          peer[client] = server;
          peer[server] = client;
          ++accepted_;
        }
      }
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents || !peer.count(fds[i].fd)) continue;
      char buf[16384];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      bool ok = n > 0;
      for (ssize_t off = 0; ok && off < n;) {
        ssize_t w = ::write(peer[fds[i].fd], buf + off, static_cast<std::size_t>(n - off));
        ok = w > 0;
        off += w > 0 ? w : 0;
      }
      if (!ok) close_pair(fds[i].fd);
    }
  }
  while (!peer.empty()) close_pair(peer.begin()->first);
}

bool require_exchangelib() {
  return crmsync::test::prerequisite(
      crmsync::test::prereq::kExchangelib,
      crmsync::test::run_program({"/usr/bin/python3", "-c", "import exchangelib"}).exit_code == 0);
}

crmsync::test::RunResult mailbox_user(const std::string& url, const std::string& email,
                                      const std::string& password,
                                      const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"/usr/bin/python3", EWS_MAILBOX_USER_SCRIPT, url, email,
                                   password};
  argv.insert(argv.end(), args.begin(), args.end());
  return crmsync::test::run_program(argv);
}

std::string unique_email() {
  static std::atomic<int> n{0};
  return "user" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "@example.org";
}

crmsync::NewStoreItem contact(std::string first, std::string last) {
  crmsync::NewStoreItem n;
  n.folder = crmsync::Folder::kContacts;
  n.item.kind = crmsync::ItemKind::kContact;
  n.item.fields["FirstName"] = std::move(first);
  n.item.fields["LastName"] = std::move(last);
  return n;
}

}  // namespace ewstest
