#include "crmsync/core/role.hpp"

#include <string>

namespace crmsync {

std::string_view to_string(Role r) {
  switch (r) {
    case Role::kPrimary:
      return "primary";
    case Role::kSecondary:
      return "secondary";
    case Role::kRoaming:
      return "roaming";
    case Role::kDelegate:
      return "delegate";
  }
  return "?";
}

Result<Role> parse_role(std::string_view s) {
  for (Role r : {Role::kPrimary, Role::kSecondary, Role::kRoaming, Role::kDelegate})
    if (to_string(r) == s) return r;
  return Error::Invalid("unknown role '" + std::string(s) +
                        "' (one of primary, secondary, roaming, delegate)");
}

}  // namespace crmsync
