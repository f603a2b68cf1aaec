#include "crmsync/config/time_zone.hpp"

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <optional>

namespace crmsync {
namespace {

std::mutex& tz_mutex() {
  static std::mutex m;
  return m;
}

// The TZ variable as the process started (the machine's zone when unset).
const std::optional<std::string>& original_tz() {
  static const std::optional<std::string> tz = [] {
    const char* v = std::getenv("TZ");
    return v ? std::optional<std::string>(v) : std::nullopt;
  }();
  return tz;
}

class TzDatabaseZone final : public TimeZone {
 public:
  explicit TzDatabaseZone(std::string name) : name_(std::move(name)) {}

  std::chrono::minutes utc_offset(UtcTime at) const override {
    std::time_t t = static_cast<std::time_t>(at.ms >= 0 ? at.ms / 1000 : (at.ms - 999) / 1000);
    std::tm tm{};
    std::lock_guard lock(tz_mutex());
    const auto& original = original_tz();
    if (!name_.empty())
      ::setenv("TZ", (":" + name_).c_str(), 1);
    else if (original)
      ::setenv("TZ", original->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
    bool ok = ::localtime_r(&t, &tm) != nullptr;
    if (original)
      ::setenv("TZ", original->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
    return ok ? std::chrono::minutes(tm.tm_gmtoff / 60) : std::chrono::minutes(0);
  }

 private:
  std::string name_;
};

bool plausible_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' ||
      name.find("..") != std::string::npos)
    return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
          c == '+'))
      return false;
  return true;
}

}  // namespace

Result<std::unique_ptr<TimeZone>> make_time_zone(const std::string& name) {
  original_tz();  // capture before anyone changes TZ
  if (name.empty()) return std::unique_ptr<TimeZone>(std::make_unique<TzDatabaseZone>(""));
  if (!plausible_name(name)) return Error::Invalid("not an IANA time zone name: '" + name + "'");
  const char* dir = std::getenv("TZDIR");
  std::filesystem::path file =
      std::filesystem::path(dir && *dir ? dir : "/usr/share/zoneinfo") / name;
  std::error_code ec;
  if (name != "UTC" && !std::filesystem::is_regular_file(file, ec))
    return Error::Invalid("unknown time zone '" + name + "' (not in the TZ database)");
  return std::unique_ptr<TimeZone>(std::make_unique<TzDatabaseZone>(name));
}

}  // namespace crmsync
