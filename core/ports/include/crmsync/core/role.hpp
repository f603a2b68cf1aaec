// The client's role (SPEC §6, G3): what the lease and the timing policy decide by.
#pragma once

#include <string_view>

#include "crmsync/model/result.hpp"

namespace crmsync {

enum class Role { kPrimary, kSecondary, kRoaming, kDelegate };
std::string_view to_string(Role r);
// kInvalid naming the accepted values.
Result<Role> parse_role(std::string_view s);

}  // namespace crmsync
