// SoapCrmAdapter's exchange with the server: the envelope out, the reply classified (HTTP
// status, SOAP fault) and read, retries with backoff and jitter within a budget, the
// caller's identity (U3), and the factories.
#include <fmt/format.h>

#include <thread>

#include "adapter.hpp"

namespace crmsync {
namespace crm_soap {
namespace {
constexpr std::string_view kServicePath = "XRMServices/2011/Organization.svc/web";
}  // namespace

SoapCrmAdapter::SoapCrmAdapter(SoapCrmConfig config, Clock& clock,
                               std::unique_ptr<http::Transport> transport)
    : config_(std::move(config)), clock_(clock), transport_(std::move(transport)) {
  rng_.seed(config_.jitter_seed ? config_.jitter_seed : std::random_device{}());
  std::string base = config_.base_url;
  if (!base.empty() && base.back() != '/') base += '/';
  endpoint_ = base + std::string(kServicePath);
  if (auto url = http::Url::parse(endpoint_); !url.ok()) {
    config_error_ = url.error().context("crm url");
  } else {
    origin_ = url->origin();
    auto auth = crm_soap::make_token_source(config_.auth, clock_, *transport_);
    if (!auth.ok())
      config_error_ = auth.error();
    else
      auth_ = std::move(auth.value());
  }
  if (config_.max_attempts < 1) config_.max_attempts = 1;
}

Result<CrmIdentity> SoapCrmAdapter::who_am_i() {
  auto body = call(crm_soap::who_am_i_request(), "WhoAmI");
  if (!body.ok()) return body.error();
  return finish(crm_soap::parse_who_am_i(*body), "WhoAmI");
}

Result<CrmPrivileges> SoapCrmAdapter::privileges(const CrmId& user) {
  crm_soap::Query q;
  q.entity = "privilege";
  q.columns = {"privilegeid", "name"};
  q.conditions = {{"name", "Equal", {"prvSyncToOutlook"}, "d:string"}};
  q.page_size = 10;
  auto body = call(crm_soap::retrieve_multiple_request(q), "RetrieveMultiple privilege");
  if (!body.ok()) return body.error();
  auto page = finish(crm_soap::parse_retrieve_multiple(*body), "RetrieveMultiple privilege");
  if (!page.ok()) return page.error();
  CrmPrivileges out;
  if (page->records.empty()) return out;  // the org does not know the privilege
  const CrmId wanted = page->records.front().id;
  auto body2 = call(crm_soap::retrieve_user_privileges_request(user), "RetrieveUserPrivileges");
  if (!body2.ok()) return body2.error();
  auto ids = finish(crm_soap::parse_user_privileges(*body2), "RetrieveUserPrivileges");
  if (!ids.ok()) return ids.error();
  out.sync_to_outlook = std::find(ids->begin(), ids->end(), wanted) != ids->end();
  return out;
}

Result<void> SoapCrmAdapter::check(const FieldMap& attributes, const std::string& what) {
  auto c = crm_soap::check_attributes(attributes);
  if (!c.ok()) return c.error().context(what);
  return Ok();
}

std::vector<std::string> SoapCrmAdapter::secrets() const {
  std::vector<std::string> s = auth_ ? auth_->secrets() : std::vector<std::string>{};
  if (!config_.auth.client_secret.empty()) s.push_back(config_.auth.client_secret);
  return s;
}

// One exchange: the HTTP reply as a SOAP body, or an error classified for retrying.
Result<soap::Element> SoapCrmAdapter::exchange(const std::string& envelope, bool& reply_lost,
                                               bool& auth_refused, const InPlace& in_place) {
  auto token = auth_->token();
  if (!token.ok()) return token.error();
  http::Request req;
  req.method = "POST";
  req.url = endpoint_;
  req.headers = {{"Content-Type", "text/xml; charset=utf-8"},
                 {"SOAPAction", std::string(crm_soap::kExecuteAction)},
                 {"Accept", "application/xml, text/xml, */*"}};
  if (!token->empty()) req.headers.emplace_back("Authorization", "Bearer " + *token);
  req.body = envelope;
  http::SendInfo info;
  auto res = transport_->send(req, &info);
  if (info.resent_after_write) reply_lost = true;
  if (!res.ok()) {
    if (info.request_written) reply_lost = true;
    return res.error();
  }
  const int status = res->status;
  auto retry_after = crm_soap::retry_after_header_ms(res->header("Retry-After"));
  if (status == 401 || status == 403) {
    auth_refused = true;
    return Error::Permission(fmt::format("HTTP {} from {}: not authorized", status, origin_));
  }
  if (status == 429)
    return Error::Transient(fmt::format("HTTP 429 from {}: too many requests", origin_),
                            retry_after);
  if (status == 502 || status == 503 || status == 504 || status == 408)
    return Error::Transient(fmt::format("HTTP {} from {}", status, origin_), retry_after);
  if (status == 200 && in_place && in_place(res->body)) return soap::Element{};
  auto env = soap::parse_envelope(res->body, reply_limits());
  if (!env.ok()) {
    if (status >= 500)
      return Error::Transient(
          fmt::format("HTTP {} from {} without a readable fault", status, origin_));
    return env.error().context(fmt::format("reply from {} (HTTP {})", origin_, status));
  }
  if (env->fault) return crm_soap::error_from_fault(*env->fault);
  if (status != 200) {
    if (status >= 500) return Error::Transient(fmt::format("HTTP {} from {}", status, origin_));
    return Error::Invalid(fmt::format("HTTP {} from {}", status, origin_));
  }
  if (!env->body) return Error::Invalid("reply from " + origin_ + " has an empty Body");
  return std::move(*env->body);
}

soap::ParseLimits SoapCrmAdapter::reply_limits() const {
  soap::ParseLimits limits;
  limits.max_bytes = config_.max_response_bytes;
  return limits;
}

std::chrono::milliseconds SoapCrmAdapter::backoff(int attempt, std::optional<int> retry_after) {
  using ms = std::chrono::milliseconds;
  double base = static_cast<double>(config_.backoff_base.count());
  double cap = static_cast<double>(config_.backoff_max.count());
  double exp = std::min(cap, base * static_cast<double>(1ull << std::min(attempt - 1, 20)));
  // "Equal jitter": half fixed, half random, so waits never collapse to zero.
  std::uniform_real_distribution<double> dist(0.5, 1.0);
  ms wait{static_cast<std::int64_t>(exp * dist(rng_))};
  if (retry_after) wait = std::max(wait, ms{*retry_after});
  return wait;
}

void SoapCrmAdapter::sleep(std::chrono::milliseconds d) {
  if (config_.sleep)
    config_.sleep(d);
  else
    std::this_thread::sleep_for(d);
}

// One call with retries of transient failures. `reply_lost`: some attempt sent the whole
// request but got no reply (the server may have acted on it).
// U3: the systemuserid of crm.act_as, looked up once (without CallerId) by its UPN.
Result<void> SoapCrmAdapter::resolve_caller() {
  if (config_.act_as.empty() || caller_id_ || resolving_caller_) return Ok();
  resolving_caller_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{resolving_caller_};
  std::vector<CrmId> found;
  for (const char* attribute : {"domainname", "internalemailaddress"}) {
    crm_soap::Query q;
    q.entity = "systemuser";
    q.columns = {"systemuserid", attribute};
    q.conditions = {{attribute, "Equal", {config_.act_as}, "d:string"}};
    q.page_size = 2;
    auto body = call(crm_soap::retrieve_multiple_request(q), "RetrieveMultiple systemuser");
    if (!body.ok()) return body.error().context("crm.act_as " + config_.act_as);
    auto page = finish(crm_soap::parse_retrieve_multiple_any(*body, "systemuserid"),
                       "RetrieveMultiple systemuser");
    if (!page.ok()) return page.error();
    for (const auto& r : page->records) found.push_back(r.id);
    if (!found.empty()) break;
  }
  if (found.empty())
    return Error::Permission("crm.act_as " + config_.act_as +
                             ": no CRM user has that user name (domainname) or e-mail address");
  if (found.size() > 1)
    return Error::Invalid("crm.act_as " + config_.act_as + " names more than one CRM user");
  caller_id_ = found.front();
  return Ok();
}

Result<soap::Element> SoapCrmAdapter::call(const RequestWriter& request, const std::string& what,
                                           bool* reply_lost, const InPlace& in_place) {
  if (config_error_) return *config_error_;
  CRMSYNC_TRY(resolve_caller());
  const std::string envelope =
      crm_soap::execute_envelope(request, resolving_caller_ ? std::nullopt : caller_id_);
  const MonoTime start = clock_.mono();
  std::chrono::milliseconds waited{0};
  bool lost = false;
  bool refreshed = false;
  for (int attempt = 1;; ++attempt) {
    bool auth_refused = false;
    auto body = exchange(envelope, lost, auth_refused, in_place);
    if (reply_lost) *reply_lost = lost;
    if (body.ok()) return body;
    Error err = body.error();
    if (auth_refused && !refreshed && auth_->invalidate()) {
      refreshed = true;  // a cached token the server no longer takes: fetch one and retry
      --attempt;
      continue;
    }
    if (!err.retryable() || attempt >= config_.max_attempts)
      return crm_soap::redact(
          attempt > 1 && err.retryable()
              ? err.context(fmt::format("{} (gave up after {} attempts)", what, attempt))
              : err.context(what),
          secrets());
    auto wait = backoff(attempt, err.retry_after_ms());
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.mono() - start);
    auto spent = std::max(elapsed, waited);
    if (spent + wait > config_.retry_budget)
      return crm_soap::redact(err.context(fmt::format("{} (retry budget of {} ms spent)", what,
                                                      config_.retry_budget.count())),
                              secrets());
    sleep(wait);
    waited += wait;
  }
}

}  // namespace crm_soap

