// The routes of the user's decisions (SPEC U2; private to crmsync_api), reached from route()
// once it has checked the host, the path and method, the token and the body's size. Pure:
// each validates its input (400 naming the problem) and defers the decision to the worker,
// or answers from the snapshot (the held deletions).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crmsync/api/route.hpp"

namespace crmsync::api {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// nullopt when `path` is not a decision route.
std::optional<Routed> route_decision(const std::string& path, const QueryParams& params,
                                     const std::string& body, const status::Snapshot& state);

// The held deletions of the snapshot (GET /v1/deletions), also for the CLI's --json.
std::string deletions_json(const status::Snapshot& state);

}  // namespace crmsync::api
