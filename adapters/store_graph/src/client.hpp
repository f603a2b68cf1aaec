// The Graph requests of the store adapter: URLs under v1.0/{me | users/UPN}, the bearer token
// (a file re-read per request, or access tokens from the user's sign-in), Graph's JSON errors
// turned into crmsync's error kinds, retries of transient failures honouring Retry-After, and
// the answers' JSON read defensively.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crmsync/http/client.hpp"
#include "crmsync/model/clock.hpp"
#include "crmsync/oauth/oauth.hpp"
#include "crmsync/store_graph/graph_store.hpp"
#include "json.hpp"

namespace crmsync::graph {

struct Reply {
  int status = 0;
  http::Headers headers;
  Doc json;  // the body's object; null for an empty body (204)
  std::string header(std::string_view name) const;
};

struct CallOptions {
  // false for a create the server must see at most once: after a lost reply it is not sent
  // again (the caller looks the item up, X1). Throttling answers (429/503) are retried anyway:
  // the server refused them without acting.
  bool may_repeat = true;
  std::string if_match;  // an item's change key (@odata.etag), sent as If-Match
  int max_page = 0;      // Prefer: odata.maxpagesize
};

// The error a Graph answer stands for: 404 kNotFound, 409/412 kConflict, 400/413 kInvalid,
// 401/403 kPermission, 429/5xx kTransient with Retry-After; Graph's code and message named.
Error error_of(int status, const http::Headers& headers, std::string_view body, Clock& clock);
// Retry-After in milliseconds: delta-seconds (fractions allowed) or an HTTP-date.
std::optional<int> retry_after_ms(std::string_view value, UtcTime now);

class Client {
 public:
  Client(const GraphStoreConfig& config, Clock& clock, std::unique_ptr<http::Transport> transport);

  // https://graph.microsoft.com/v1.0/me/ + path.
  std::string url(std::string_view path) const;
  // The prefix of every URL of this mailbox (links the server gives must start with it).
  const std::string& mailbox_root() const { return root_; }
  // The Graph root: $batch goes to v1.0/$batch.
  std::string service_url(std::string_view path) const;

  // One request (retried while transient). 2xx answers come back (their JSON read); any other
  // status is the error error_of() gives, except the statuses the caller names in `pass`
  // (e.g. 410 for delta), which come back as replies.
  Result<Reply> call(const std::string& method, const std::string& url, const std::string& body,
                     const CallOptions& options = {}, std::vector<int> pass = {});

  // The number of HTTP requests sent (metrics, the bench).
  std::int64_t requests() const { return requests_; }
  Clock& clock() { return clock_; }

 private:
  Result<std::string> authorization();
  void sleep(std::chrono::milliseconds d);

  GraphStoreConfig config_;
  Clock& clock_;
  std::unique_ptr<http::Transport> transport_;
  std::unique_ptr<oauth::AccessTokens> tokens_;
  std::string base_;  // ".../v1.0/"
  std::string root_;  // ".../v1.0/me/"
  std::int64_t requests_ = 0;
};

}  // namespace crmsync::graph