std::unique_ptr<CrmAdapter> make_soap_crm_adapter(const SoapCrmConfig& config, Clock& clock,
                                                  std::unique_ptr<http::Transport> transport) {
  return std::make_unique<crm_soap::SoapCrmAdapter>(config, clock, std::move(transport));
}

namespace {
http::ClientOptions client_options(const SoapCrmConfig& config) {
  http::ClientOptions options;
  options.ca_file = config.ca_file;
  options.resolve_timeout = config.connect_timeout;
  options.connect_timeout = config.connect_timeout;
  options.io_timeout = config.request_timeout;
  options.max_response_bytes = config.max_response_bytes;
  return options;
}
}  // namespace

std::unique_ptr<CrmAdapter> make_soap_crm_adapter(const SoapCrmConfig& config, Clock& clock) {
  return make_soap_crm_adapter(config, clock,
                               std::make_unique<http::Client>(client_options(config)));
}

Result<std::unique_ptr<CrmAdapter>> open_soap_crm_adapter(const SoapCrmConfig& config,
                                                          Clock& clock) {
  http::ClientOptions options = client_options(config);
  if (config.auth.type == SoapCrmAuth::Type::kNegotiate) {
    if (config.auth.username.empty() || config.auth.password_file.empty())
      return Error::Invalid("crm negotiate auth needs username and password_file");
    if (auto ok = http::negotiate_available(); !ok) return ok.error().context("crm negotiate auth");
    auto a = http::make_negotiate_authenticator({config.auth.username, config.auth.password_file});
    if (!a) return a.error().context("crm negotiate auth");
    options.authenticator = std::move(*a);
  }
  return make_soap_crm_adapter(config, clock, std::make_unique<http::Client>(options));
}

}  // namespace crmsync
