#include "caller.hpp"

#include <algorithm>
#include <optional>
#include <thread>

#include "crmsync/http/credentials.hpp"
#include "crmsync/model/encoding.hpp"

namespace crmsync::ews {
namespace {

Result<std::string> read_secret(const std::string& path, std::string_view what) {
  return http::read_secret_file(path, "EWS " + std::string(what));
}

// Throttling codes: the server refused the request without acting on it.
bool refused_unacted(const Error& e) {
  for (std::string_view code : {"ErrorServerBusy", "ErrorExceededConnectionCount",
                                "ErrorTooManyObjectsOpened", "ErrorMailboxMoveInProgress"})
    if (e.message().find(code) != std::string::npos) return true;
  return false;
}

}  // namespace

http::Request Caller::soap_request(std::string_view op, const std::string& operation) const {
  http::Request req;
  req.method = "POST";
  req.url = config_.url;
  req.body = envelope(operation, config_.impersonate ? config_.mailbox : std::string());
  req.headers.emplace_back("Content-Type", "text/xml; charset=utf-8");
  req.headers.emplace_back(
      "SOAPAction",
      "\"http://schemas.microsoft.com/exchange/services/2006/messages/" + std::string(op) + "\"");
  if (!config_.mailbox.empty()) req.headers.emplace_back("X-AnchorMailbox", config_.mailbox);
  return req;
}

Result<std::vector<Message>> Caller::call(std::string_view op, const std::string& operation,
                                          bool may_repeat) {
  const http::Request req = soap_request(op, operation);
  std::chrono::milliseconds backoff = config_.backoff_base;
  for (int attempt = 1;; ++attempt) {
    auto auth = authorization();
    if (!auth) return auth.error();
    http::Request r = req;
    if (!auth->empty()) r.headers.emplace_back("Authorization", *auth);
    r.may_resend = may_repeat;  // a CreateItem that may have been acted on never goes twice
    http::SendInfo info;
    auto res = transport_.send(r, &info);
    Result<std::vector<Message>> out = res.ok() ? parse_response(op, res->status, res->body)
                                                : Result<std::vector<Message>>(res.error());
    std::optional<Error> transient;
    if (!out.ok()) {
      if (!out.error().retryable()) return out.error().context("EWS " + std::string(op));
      // A transport failure after the request went out, or a server error other than
      // throttling (which refuses before acting): the server may have acted.
      if (!may_repeat &&
          ((!res.ok() && info.request_written) || (res.ok() && !refused_unacted(out.error()))))
        return out.error().context("EWS " + std::string(op));
      transient = out.error();
    } else {
      bool all_refused = true;  // every message throttled: nothing was acted on
      for (const Message& m : *out) {
        if (!m.ok() && error_of(m).retryable()) transient = error_of(m);
        if (m.ok() || !refused_unacted(error_of(m))) all_refused = false;
      }
      // Some messages of a request that must not be repeated were acted on: each one is
      // the caller's to sort out (a batch CreateItem would otherwise make copies).
      if (!transient || (!may_repeat && !all_refused)) return out;
    }
    if (attempt >= config_.max_attempts)
      return transient->context("EWS " + std::string(op) + " after " + std::to_string(attempt) +
                                " attempts");
    std::chrono::milliseconds wait = backoff;
    if (auto server = transient->retry_after_ms())
      wait = std::max(wait, std::chrono::milliseconds(*server));
    sleep(wait);
    backoff = std::min(backoff * 2, config_.backoff_max);
  }
}

void Caller::sleep(std::chrono::milliseconds d) const {
  if (config_.sleep)
    config_.sleep(d);
  else
    std::this_thread::sleep_for(d);
}

Result<std::string> Caller::authorization() const {
  if (config_.auth.type == EwsAuth::Type::kNegotiate) return std::string();
  if (config_.auth.type == EwsAuth::Type::kBearer) {
    auto token = read_secret(config_.auth.token_file, "token");
    if (!token) return token.error();
    return "Bearer " + *token;
  }
  auto password = read_secret(config_.auth.password_file, "password");
  if (!password) return password.error();
  return "Basic " + base64_encode(config_.auth.username + ":" + *password);
}

Result<std::vector<RawItem>> items_in(const Message& m, std::string_view op) {
  const soap::Element* items = m.element.child(kMNs, "Items");
  if (!items) return Error::Invalid(std::string(op) + " reply without Items");
  return items_of(*items);
}

Result<RawItem> one_item_in(const Message& m, std::string_view op) {
  auto raw = items_in(m, op);
  if (!raw) return raw.error();
  if (raw->size() != 1) return Error::Invalid(std::string(op) + " reply without one item");
  return std::move(raw->front());
}

Result<ItemRef> created_ref(const Message& m, std::string_view what) {
  if (!m.ok()) return error_of(m).context(std::string(what));
  auto raw = one_item_in(m, "CreateItem");
  if (!raw) return raw.error();
  return raw->ref;
}

}  // namespace crmsync::ews
