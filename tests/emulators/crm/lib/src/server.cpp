// HTTP(S) front end: one io_context, one coroutine per connection, requests
// handled one at a time (the SQLite connection is not shared across threads).
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "crm_emulator/server.hpp"

#include <cstdlib>
#include <deque>
#include <iostream>
#include <random>
#include <set>
#include <variant>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>

#include "caller.hpp"
#include "emulator/negotiate.hpp"
#include "fetchxml.hpp"
#include "service.hpp"
#include "store.hpp"

namespace crm_emulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kBodyLimit = 32u * 1024u * 1024u;
constexpr const char* kSoapPath = "/XRMServices/2011/Organization.svc/web";
constexpr std::size_t kLogEntries = 10000;
constexpr std::size_t kLogBody = 1u << 20;
constexpr std::int64_t kThrottleWindowS = 300;

struct FaultConfig {
  int latency_ms = 0;
  double error_rate = 0;
  double drop_after_commit_rate = 0;
  double throttle_rate = 0;
  int fail_nth = 0;  // 0: off; counts down per SOAP request
  int retry_after_s = 5;
  std::mt19937_64 rng{0};
};

struct LogEntry {
  std::string method, path, soap_action, body;
  int status;
  std::int64_t at_ms;  // when the request arrived (UTC, ms since the epoch)
  int retry_after_s;   // the reply's Retry-After, 0 when none
  std::string fault;   // the injected fault: error, throttle, drop, slow; empty when none
};

using Request = http::request<http::string_body>;
using Reply = http::response<http::string_body>;

// NTLM authenticates a connection, not a request: the handshake's state and its outcome live
// with the connection, and a new connection starts over.
struct ConnAuth {
  std::unique_ptr<emulator::Acceptor> acceptor;  // a handshake in progress
  std::string scheme;                            // its scheme as the client wrote it
  std::string user_id;                           // the user this connection authenticated as
};

