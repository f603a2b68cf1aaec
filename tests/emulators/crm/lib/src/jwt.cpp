// Bearer JWTs from a trusted authority (caller.hpp's JwtChecker), with the scaffold's checker.
#include <algorithm>
#include <chrono>

#include "caller.hpp"
#include "emulator/token_check.hpp"

namespace crm_emulator {

// ------------------------------------------------------------------ JWTs

struct JwtChecker::State {
  std::optional<emulator::token::Authority> authority;
  std::chrono::steady_clock::time_point fetched{};
};

JwtChecker::JwtChecker(std::string authority_url, std::string ca_file)
    : authority_url_(std::move(authority_url)),
      ca_file_(std::move(ca_file)),
      state_(std::make_unique<State>()) {
  while (!authority_url_.empty() && authority_url_.back() == '/') authority_url_.pop_back();
}

JwtChecker::~JwtChecker() = default;

bool JwtChecker::looks_like_jwt(std::string_view t) {
  return std::count(t.begin(), t.end(), '.') == 2 && t.size() > 10;
}

JwtChecker::Result JwtChecker::check(Store& store, std::string_view jwt) {
  Result r;
  namespace tk = emulator::token;
  // The authority's keys: fetched at the first token, again (at most every 10 s) when a token
  // names a key the cached set lacks (a restarted authority).
  auto fetch = [&]() -> bool {
    auto now = std::chrono::steady_clock::now();
    if (state_->authority && now - state_->fetched < std::chrono::seconds(10)) return false;
    std::string error;
    auto a = tk::fetch_authority(authority_url_, ca_file_, error);
    state_->fetched = now;
    if (!a) {
      r.description = "the authority " + authority_url_ + " cannot be reached: " + error;
      return false;
    }
    state_->authority = std::move(*a);
    return true;
  };
  if (!state_->authority && !fetch()) return r;
  tk::Expectations expect;
  expect.issuer = state_->authority->issuer;
  expect.audiences = audiences_;
  expect.allow_app_tokens = true;
  expect.leeway_s = leeway_s_;
  tk::Verdict v = tk::verify(jwt, state_->authority->keys, expect);
  if (v.problem == tk::Problem::kUnknownKey && fetch()) {
    expect.issuer = state_->authority->issuer;
    v = tk::verify(jwt, state_->authority->keys, expect);
  }
  if (!v) {
    r.description = v.error;
    return r;
  }
  const tk::Caller& c = v.caller;
  // Dynamics' delegated permission is user_impersonation; app tokens carry roles, not scopes.
  if (!c.app &&
      std::find(c.scopes.begin(), c.scopes.end(), "user_impersonation") == c.scopes.end()) {
    r.description = "scope \"user_impersonation\" is not granted";
    return r;
  }
  Identities ids(store);
  std::optional<Identity> who;
  if (c.app) {
    who = ids.by_client_id(c.client_id);
    if (!who) {
      who = ids.by_oid(c.oid);
      if (who && !who->application) who.reset();
    }
  } else {
    who = ids.by_oid(c.oid);
    if (!who) who = ids.by_upn(c.upn);
    if (who && who->application) who.reset();
  }
  if (who && who->auth == "negotiate") who.reset();  // Windows sign-in only
  if (who) r.user = store.user_by_id(who->user_id);
  if (!r.user) {
    r.http_status = 403;
    r.description = c.app ? "the application " + c.client_id + " is not a user of this organization"
                          : "the user " + (c.upn.empty() ? c.oid : c.upn) +
                                " is not a user of this organization";
  }
  return r;
}

}  // namespace crm_emulator
