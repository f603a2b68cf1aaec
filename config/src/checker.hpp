// The config loader's walker (key paths in every problem) and what the document's parts share;
// the store's parsing lives in store_config.cpp. Private to crmsync_config.
#pragma once

#include <rapidjson/document.h>

#include <filesystem>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crmsync/config/config.hpp"

namespace crmsync::config_detail {

namespace fs = std::filesystem;
using Json = rapidjson::Value;

// Walks the document, collecting problems as "<source>: <key path>: <problem>".
class Checker {
 public:
  Checker(std::string source, fs::path base) : source_(std::move(source)), base_(std::move(base)) {}

  void problem(const std::string& path, const std::string& what) {
    problems_.push_back(source_ + ": " + (path.empty() ? "" : path + ": ") + what);
  }
  const std::vector<std::string>& problems() const { return problems_; }

  // Rejects keys outside `allowed` (and duplicates, which RapidJSON keeps silently).
  bool object(const Json& v, const std::string& path, std::set<std::string> allowed) {
    if (!v.IsObject()) {
      problem(path, "must be an object");
      return false;
    }
    std::set<std::string> seen;
    for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
      std::string key(it->name.GetString(), it->name.GetStringLength());
      std::string at = join(path, key);
      if (!allowed.count(key))
        problem(at, "unknown key");
      else if (!seen.insert(key).second)
        problem(at, "duplicate key");
    }
    return true;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static const Json* member(const Json& obj, const char* key) {
    auto it = obj.FindMember(key);
    return it == obj.MemberEnd() ? nullptr : &it->value;
  }

  // Optional string; `required` reports a missing key.
  std::optional<std::string> string(const Json& obj, const std::string& path, const char* key,
                                    bool required = false) {
    const Json* v = member(obj, key);
    std::string at = join(path, key);
    if (!v) {
      if (required) problem(at, "is required");
      return std::nullopt;
    }
    if (!v->IsString()) {
      problem(at, "must be a string");
      return std::nullopt;
    }
    std::string s(v->GetString(), v->GetStringLength());
    if (s.find('\0') != std::string::npos) {
      problem(at, "must not contain NUL characters");
      return std::nullopt;
    }
    if (s.empty()) {
      problem(at, "must not be empty");
      return std::nullopt;
    }
    return s;
  }
  std::optional<std::string> path_value(const Json& obj, const std::string& path, const char* key,
                                        bool required = false) {
    auto s = string(obj, path, key, required);
    if (!s) return s;
    fs::path p(*s);
    if (p.is_relative()) p = base_ / p;
    return p.lexically_normal().string();
  }
  // An optional path that must name an existing regular file.
  std::optional<std::string> existing_file(const Json& obj, const std::string& path,
                                           const char* key, bool required = false) {
    auto p = path_value(obj, path, key, required);
    std::error_code ec;
    if (p && !fs::is_regular_file(*p, ec)) problem(join(path, key), "no such file: " + *p);
    return p;
  }
  std::optional<std::int64_t> integer(const Json& obj, const std::string& path, const char* key,
                                      std::int64_t min, std::int64_t max) {
    const Json* v = member(obj, key);
    if (!v) return std::nullopt;
    std::string at = join(path, key);
    if (!v->IsInt64() || v->GetInt64() < min || v->GetInt64() > max) {
      if (max >= std::numeric_limits<int>::max())
        problem(at, "must be an integer >= " + std::to_string(min));
      else
        problem(at,
                "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return std::nullopt;
    }
    return v->GetInt64();
  }
  std::optional<bool> boolean(const Json& obj, const std::string& path, const char* key) {
    const Json* v = member(obj, key);
    if (!v) return std::nullopt;
    if (!v->IsBool()) {
      problem(join(path, key), "must be true or false");
      return std::nullopt;
    }
    return v->GetBool();
  }

 private:
  std::string source_;
  fs::path base_;
  std::vector<std::string> problems_;
};

// Control characters would end up in HTTP headers (X-AnchorMailbox, Authorization).
bool has_control(const std::string& s);
// The host of an http(s) URL, without brackets or port ("" when there is none).
std::string url_host(const std::string& url);
// negotiate (NTLM through GSSAPI): a down-level or UPN user name and a password file.
void parse_negotiate(Checker& c, const Json& auth, const std::string& path, std::string& username,
                     std::string& password_file);
// device_code (SPEC U3): the Entra ID tenant, the public client's id, an optional authority.
void parse_device_code(Checker& c, const Json& auth, const std::string& path, std::string& tenant,
                       std::string& client_id, std::string& authority);
// "store": mock, ews, graph or mapi.
void parse_store(Checker& c, const Json& store, Config& cfg);
// Defaults that depend on other keys (the state file beside the cache).
void store_defaults(Config& cfg);

}  // namespace crmsync::config_detail