std::string base64_encode(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string lower_ascii(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Outcome {
  Reply reply;
  bool drop = false;
  int latency_ms = 0;
  const char* fault = "";  // what /admin/faults injected into this reply (the request log)
};

class App {
 public:
  explicit App(const Options& o)
      : opts_(o), store_(o.db), service_(store_), ntlm_file_("crm-emulator") {
    ntlm_unavailable_ = emulator::negotiate_unavailable();
    if (!o.authority.empty()) {
      jwt_ = std::make_unique<JwtChecker>(o.authority, o.authority_ca);
      jwt_->set_leeway(o.token_leeway_s);
    }
    write_ntlm_users();
  }

  // The organization URL JWTs must name (aud): --org-url, else this server's base URL.
  void listening(const std::string& base_url) {
    std::string org = opts_.org_url.empty() ? base_url : opts_.org_url;
    while (!org.empty() && org.back() == '/') org.pop_back();
    if (jwt_) jwt_->set_audiences({org, org + "/"});
  }

  Service& service() { return service_; }
  Store& store() { return store_; }

  Outcome handle(const Request& req, const tcp::endpoint& peer, ConnAuth& conn) {
    std::string target(req.target());
    if (target.rfind("/admin/", 0) == 0) return Outcome{admin(req, peer, target)};
    const std::int64_t arrived = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
    Outcome o = soap(req, conn);
    std::string action(req[http::field::soapaction]);
    if (target.rfind(kSoapPath, 0) == 0 || req.method() == http::verb::post) {
      ++logged_;
      if (log_.size() >= kLogEntries) log_.pop_front();
      auto ra = o.reply[http::field::retry_after];
      log_.push_back(LogEntry{std::string(req.method_string()), target, action,
                              req.body().substr(0, kLogBody),
                              o.drop ? 0 : static_cast<int>(o.reply.result_int()), arrived,
                              ra.empty() ? 0 : std::atoi(std::string(ra).c_str()), o.fault});
    }
    return o;
  }

 private:
  Reply make(const Request& req, http::status st, std::string body, const char* type) {
    Reply r{st, req.version()};
    r.set(http::field::server, "crm-emulator");
    r.set(http::field::content_type, type);
    r.keep_alive(req.keep_alive());
    r.body() = std::move(body);
    r.prepare_payload();
    return r;
  }

  Reply fault_reply(const Request& req, const Fault& f) {
    auto st = static_cast<http::status>(f.http_status);
    Reply r = make(req, st, Service::fault_envelope(f), "text/xml; charset=utf-8");
    if (f.retry_after_s > 0) r.set(http::field::retry_after, std::to_string(f.retry_after_s));
    return r;
  }

  Fault throttle_fault() {
    Fault f(err::kThrottleRequests,
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.");
    f.http_status = 429;
    f.retry_after_s = faults_.retry_after_s > 0 ? faults_.retry_after_s : 1;
    return f;
  }

  bool roll(double rate) {
    if (rate <= 0) return false;
    return std::uniform_real_distribution<double>(0, 1)(faults_.rng) < rate;
  }

  // A 401 offering what this server takes: Bearer (with the authority, as Dynamics online
  // answers) and, while NTLM users exist, Negotiate and NTLM; `token` continues a handshake.
  Reply unauthorized(const Request& req, const std::string& scheme = "",
                     const std::string& token = "", const std::string& error = "") {
    Reply r = make(req, http::status::unauthorized, "", "text/plain");
    if (!scheme.empty()) {
      r.set(http::field::www_authenticate, scheme + " " + base64_encode(token));
      return r;
    }
    std::string authorize = jwt_ ? jwt_->authority_url() + "/oauth2/authorize"
                                 : std::string(
                                       "https://login.microsoftonline.com/"
                                       "00000000-0000-0000-0000-000000000000/oauth2/"
                                       "authorize");
    std::string bearer = "Bearer authorization_uri=" + authorize + ", resource_id=http://" +
                         std::string(req[http::field::host]) + "/";
    if (!error.empty()) {
      std::string why = error;
      for (auto& c : why)
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = ' ';
      bearer += ", error=\"invalid_token\", error_description=\"" + why + "\"";
    }
    r.set(http::field::www_authenticate, bearer);
    if (ntlm_unavailable_.empty() && has_ntlm_users()) {
      r.insert(http::field::www_authenticate, "Negotiate");
      r.insert(http::field::www_authenticate, "NTLM");
    }
    return r;
  }

  bool has_ntlm_users() {
    for (const auto& i : Identities(store_).all())
      if (!i.ntlm_user.empty()) return true;
    return false;
  }

  void write_ntlm_users() {
    std::vector<std::pair<std::string, std::string>> accounts;
    for (const auto& i : Identities(store_).all())
      if (!i.ntlm_user.empty()) accounts.emplace_back(i.ntlm_user, i.password);
    ntlm_file_.write(accounts);
  }

  // The user of this request, or the reply that refuses it (a 401 that may carry the next
  // token of an NTLM handshake; 403 for a good token of no user here). `final_token`:
  // SPNEGO's last word for a 200.
  std::variant<User, Reply> authenticate(const Request& req, ConnAuth& conn,
                                         std::string& final_token) {
    std::string auth(req[http::field::authorization]);
    auto space = auth.find(' ');
    std::string scheme = lower_ascii(auth.substr(0, space));
    std::string cred = space == std::string::npos ? "" : auth.substr(space + 1);
    while (!cred.empty() && cred.front() == ' ') cred.erase(0, 1);
    if (auth.empty() && !conn.user_id.empty()) {
      if (auto u = store_.user_by_id(conn.user_id)) return *u;  // an NTLM-authenticated connection
      conn.user_id.clear();
    }
    if (scheme == "negotiate" || scheme == "ntlm") {
      if (!ntlm_unavailable_.empty()) return unauthorized(req);
      conn.user_id.clear();
      auto token = base64_decode(cred);
      if (!token || token->empty()) {
        conn.acceptor.reset();
        return unauthorized(req);
      }
      // A first leg (NTLM's NEGOTIATE, SPNEGO's NegTokenInit) always starts over, as IIS does.
      const bool first_leg =
          token->rfind(std::string("NTLMSSP\0\1\0\0\0", 12), 0) == 0 || token->front() == '\x60';
      if (!conn.acceptor || first_leg || scheme != lower_ascii(conn.scheme)) {
        conn.acceptor = std::make_unique<emulator::Acceptor>();
        conn.scheme = auth.substr(0, space);
      }
      auto step = conn.acceptor->step(*token);
      if (step.state == emulator::Acceptor::Step::kContinue)
        return unauthorized(req, conn.scheme, step.token);
      conn.acceptor.reset();
      if (step.state == emulator::Acceptor::Step::kFailed) {
        std::cerr << "crm-emulator: NTLM authentication failed: " << step.error << "\n";
        return unauthorized(req);
      }
      if (auto who = Identities(store_).by_ntlm_user(step.name))
        if (auto u = store_.user_by_id(who->user_id)) {
          conn.user_id = u->id;
          final_token = step.token;
          return *u;
        }
      std::cerr << "crm-emulator: NTLM user " << step.name << " is no user of the organization\n";
      return unauthorized(req);
    }
    if (scheme != "bearer" || cred.empty()) return unauthorized(req);
    std::optional<User> user = store_.user_by_token(cred);
    if (!user && jwt_ && JwtChecker::looks_like_jwt(cred)) {
      JwtChecker::Result r = jwt_->check(store_, cred);
      if (!r.user && r.http_status == 403) {
        Fault f(err::kUserNotInOrg, "The user is not a member of the organization.");
        f.http_status = 403;
        return fault_reply(req, f);
      }
      if (!r.user) return unauthorized(req, "", "", r.description);
      user = r.user;
    }
    // A user made with auth "negotiate" is refused Bearer, as an on-premises server with only
    // Windows authentication is.
    if (user) {
      auto identity = Identities(store_).get(user->id);
      if (identity && identity->auth == "negotiate") user.reset();
    }
    if (!user) return unauthorized(req, "", "", jwt_ ? "the token is not valid here" : "");
    return *user;
  }

  Outcome soap(const Request& req, ConnAuth& conn) {
    std::string target(req.target());
    if (target != kSoapPath && target.rfind(std::string(kSoapPath) + "?", 0) != 0)
      return {make(req, http::status::not_found, "not found\n", "text/plain")};
    if (req.method() != http::verb::post)
      return {make(req, http::status::method_not_allowed, "POST only\n", "text/plain")};
    // Authentication: an admin-made token, a JWT of the authority, or NTLM (caller.hpp).
    std::string final_token;
    auto authenticated = authenticate(req, conn, final_token);
    if (auto* refused = std::get_if<Reply>(&authenticated)) return {std::move(*refused)};
    std::optional<User> user = std::get<User>(authenticated);
    Outcome out;
    out.latency_ms = faults_.latency_ms;
    // Injected faults.
    bool nth = false;
    if (faults_.fail_nth > 0 && --faults_.fail_nth == 0) nth = true;
    if (out.latency_ms > 0) out.fault = "slow";
    if (nth || roll(faults_.error_rate)) {
      out.reply = fault_reply(
          req, Fault(err::kSqlTimeout, "SQL timeout expired. (injected by crm-emulator)"));
      out.fault = "error";
      return out;
    }
    if (roll(faults_.throttle_rate)) {
      out.reply = fault_reply(req, throttle_fault());
      out.fault = "throttle";
      return out;
    }
    // Service protection as Dynamics: requests per user over a sliding window.
    auto& window = windows_[user->id];
    auto now = now_unix();
    while (!window.empty() && window.front() <= now - kThrottleWindowS) window.pop_front();
    if (opts_.throttle_limit > 0 &&
        window.size() >= static_cast<std::size_t>(opts_.throttle_limit)) {
      Fault f = throttle_fault();
      f.retry_after_s = static_cast<int>(window.front() + kThrottleWindowS - now);
      if (f.retry_after_s < 1) f.retry_after_s = 1;
      out.reply = fault_reply(req, f);
      return out;
    }
    window.push_back(now);
    bool drop = roll(faults_.drop_after_commit_rate);
    try {
      std::string body =
          service_.handle(std::string(req[http::field::soapaction]), req.body(), *user);
      out.reply = make(req, http::status::ok, std::move(body), "text/xml; charset=utf-8");
    } catch (const Fault& f) {
      out.reply = fault_reply(req, f);
    } catch (const std::exception& e) {
      out.reply =
          fault_reply(req, Fault(err::kUnexpected, std::string("Unexpected error: ") + e.what()));
    }
    out.drop = drop;
    if (drop) out.fault = "drop";
    if (!final_token.empty())
      out.reply.set(http::field::www_authenticate, conn.scheme + " " + base64_encode(final_token));
    return out;
  }

  // ------------------------------------------------------------ admin JSON API

  Reply json(const Request& req, http::status st, const std::string& body) {
    return make(req, st, body + "\n", "application/json");
  }

  Reply json_error(const Request& req, http::status st, const std::string& msg) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    w.StartObject();
    w.Key("error");
    w.String(msg.c_str());
    w.EndObject();
    return json(req, st, b.GetString());
  }

  static bool loopback_host(std::string_view host) {
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos && host.find(']') == std::string_view::npos &&
        host.find(':') == colon)
      host = host.substr(0, colon);
    else if (!host.empty() && host.front() == '[')
      host = host.substr(0, host.find(']') + 1);
    return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
  }

  Reply admin(const Request& req, const tcp::endpoint& peer, const std::string& target) {
    if (!peer.address().is_loopback() || !loopback_host(std::string(req[http::field::host])))
      return json_error(req, http::status::forbidden, "the admin API is served on loopback only");
    rapidjson::Document doc;
    bool has_body = req.method() == http::verb::post || req.method() == http::verb::put;
    if (has_body) {
      const std::string& b = req.body();
      doc.Parse(b.empty() ? "{}" : b.c_str(), b.empty() ? 2 : b.size());
      if (doc.HasParseError() || !doc.IsObject())
        return json_error(req, http::status::bad_request, "the body must be a JSON object");
    }
    try {
      if (target == "/admin/users" && req.method() == http::verb::post) return add_user(req, doc);
      if (target.rfind("/admin/users/", 0) == 0 && target.ends_with("/privileges") &&
          req.method() == http::verb::put) {
        std::string id = normalize_guid(target.substr(13, target.size() - 13 - 11));
        bool any = false;
        for (const char* k : {"prvSyncToOutlook", "prvActOnBehalfOfAnotherUser"}) {
          if (!doc.HasMember(k)) continue;
          if (!doc[k].IsBool())
            return json_error(req, http::status::bad_request,
                              "\"" + std::string(k) + "\" must be a boolean");
          any = true;
        }
        if (!any)
          return json_error(req, http::status::bad_request,
                            "\"prvSyncToOutlook\" or \"prvActOnBehalfOfAnotherUser\" must be "
                            "a boolean");
        if (id.empty() || !store_.user_by_id(id))
          return json_error(req, http::status::not_found, "no such user");
        if (doc.HasMember("prvSyncToOutlook"))
          service_.set_sync_privilege(id, doc["prvSyncToOutlook"].GetBool());
        if (doc.HasMember("prvActOnBehalfOfAnotherUser"))
          service_.set_act_on_behalf(id, doc["prvActOnBehalfOfAnotherUser"].GetBool());
        return json(req, http::status::ok, "{}");
      }
      if ((target == "/admin/userqueries" || target == "/admin/savedqueries") &&
          req.method() == http::verb::post)
        return add_query(req, doc, target == "/admin/userqueries" ? "userquery" : "savedquery");
      if (target == "/admin/faults" && req.method() == http::verb::post)
        return set_faults(req, doc);
      if (target == "/admin/hooks" && req.method() == http::verb::post) return set_hooks(req, doc);
      if (target == "/admin/requests" && req.method() == http::verb::get) return requests(req);
      if (target == "/admin/stats" && req.method() == http::verb::get)
        return json(req, http::status::ok, "{\"requests\":" + std::to_string(logged_) + "}");
      if (target == "/admin/reset" && req.method() == http::verb::post) {
        service_.reset();
        write_ntlm_users();
        log_.clear();
        faults_ = FaultConfig{};
        windows_.clear();
        return json(req, http::status::ok, "{}");
      }
      if (target.rfind("/admin/records/", 0) == 0 && req.method() == http::verb::get)
        return records(req, target.substr(15));
    } catch (const std::exception& e) {
      return json_error(req, http::status::internal_server_error, e.what());
    }
    return json_error(req, http::status::not_found, "unknown admin endpoint " + target);
  }

  // POST /admin/users: {"fullname"} and one or more sign-ins: "token" (opaque), "upn"/"oid"
  // (JWTs of --authority), "application": true with "client_id" (an application user),
  // "auth": "negotiate" with "ntlm_user" and "password" (NTLM only); "internalemailaddress",
  // "default_filters" (default true).
  Reply add_user(const Request& req, const rapidjson::Document& doc) {
    Service::NewUser u;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      std::string k = it->name.GetString();
      const auto& v = it->value;
      static const std::set<std::string> strings = {"fullname", "token",     "internalemailaddress",
                                                    "upn",      "oid",       "client_id",
                                                    "auth",     "ntlm_user", "password"};
      if (strings.count(k)) {
        if (!v.IsString())
          return json_error(req, http::status::bad_request, "\"" + k + "\" must be a string");
      } else if (k == "application" || k == "default_filters") {
        if (!v.IsBool())
          return json_error(req, http::status::bad_request, "\"" + k + "\" must be a boolean");
      } else {
        return json_error(req, http::status::bad_request, "unknown key \"" + k + "\"");
      }
    }
    auto str = [&](const char* k) {
      return doc.HasMember(k) ? std::string(doc[k].GetString(), doc[k].GetStringLength())
                              : std::string();
    };
    u.fullname = str("fullname");
    u.token = str("token");
    u.internalemailaddress = str("internalemailaddress");
    u.upn = str("upn");
    u.oid = str("oid");
    u.client_id = str("client_id");
    u.ntlm_user = str("ntlm_user");
    u.password = str("password");
    if (doc.HasMember("auth")) u.auth = str("auth");
    u.application = doc.HasMember("application") && doc["application"].GetBool();
    if (doc.HasMember("default_filters")) u.default_filters = doc["default_filters"].GetBool();
    if (u.fullname.empty())
      return json_error(req, http::status::bad_request, "\"fullname\" must be a non-empty string");
    if (u.auth != "bearer" && u.auth != "negotiate")
      return json_error(req, http::status::bad_request,
                        "\"auth\" must be \"bearer\" or \"negotiate\"");
    if (!u.oid.empty() && normalize_guid(u.oid).empty())
      return json_error(req, http::status::bad_request, "\"oid\" must be a guid");
    if (u.application && u.client_id.empty())
      return json_error(req, http::status::bad_request,
                        "an application user needs \"client_id\" (the app's id)");
    if (!u.client_id.empty() && (!u.application || normalize_guid(u.client_id).empty()))
      return json_error(req, http::status::bad_request,
                        "\"client_id\" (a guid) is for application users");
    if (u.auth == "negotiate" || !u.ntlm_user.empty()) {
      if (u.ntlm_user.empty())
        return json_error(req, http::status::bad_request,
                          "\"auth\": \"negotiate\" needs \"ntlm_user\"");
      if (!ntlm_unavailable_.empty())
        return json_error(req, http::status::bad_request,
                          "NTLM is not available: " + ntlm_unavailable_);
      if (auto why = emulator::ntlm_account_problem(u.ntlm_user, u.password); !why.empty())
        return json_error(req, http::status::bad_request, why);
    }
    if (u.token.empty() && u.upn.empty() && u.oid.empty() && u.client_id.empty() &&
        u.ntlm_user.empty())
      return json_error(req, http::status::bad_request,
                        "a user needs a sign-in: \"token\", \"upn\"/\"oid\", "
                        "\"client_id\" or \"ntlm_user\"");
    Identities ids(store_);
    if (!u.token.empty() && store_.user_by_token(u.token))
      return json_error(req, http::status::conflict, "this token is already bound to a user");
    if ((!u.upn.empty() && ids.by_upn(u.upn)) || (!u.oid.empty() && ids.by_oid(u.oid)) ||
        (!u.client_id.empty() && ids.by_client_id(u.client_id)) ||
        (!u.ntlm_user.empty() && ids.by_ntlm_user(u.ntlm_user)))
      return json_error(req, http::status::conflict, "this sign-in is already bound to a user");
    std::string id = service_.add_user(u);
    if (!u.ntlm_user.empty()) write_ntlm_users();
    return json(req, http::status::ok, "{\"systemuserid\":\"" + id + "\"}");
  }

  // POST /admin/userqueries {"name","returnedtypecode","fetchxml","ownerid"[,"querytype"=256,
  // "statecode"=0,"description"]}, /admin/savedqueries the same without ownerid (querytype
  // 131072 by default: an Outlook filter template).
  Reply add_query(const Request& req, const rapidjson::Document& doc, const std::string& entity) {
    Attributes a;
    std::string owner;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      std::string k = it->name.GetString();
      const auto& v = it->value;
      if (k == "name" || k == "returnedtypecode" || k == "fetchxml" || k == "description" ||
          (k == "ownerid" && entity == "userquery")) {
        if (!v.IsString())
          return json_error(req, http::status::bad_request, "\"" + k + "\" must be a string");
        std::string text(v.GetString(), v.GetStringLength());
        if (k == "ownerid")
          owner = normalize_guid(text);
        else
          a[k] = Value::str(text);
      } else if (k == "querytype" || k == "statecode") {
        if (!v.IsInt())
          return json_error(req, http::status::bad_request, "\"" + k + "\" must be an integer");
        a[k] = k == "querytype" ? Value::integer(v.GetInt()) : Value::option(v.GetInt());
      } else {
        return json_error(req, http::status::bad_request, "unknown key \"" + k + "\"");
      }
    }
    if (!a.count("querytype"))
      a["querytype"] = Value::integer(entity == "userquery" ? querytype::kOutlookFilters
                                                            : querytype::kOutlookTemplate);
    if (entity == "userquery" && (owner.empty() || !store_.user_by_id(owner)))
      return json_error(req, http::status::bad_request, "\"ownerid\" must name a user");
    store_.begin();
    try {
      std::string id = insert_query(store_, entity, std::move(a), owner);
      store_.commit();
      return json(req, http::status::ok, "{\"" + entity + "id\":\"" + id + "\"}");
    } catch (const Fault& f) {
      store_.rollback();
      return json_error(req, http::status::bad_request, f.what());
    } catch (...) {
      store_.rollback();
      throw;
    }
  }

  Reply set_faults(const Request& req, const rapidjson::Document& doc) {
    FaultConfig f;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      std::string k = it->name.GetString();
      const auto& v = it->value;
      if (!v.IsNumber())
        return json_error(req, http::status::bad_request, "\"" + k + "\" must be a number");
      double d = v.GetDouble();
      if (k == "error_rate" || k == "drop_after_commit_rate" || k == "throttle_rate") {
        if (d < 0 || d > 1)
          return json_error(req, http::status::bad_request, "\"" + k + "\" must be within 0..1");
        (k == "error_rate"      ? f.error_rate
         : k == "throttle_rate" ? f.throttle_rate
                                : f.drop_after_commit_rate) = d;
      } else if (k == "latency_ms" || k == "fail_nth" || k == "retry_after_s" || k == "seed") {
        if (d < 0 || d > 1e9 || d != static_cast<double>(static_cast<long long>(d)))
          return json_error(req, http::status::bad_request,
                            "\"" + k + "\" must be a non-negative integer");
        auto n = static_cast<long long>(d);
        if (k == "latency_ms") f.latency_ms = static_cast<int>(n);
        if (k == "fail_nth") f.fail_nth = static_cast<int>(n);
        if (k == "retry_after_s") f.retry_after_s = static_cast<int>(n);
        if (k == "seed") f.rng.seed(static_cast<std::uint64_t>(n));
      } else {
        return json_error(req, http::status::bad_request, "unknown key \"" + k + "\"");
      }
    }
    faults_ = f;
    return json(req, http::status::ok, "{}");
  }

  // A JSON value as the attribute's type wants it (strings, numbers, booleans, null).
  static std::optional<Value> simple_value(const AttrMeta& meta, const rapidjson::Value& v) {
    if (v.IsNull()) return Value{};
    switch (meta.type) {
      case AttrType::String:
      case AttrType::Memo:
        if (v.IsString()) return Value::str(std::string(v.GetString(), v.GetStringLength()));
        break;
      case AttrType::DateTime:
        if (v.IsString())
          if (auto t = normalize_datetime(v.GetString()); !t.empty()) return Value::datetime(t);
        break;
      case AttrType::Guid:
        if (v.IsString())
          if (auto g = normalize_guid(v.GetString()); !g.empty()) return Value::guid(g);
        break;
      case AttrType::Int:
        if (v.IsInt64()) return Value::integer(v.GetInt64());
        break;
      case AttrType::OptionSet:
        if (v.IsInt64()) return Value::option(v.GetInt64());
        break;
      case AttrType::Bool:
        if (v.IsBool()) return Value::boolean(v.GetBool());
        break;
      default:
        break;
    }
    return std::nullopt;
  }

  // POST /admin/hooks {"before_update":[{"entity","id","systemuserid","attributes"}]}: see
  // UpdateHook. {} drops the waiting hooks.
  Reply set_hooks(const Request& req, const rapidjson::Document& doc) {
    std::vector<UpdateHook> hooks;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      std::string k = it->name.GetString();
      if (k != "before_update")
        return json_error(req, http::status::bad_request, "unknown key \"" + k + "\"");
      if (!it->value.IsArray())
        return json_error(req, http::status::bad_request, "\"before_update\" must be an array");
      for (const auto& h : it->value.GetArray()) {
        auto text = [&](const char* m) {
          return h.IsObject() && h.HasMember(m) && h[m].IsString() ? std::string(h[m].GetString())
                                                                   : std::string();
        };
        UpdateHook hook;
        hook.entity = text("entity");
        const EntityMeta* meta = find_entity(hook.entity);
        if (!meta || hook.entity == "activityparty" || hook.entity == "privilege")
          return json_error(req, http::status::bad_request,
                            "a hook needs a known \"entity\" (got \"" + hook.entity + "\")");
        hook.id = normalize_guid(text("id"));
        if (hook.id.empty())
          return json_error(req, http::status::bad_request, "a hook needs a GUID \"id\"");
        if (h.HasMember("systemuserid")) {
          hook.caller = normalize_guid(text("systemuserid"));
          if (hook.caller.empty() || !store_.user_by_id(hook.caller))
            return json_error(req, http::status::bad_request,
                              "\"systemuserid\" must name a user of the organization");
        }
        if (!h.HasMember("attributes") || !h["attributes"].IsObject())
          return json_error(req, http::status::bad_request,
                            "a hook needs an \"attributes\" object");
        for (auto a = h["attributes"].MemberBegin(); a != h["attributes"].MemberEnd(); ++a) {
          std::string name = a->name.GetString();
          auto am = meta->attrs.find(name);
          std::optional<Value> v =
              am == meta->attrs.end() ? std::nullopt : simple_value(am->second, a->value);
          if (!v)
            return json_error(req, http::status::bad_request,
                              "attribute \"" + name + "\" of " + hook.entity +
                                  ": unknown, or a value this hook cannot set");
          hook.attributes[name] = std::move(*v);
        }
        hooks.push_back(std::move(hook));
      }
    }
    service_.set_update_hooks(std::move(hooks));
    return json(req, http::status::ok, "{}");
  }

  Reply requests(const Request& req) {
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    w.StartArray();
    for (const auto& e : log_) {
      w.StartObject();
      w.Key("method");
      w.String(e.method.c_str());
      w.Key("path");
      w.String(e.path.c_str());
      w.Key("soap_action");
      w.String(e.soap_action.c_str());
      w.Key("status");
      w.Int(e.status);
      w.Key("body");
      w.String(e.body.c_str(), static_cast<rapidjson::SizeType>(e.body.size()));
      w.Key("at_ms");
      w.Int64(e.at_ms);
      w.Key("retry_after_s");
      w.Int(e.retry_after_s);
      w.Key("fault");
      w.String(e.fault.c_str());
      w.EndObject();
    }
    w.EndArray();
    return json(req, http::status::ok, b.GetString());
  }

  Reply records(const Request& req, const std::string& entity) {
    if (!find_entity(entity) || entity == "activityparty")
      return json_error(req, http::status::not_found, "unknown entity " + entity);
    rapidjson::Document out(rapidjson::kArrayType);
    auto& a = out.GetAllocator();
    for (const auto& r : store_.all(entity)) {
      rapidjson::Value o(rapidjson::kObjectType);
      o.AddMember("id", rapidjson::Value(r.id.c_str(), a), a);
      o.AddMember("version", r.version, a);
      rapidjson::Value attrs(rapidjson::kObjectType);
      for (const auto& [k, v] : r.attrs) {
        rapidjson::Value jv;
        value_to_simple_json(v, jv, a);
        attrs.AddMember(rapidjson::Value(k.c_str(), a), jv, a);
      }
      o.AddMember("attributes", attrs, a);
      out.PushBack(o, a);
    }
    rapidjson::StringBuffer b;
    rapidjson::Writer<rapidjson::StringBuffer> w(b);
    out.Accept(w);
    return json(req, http::status::ok, b.GetString());
  }

  Options opts_;
  Store store_;
  Service service_;
  FaultConfig faults_;
  std::deque<LogEntry> log_;
  std::uint64_t logged_ = 0;  // SOAP (and other POST) requests ever logged: GET /admin/stats
  std::map<std::string, std::deque<std::int64_t>> windows_;
  std::unique_ptr<JwtChecker> jwt_;
  std::string ntlm_unavailable_;
  emulator::NtlmUserFile ntlm_file_;
};

