#include "emulator_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace crmtest {

using namespace std::chrono_literals;

EmulatorProcess::EmulatorProcess(const std::string& path) {
  int fds[2];
  if (pipe(fds) != 0) {
    error_ = "pipe failed";
    return;
  }
  const std::string db = (dir_.path() / "crm.db").string();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(path.c_str(), path.c_str(), "--listen", "127.0.0.1:0", "--db", db.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  out_fd_ = fds[0];
  if (pid_ < 0) {
    error_ = "fork failed";
    return;
  }
  // The first line, within a deadline.
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      error_ = "no 'listening on' line within 20 s";
      return;
    }
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[256];
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n <= 0) {
      error_ = "emulator exited before listening: " + line;
      return;
    }
    line.append(buf, static_cast<std::size_t>(n));
  }
  line = line.substr(0, line.find('\n'));
  const std::string prefix = "listening on 127.0.0.1:";
  if (line.rfind(prefix, 0) != 0) {
    error_ = "unexpected first line: " + line;
    return;
  }
  port_ = static_cast<unsigned short>(std::stoi(line.substr(prefix.size())));
  // Keep draining stdout so the emulator never blocks on a full pipe.
  drain_ = std::thread([fd = out_fd_] {
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
  });
}

EmulatorProcess::~EmulatorProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      pollfd none{-1, 0, 0};
      poll(&none, 0, 20);  // wait for the child's exit, in short steps
    }
  }
  if (drain_.joinable()) drain_.join();
  if (out_fd_ >= 0) close(out_fd_);
}

crmsync::Result<crmsync::http::Response> EmulatorProcess::admin(const std::string& method,
                                                                const std::string& path,
                                                                const std::string& json_body) {
  crmsync::http::Request r;
  r.method = method;
  r.url = "http://127.0.0.1:" + std::to_string(port_) + path;
  r.body = json_body;
  if (!json_body.empty()) r.headers.emplace_back("Content-Type", "application/json");
  return admin_client_.send(r);
}

std::string EmulatorProcess::add_user(const std::string& fullname, const std::string& token) {
  auto res = admin("POST", "/admin/users",
                   R"({"fullname":")" + fullname + R"(","token":")" + token + R"("})");
  if (!res.ok() || res->status != 200) return {};
  rapidjson::Document doc;
  doc.Parse(res->body.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("systemuserid") ||
      !doc["systemuserid"].IsString())
    return {};
  return doc["systemuserid"].GetString();
}

}  // namespace crmtest
