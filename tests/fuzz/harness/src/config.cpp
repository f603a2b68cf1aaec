// Target config: crmsync::parse_config on the text of a configuration file.
#include "crmsync/config/config.hpp"
#include "crmsync/fuzz/harness.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync::fuzz {

Outcome config(std::string_view input) {
  Outcome out;
  // A fixed source path: relative paths resolve against it and nothing is read from disk
  // (token and secret files are only named here; their env variables are not set).
  auto c = parse_config(std::string(input), "/nonexistent/crmsync/config.json");
  if (!c.ok()) {
    if (!c.error().is(ErrorKind::kInvalid)) {
      out.violation = "parse_config answered " + c.error().describe();
    } else if (config_problems(c.error()).empty()) {
      out.violation = "a refused configuration without a problem";
    } else {
      for (const auto& p : config_problems(c.error()))
        if (!is_valid_utf8(p)) out.violation = "a problem message that is not UTF-8";
    }
    return out;
  }
  out.accepted = true;
  // What loads is usable: a loopback endpoint with a port, a sane interval and lease.
  if (!is_loopback_host(c->http.host)) out.violation = "a non-loopback listen address loaded";
  if (c->sync.interval_minutes < 0) out.violation = "a negative sync interval loaded";
  if (c->lease.ttl_seconds <= 0) out.violation = "a lease ttl <= 0 loaded";
  if (c->sync.mass_delete_ratio < 0 || c->sync.mass_delete_ratio > 1 ||
      c->sync.mass_delete_ratio != c->sync.mass_delete_ratio)
    out.violation = "a mass-delete ratio outside [0, 1] loaded";
  return out;
}

}  // namespace crmsync::fuzz