template <class Stream>
asio::awaitable<void> serve(Stream& stream, App& app, tcp::endpoint peer) {
  beast::flat_buffer buffer;
  ConnAuth conn;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(64 * 1024);
    beast::error_code ec;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      Reply r{http::status::payload_too_large, 11};
      r.set(http::field::content_type, "text/plain");
      r.body() = "request body exceeds 32 MiB\n";
      r.keep_alive(false);
      r.prepare_payload();
      co_await http::async_write(stream, r, asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    if (ec) co_return;
    Request req = parser.release();
    Outcome o = app.handle(req, peer, conn);
    if (o.latency_ms > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(o.latency_ms));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (o.drop) co_return;  // committed, but no answer: the connection just closes
    bool keep = o.reply.keep_alive();
    co_await http::async_write(stream, o.reply, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep) co_return;
  }
}

asio::awaitable<void> session(tcp::socket socket, App& app, asio::ssl::context* tls) {
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  if (tls) {
    beast::ssl_stream<beast::tcp_stream> stream(std::move(socket), *tls);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
    co_await stream.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    beast::get_lowest_layer(stream).expires_never();
    co_await serve(stream, app, peer);
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  } else {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream, app, peer);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, App& app, asio::ssl::context* tls) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), app, tls), asio::detached);
  }
}

}  // namespace

