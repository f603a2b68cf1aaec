// NTLM for the emulators (ews-emulator, crm-emulator): a GSSAPI acceptor (gss-ntlmssp) per
// connection. The plugin checks the client's answer against NTLM_USER_FILE (lines
// DOMAIN:user:password), which the emulator writes from its users (NtlmUserFile). Written apart
// from crmsync's client on purpose.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace emulator {

// Why NTLM cannot be served here ("" when it can): GSSAPI not built in, gss-ntlmssp missing.
std::string negotiate_unavailable();

// One connection's handshake (NTLMSSP, bare or inside SPNEGO).
class Acceptor {
 public:
  Acceptor();
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  struct Step {
    enum State { kContinue, kComplete, kFailed } state = kFailed;
    std::string token;  // for the client (the challenge; SPNEGO's last word), may be empty
    std::string name;   // kComplete: "DOMAIN\user" as the client authenticated
    std::string error;  // kFailed: why (for stderr; never a secret)
  };
  Step step(const std::string& client_token);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "" when `account` ("DOMAIN\\user") and `password` fit a line DOMAIN:user:password, else why
// not (for a 400).
std::string ntlm_account_problem(const std::string& account, const std::string& password);

// gss-ntlmssp's user file: a private temporary folder of this process, NTLM_USER_FILE set to
// the file in it (this process's environment: one file per process), removed on destruction.
class NtlmUserFile {
 public:
  explicit NtlmUserFile(const std::string& name_prefix);
  ~NtlmUserFile();
  NtlmUserFile(const NtlmUserFile&) = delete;
  NtlmUserFile& operator=(const NtlmUserFile&) = delete;

  // Replaces the file whole (0600, written aside and renamed, so the plugin never reads half)
  // with these (account "DOMAIN\\user", password) pairs; pairs that do not fit are skipped.
  void write(const std::vector<std::pair<std::string, std::string>>& accounts);

 private:
  std::filesystem::path dir_;
};

}  // namespace emulator
