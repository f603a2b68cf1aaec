#include "crmsync/http/credentials.hpp"

#include <fstream>
#include <sstream>

namespace crmsync::http {

Result<std::string> read_secret_file(const std::string& path, std::string_view what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error::Permission("cannot read the " + std::string(what) + " file");
  std::ostringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  if (s.empty()) return Error::Permission("the " + std::string(what) + " file is empty");
  return s;
}

}  // namespace crmsync::http
