#include "crmsync/runtime/local_files.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace crmsync {
namespace {

namespace fs = std::filesystem;

Result<std::string> read_small(const std::string& path, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::NotFound(path + ": cannot be read");
  std::string s(max + 1, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  if (s.size() > max) return Error::Invalid(path + ": too large");
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Writes `text` to `path` atomically (temp file + rename) with `mode`.
Result<void> write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Error::Permission(tmp + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error::Transient(tmp + ": write failed");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Error::Permission(path + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace

Result<std::string> read_api_token(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return Error::NotFound("no API token at " + path + " (has the daemon run yet?)");
  if ((st.st_mode & 077) != 0)
    return Error::Permission(path + ": readable by other users; chmod 600 it");
  auto text = read_small(path, 4096);
  if (!text.ok()) return text.error();
  auto token = trim(*text);
  if (token.size() < 32) return Error::Invalid(path + ": not a token");
  return token;
}

Result<std::string> ensure_api_token(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return read_api_token(path);
  auto dir = fs::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
      fs::create_directories(dir, ec);
      if (ec) return Error::Permission(dir.string() + ": " + ec.message());
      fs::permissions(dir, fs::perms::owner_all, ec);
    }
  }
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Error::Internal("RAND_bytes failed");
  static const char* kHex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += kHex[b >> 4];
    token += kHex[b & 15];
  }
  if (auto r = write_file(path, token + "\n", 0600); !r.ok()) return r.error();
  return token;
}

std::string RuntimeInfo::base_url() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return "http://" + h + ":" + std::to_string(port);
}

Result<void> write_runtime_file(const std::string& path, const RuntimeInfo& info) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("host");
  w.String(info.host.c_str());
  w.Key("port");
  w.Uint(info.port);
  w.Key("pid");
  w.Int64(info.pid);
  w.Key("profile");
  w.String(info.profile.c_str());
  w.Key("url");
  w.String(info.base_url().c_str());
  w.EndObject();
  return write_file(path, std::string(buf.GetString()) + "\n", 0600);
}

Result<RuntimeInfo> read_runtime_file(const std::string& path) {
  auto text = read_small(path, 64 * 1024);
  if (!text.ok()) return Error::NotFound("no running daemon recorded at " + path);
  rapidjson::Document d;
  d.Parse(text->c_str());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("host") || !d["host"].IsString() ||
      !d.HasMember("port") || !d["port"].IsUint() || d["port"].GetUint() > 65535 ||
      !d.HasMember("pid") || !d["pid"].IsInt64())
    return Error::Corrupt(path + ": not a runtime file");
  RuntimeInfo info;
  info.host = d["host"].GetString();
  info.port = static_cast<std::uint16_t>(d["port"].GetUint());
  info.pid = d["pid"].GetInt64();
  if (d.HasMember("profile") && d["profile"].IsString()) info.profile = d["profile"].GetString();
  return info;
}

void remove_runtime_file(const std::string& path) {
  ::unlink(path.c_str());
}

}  // namespace crmsync

#include <sys/file.h>

namespace crmsync {

ProfileLock::~ProfileLock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<ProfileLock>> ProfileLock::acquire(const std::string& cache_path) {
  std::string path = cache_path + ".lock";
  std::error_code ec;
  auto dir = fs::path(path).parent_path();
  if (!dir.empty()) fs::create_directories(dir, ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Error::Permission(path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Error::Conflict("the cache " + cache_path +
                           " is in use by another crmsyncd or crmsync once");
  }
  return std::unique_ptr<ProfileLock>(new ProfileLock(fd));
}

}  // namespace crmsync