std::optional<std::string> parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& dst) -> bool {
      if (i + 1 >= argc) return false;
      dst = argv[++i];
      return true;
    };
    if (a == "--listen") {
      std::string v;
      if (!value(v)) return "--listen needs HOST:PORT";
      auto c = v.rfind(':');
      if (c == std::string::npos) return "--listen needs HOST:PORT";
      o.host = v.substr(0, c);
      try {
        int p = std::stoi(v.substr(c + 1));
        if (p < 0 || p > 65535) return "port out of range";
        o.port = static_cast<unsigned short>(p);
      } catch (const std::exception&) {
        return "bad port in --listen";
      }
    } else if (a == "--db") {
      if (!value(o.db)) return "--db needs a file";
    } else if (a == "--tls-cert") {
      if (!value(o.tls_cert)) return "--tls-cert needs a file";
    } else if (a == "--tls-key") {
      if (!value(o.tls_key)) return "--tls-key needs a file";
    } else if (a == "--throttle-limit") {
      std::string v;
      if (!value(v)) return "--throttle-limit needs a number";
      try {
        o.throttle_limit = std::stoi(v);
      } catch (const std::exception&) {
        return "bad number in --throttle-limit";
      }
      if (o.throttle_limit < 0) return "--throttle-limit must be >= 0";
    } else if (a == "--authority") {
      if (!value(o.authority) || o.authority.empty()) return "--authority needs a URL";
    } else if (a == "--authority-ca") {
      if (!value(o.authority_ca)) return "--authority-ca needs a file";
    } else if (a == "--token-leeway-s") {
      std::string v;
      if (!value(v)) return "--token-leeway-s needs a number";
      try {
        o.token_leeway_s = std::stoi(v);
      } catch (const std::exception&) {
        return "bad number in --token-leeway-s";
      }
      if (o.token_leeway_s < 0) return "--token-leeway-s must be >= 0";
    } else if (a == "--org-url") {
      if (!value(o.org_url) || o.org_url.empty()) return "--org-url needs a URL";
    } else if (a == "--seed-demo") {
      o.seed_demo = true;
    } else {
      return "unknown argument " + a;
    }
  }
  if (o.db.empty()) return "--db FILE is required";
  if (o.tls_cert.empty() != o.tls_key.empty()) return "--tls-cert and --tls-key go together";
  if (const char* t = std::getenv("CRM_EMULATOR_DEMO_TOKEN"); t && *t) o.demo_token = t;
  return std::nullopt;
}

int run(const Options& opts) {
  asio::io_context io{1};
  App app(opts);
  std::unique_ptr<asio::ssl::context> tls;
  if (!opts.tls_cert.empty()) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->use_certificate_chain_file(opts.tls_cert);
    tls->use_private_key_file(opts.tls_key, asio::ssl::context::pem);
  }
  std::optional<User> demo;
  if (opts.seed_demo) demo = app.service().seed_demo(opts.demo_token);
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(asio::ip::make_address(opts.host), opts.port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen();
  app.listening(std::string(tls ? "https://" : "http://") + opts.host + ":" +
                std::to_string(acceptor.local_endpoint().port()));
  std::cout << "listening on " << opts.host << ":" << acceptor.local_endpoint().port() << std::endl;
  if (demo) std::cout << "user " << demo->id << " token " << demo->token << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) {
    beast::error_code ec;
    acceptor.close(ec);
    io.stop();
  });
  asio::co_spawn(io, accept_loop(acceptor, app, tls.get()), asio::detached);
  io.run();
  return 0;
}

}  // namespace crm_emulator
