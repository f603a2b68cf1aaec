// Refresh tokens on disk: one file per profile and side, mode 0600, written atomically.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crmsync/oauth/form.hpp"
#include "crmsync/oauth/oauth.hpp"

namespace crmsync::oauth {
namespace fs = std::filesystem;

namespace {
std::string errno_text() {
  return std::strerror(errno);
}
}  // namespace

std::string form_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string token_store_path(std::string_view profile, std::string_view side) {
  fs::path base;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state == '/')
    base = state;
  else if (const char* home = std::getenv("HOME"); home && *home)
    base = fs::path(home) / ".local" / "state";
  else
    base = fs::temp_directory_path();
  std::string name;
  for (char c : profile)  // a profile name is a file name here: nothing that leaves the folder
    name += (c == '/' || c == '\\' || c == '\0') ? '_' : c;
  if (name.empty() || name == "." || name == "..") name = "default";
  return (base / "crmsync" / (name + "." + std::string(side) + ".refresh-token")).string();
}

Result<std::optional<std::string>> load_refresh_token(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return Error::Permission("cannot read the sign-in file " + path + ": " + errno_text());
  }
  if ((st.st_mode & 077) != 0)
    return Error::Permission("the sign-in file " + path +
                             " is readable by others: it is not used; remove it and run "
                             "crmsync login");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::Permission("cannot read the sign-in file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return std::optional<std::string>{};
  if (token.size() > 16 * 1024)
    return Error::Permission("the sign-in file " + path + " is too large to be a token");
  for (unsigned char c : token)
    if (c < 0x21 || c > 0x7e)
      return Error::Permission("the sign-in file " + path +
                               " holds characters a token cannot have");
  return std::optional<std::string>(std::move(token));
}

Result<void> save_refresh_token(const std::string& path, const std::string& token) {
  const fs::path target(path);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec)
    return Error::Permission("cannot create " + target.parent_path().string() + ": " +
                             ec.message());
  ::chmod(target.parent_path().c_str(), 0700);
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error::Permission("cannot write " + tmp + ": " + errno_text());
  ::fchmod(fd, 0600);  // an older file of that name keeps its mode through O_TRUNC
  const std::string data = token + "\n";
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return Error::Permission("cannot write " + tmp + ": " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return Error::Permission("cannot write " + tmp + ": " + errno_text());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Error::Permission("cannot replace " + path + ": " + errno_text());
  }
  if (int dir = ::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    ::fsync(dir);  // the rename itself survives a crash
    ::close(dir);
  }
  return Ok();
}

}  // namespace crmsync::oauth
