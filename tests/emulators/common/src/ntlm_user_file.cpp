// NTLM account checks and gss-ntlmssp's user file (emulator/negotiate.hpp).
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <stdexcept>
#include <system_error>

#include "emulator/negotiate.hpp"

namespace emulator {

std::string ntlm_account_problem(const std::string& account, const std::string& password) {
  auto slash = account.find('\\');
  if (slash == std::string::npos || slash == 0 || slash + 1 == account.size() ||
      account.find_first_of(":\r\n", 0) != std::string::npos ||
      account.find('\\', slash + 1) != std::string::npos)
    return "\"ntlm_user\" must be DOMAIN\\user (no ':')";
  if (password.find_first_of("\r\n") != std::string::npos)
    return "an NTLM user's password cannot contain line breaks";
  return "";
}

NtlmUserFile::NtlmUserFile(const std::string& name_prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (name_prefix + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory");
  dir_ = tmpl;
  ::setenv("NTLM_USER_FILE", (dir_ / "ntlm-users").c_str(), 1);
  write({});
}

NtlmUserFile::~NtlmUserFile() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void NtlmUserFile::write(const std::vector<std::pair<std::string, std::string>>& accounts) {
  const auto path = dir_ / "ntlm-users";
  const auto tmp = dir_ / "ntlm-users.tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    ::chmod(tmp.c_str(), 0600);
    for (const auto& [account, password] : accounts) {
      if (!ntlm_account_problem(account, password).empty()) continue;
      auto slash = account.find('\\');
      f << account.substr(0, slash) << ':' << account.substr(slash + 1) << ':' << password << '\n';
    }
    if (!f) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace emulator
