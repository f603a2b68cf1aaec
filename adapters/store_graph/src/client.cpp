#include "client.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <thread>

#include "crmsync/http/credentials.hpp"
#include "crmsync/model/text.hpp"

namespace crmsync::graph {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string find_header(const http::Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers)
    if (iequal(k, name)) return v;
  return {};
}

bool transient_status(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

// "Wed, 21 Oct 2015 07:28:00 GMT" (RFC 9110's IMF-fixdate).
std::optional<UtcTime> http_date(std::string_view s) {
  static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() < 29 || s[3] != ',') return std::nullopt;
  std::string day(s.substr(5, 2)), mon(s.substr(8, 3)), year(s.substr(12, 4)), hms(s.substr(17, 8));
  int m = 0;
  while (m < 12 && mon != months[m]) ++m;
  if (m == 12) return std::nullopt;
  char iso[32];
  std::snprintf(iso, sizeof iso, "%s-%02d-%sT%sZ", year.c_str(), m + 1, day.c_str(), hms.c_str());
  auto t = UtcTime::parse(iso);
  if (!t) return std::nullopt;
  return *t;
}

}  // namespace

std::string Reply::header(std::string_view name) const {
  return find_header(headers, name);
}

std::optional<int> retry_after_ms(std::string_view value, UtcTime now) {
  std::string v(trim(value));
  if (v.empty()) return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(v[0]))) {
    char* end = nullptr;
    double seconds = std::strtod(v.c_str(), &end);
    if (end != v.c_str() + v.size() || !std::isfinite(seconds) || seconds < 0) return std::nullopt;
    return static_cast<int>(std::min(seconds, 3600.0) * 1000);
  }
  auto at = http_date(v);
  if (!at) return std::nullopt;
  return static_cast<int>(std::clamp<std::int64_t>(at->ms - now.ms, 0, 3'600'000));
}

Error error_of(int status, const http::Headers& headers, std::string_view body, Clock& clock) {
  std::string code, message;
  if (auto doc = parse_object(body, "error", 1u << 20); doc.ok())
    if (const Json* e = member(*doc, "error"); e && e->IsObject()) {
      code = text(*e, "code");
      message = text(*e, "message");
    }
  if (message.size() > 300) message = message.substr(0, 300) + "...";
  std::string what = "Graph answered " + std::to_string(status);
  if (!code.empty()) what += " " + code;
  if (!message.empty()) what += ": " + message;
  switch (status) {
    case 404:
      return Error::NotFound(what);
    case 409:
    case 412:
      return Error::Conflict(what);
    case 401:
    case 403:
      return Error::Permission(what);
    case 410:
      return Error::NotFound(what);
    default:
      break;
  }
  if (transient_status(status))
    return Error::Transient(what, retry_after_ms(find_header(headers, "Retry-After"), clock.now()));
  return Error::Invalid(what);
}

Client::Client(const GraphStoreConfig& config, Clock& clock,
               std::unique_ptr<http::Transport> transport)
    : config_(config), clock_(clock), transport_(std::move(transport)) {
  std::string base = config_.url;
  if (base.empty() || base.back() != '/') base += '/';
  base_ = base + "v1.0/";
  root_ = base_ + (config_.user == "me" ? std::string("me") : "users/" + url_encode(config_.user)) +
          "/";
  if (config_.auth.type == GraphAuth::Type::kDeviceCode)
    tokens_ = std::make_unique<oauth::AccessTokens>(
        oauth::Authority{config_.auth.authority, config_.auth.tenant, config_.auth.client_id},
        config_.auth.scope, config_.auth.token_store, clock_, *transport_);
}

std::string Client::url(std::string_view path) const {
  return root_ + std::string(path);
}

std::string Client::service_url(std::string_view path) const {
  return base_ + std::string(path);
}

Result<std::string> Client::authorization() {
  if (tokens_) {
    auto t = tokens_->token();
    if (!t) return t.error().context("Graph sign-in");
    return "Bearer " + *t;
  }
  auto token = http::read_secret_file(config_.auth.token_file, "Graph token");
  if (!token) return token.error();
  return "Bearer " + *token;
}

void Client::sleep(std::chrono::milliseconds d) {
  if (config_.sleep)
    config_.sleep(d);
  else
    std::this_thread::sleep_for(d);
}

Result<Reply> Client::call(const std::string& method, const std::string& url,
                           const std::string& body, const CallOptions& options,
                           std::vector<int> pass) {
  http::Request req;
  req.method = method;
  req.url = url;
  req.body = body;
  req.may_resend = options.may_repeat;
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("Accept", "application/json");
  // UTC times, text bodies, ids that survive moves (outlook-immutable-id.md).
  std::string prefer =
      "outlook.timezone=\"UTC\", outlook.body-content-type=\"text\", "
      "IdType=\"ImmutableId\"";
  if (options.max_page > 0) prefer += ", odata.maxpagesize=" + std::to_string(options.max_page);
  req.headers.emplace_back("Prefer", prefer);
  if (!options.if_match.empty()) {
    const std::string& k = options.if_match;
    bool quoted = k.rfind("W/\"", 0) == 0 || (!k.empty() && k.front() == '"');
    req.headers.emplace_back("If-Match", quoted ? k : "W/\"" + k + "\"");
  }
  std::chrono::milliseconds backoff = config_.backoff_base;
  bool refreshed = false;
  for (int attempt = 1;; ++attempt) {
    auto auth = authorization();
    if (!auth) return auth.error();
    http::Request r = req;
    r.headers.emplace_back("Authorization", *auth);
    http::SendInfo info;
    ++requests_;
    auto res = transport_->send(r, &info);
    Error err = Error::Internal("");
    if (res.ok()) {
      const int status = res->status;
      if (status >= 200 && status < 300) {
        Reply reply;
        reply.status = status;
        reply.headers = res->headers;
        if (!res->body.empty() && status != 204) {
          auto doc =
              parse_object(res->body, "Graph " + method + " answer", config_.max_response_bytes);
          if (!doc) return doc.error();
          reply.json = std::move(*doc);
        }
        return reply;
      }
      if (std::find(pass.begin(), pass.end(), status) != pass.end()) {
        Reply reply;
        reply.status = status;
        reply.headers = res->headers;
        if (auto doc = parse_object(res->body, "Graph error", 1u << 20); doc.ok())
          reply.json = std::move(*doc);
        return reply;
      }
      if (status == 401 && tokens_ && !refreshed) {
        tokens_->invalidate();  // a cached token the server no longer takes: fetch another
        refreshed = true;
        --attempt;
        continue;
      }
      err = error_of(status, res->headers, res->body, clock_);
      // 429 and 503 refuse before acting: even a create may go again.
      if (err.retryable() && !options.may_repeat && status != 429 && status != 503)
        return err.context(method + " " + url.substr(0, url.find('?')));
    } else {
      err = res.error();
      if (!err.retryable() || (!options.may_repeat && info.request_written))
        return err.context("Graph " + method);
    }
    if (!err.retryable()) return err;
    if (attempt >= config_.max_attempts)
      return err.context("Graph " + method + " after " + std::to_string(attempt) + " attempts");
    std::chrono::milliseconds wait = backoff;
    if (auto server = err.retry_after_ms())
      wait = std::max(wait, std::chrono::milliseconds(*server));
    sleep(wait);
    backoff = std::min(backoff * 2, config_.backoff_max);
  }
}

}  // namespace crmsync::graph
