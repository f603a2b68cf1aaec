// HTTP front end: one io_context, one coroutine per connection. Requests are
// handled one at a time on that thread (SQLite and the service are not shared
// across threads); GetStreamingEvents keeps its connection open and is woken
// whenever a committed change produced events.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "ews_emulator/server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <list>
#include <random>
#include <sstream>
#include <variant>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "emulator/negotiate.hpp"
#include "service.hpp"
#include "store.hpp"
#include "util.hpp"

namespace ews_emulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using emulator::Acceptor;
using emulator::negotiate_unavailable;

namespace {

constexpr std::size_t kSoapLimit = 8u * 1024u * 1024u;   // larger SOAP bodies get a fault
constexpr std::size_t kHardLimit = 64u * 1024u * 1024u;  // beyond this the connection closes
constexpr std::size_t kLogEntries = 10000;
constexpr std::size_t kLogBody = 1u << 20;

struct FaultConfig {
  int latency_ms = 0;
  double error_rate = 0;
  double drop_after_commit_rate = 0;
  double throttle_rate = 0;
  double busy_in_response_rate = 0;  // ErrorServerBusy inside an HTTP 200 response
  int fail_nth = 0;                  // 0: off; counts down per SOAP request
  int backoff_ms = 2000;
  std::mt19937_64 rng{0};
};

struct LogEntry {
  std::string method, path, soap_action, body;
  int status;
};

using Request = http::request<http::string_body>;
using Reply = http::response<http::string_body>;

struct Outcome {
  Reply reply;
  bool drop = false;
  int latency_ms = 0;
  std::optional<StreamPlan> stream;
};

bool iequals(std::string_view a, std::string_view b) {
  return lower(a) == lower(b);
}

// NTLM authenticates a connection, not a request: the handshake's state and its outcome live
// with the connection, and a new connection starts over.
struct ConnAuth {
  std::unique_ptr<Acceptor> acceptor;  // a handshake in progress
  std::string scheme;                  // its scheme as the client wrote it
  std::string email;                   // the user this connection authenticated as
};

class App {
 public:
  App(const Options& o, const Schemas& schemas)
      : store_(o.db), service_(store_, schemas), options_(o) {
    ntlm_unavailable_ = negotiate_unavailable();
    // gss-ntlmssp reads its users from NTLM_USER_FILE: a private file in a temp dir of ours.
    std::string tmpl = (std::filesystem::temp_directory_path() / "ews-emulator-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temporary directory");
    user_dir_ = tmpl;
    ::setenv("NTLM_USER_FILE", (user_dir_ / "ntlm-users").c_str(), 1);
    write_user_file();
  }
  ~App() {
    std::error_code ec;
    std::filesystem::remove_all(user_dir_, ec);
  }

  Service& service() { return service_; }

  Outcome handle(const Request& req, const tcp::endpoint& peer, ConnAuth& conn) {
    std::string target(req.target());
    if (target.rfind("/admin/", 0) == 0) return Outcome{admin(req, peer, target)};
    Outcome o = soap(req, conn);
    if (log_.size() >= kLogEntries) log_.pop_front();
    log_.push_back(LogEntry{
        std::string(req.method_string()), target, std::string(req[http::field::soapaction]),
        req.body().substr(0, kLogBody), o.drop ? 0 : static_cast<int>(o.reply.result_int())});
    return o;
  }

  // Stream waiters: woken (timer cancelled) when events are committed.
  std::list<asio::steady_timer*> waiters;

 private:
  Reply make(const Request& req, http::status st, std::string body, const char* type) {
    Reply r{st, req.version()};
    r.set(http::field::server, "ews-emulator");
    r.set(http::field::content_type, type);
    r.keep_alive(req.keep_alive());
    r.body() = std::move(body);
    r.prepare_payload();
    return r;
  }

  Reply fault_reply(const Request& req, const Fault& f) {
    return make(req, static_cast<http::status>(f.http_status), Service::fault_envelope(f),
                "text/xml; charset=utf-8");
  }

  bool roll(double rate) {
    if (rate <= 0) return false;
    return std::uniform_real_distribution<double>(0, 1)(faults_.rng) < rate;
  }

  // A 401 offering every scheme this server takes; `token` continues a handshake instead.
  Reply unauthorized(const Request& req, const std::string& scheme = "",
                     const std::string& token = "") {
    Reply r = make(req, http::status::unauthorized, "", "text/plain");
    if (!scheme.empty()) {
      r.set(http::field::www_authenticate, scheme + " " + base64_encode(token));
      return r;
    }
    r.set(http::field::www_authenticate, "Basic realm=\"ews-emulator\"");
    r.insert(http::field::www_authenticate, "Bearer");
    if (ntlm_unavailable_.empty() && options_.offer_negotiate)
      r.insert(http::field::www_authenticate, "Negotiate");
    if (ntlm_unavailable_.empty() && options_.offer_ntlm)
      r.insert(http::field::www_authenticate, "NTLM");
    return r;
  }

  // The user of this request, or the reply that refuses it (a 401 that may carry the next
  // token of an NTLM handshake). `final_token`: SPNEGO's last word for a 200.
  std::variant<User, Reply> authenticate(const Request& req, ConnAuth& conn,
                                         std::string& final_token) {
    std::string auth(req[http::field::authorization]);
    auto space = auth.find(' ');
    std::string scheme = lower(auth.substr(0, space));
    std::string cred = space == std::string::npos ? "" : auth.substr(space + 1);
    while (!cred.empty() && cred.front() == ' ') cred.erase(0, 1);
    if (auth.empty() && !conn.email.empty()) {
      if (auto u = store_.user_by_email(conn.email)) return *u;  // an NTLM-authenticated connection
      conn.email.clear();
    }
    if ((scheme == "negotiate" && options_.offer_negotiate) ||
        (scheme == "ntlm" && options_.offer_ntlm)) {
      if (!ntlm_unavailable_.empty()) return unauthorized(req);
      conn.email.clear();
      auto token = base64_decode(cred);
      if (!token || token->empty()) {
        conn.acceptor.reset();
        return unauthorized(req);
      }
      // A first leg (NTLM's NEGOTIATE, SPNEGO's NegTokenInit) always starts over, as IIS does.
      const bool first_leg =
          token->rfind(std::string("NTLMSSP\0\1\0\0\0", 12), 0) == 0 || token->front() == '\x60';
      if (!conn.acceptor || first_leg || lower(auth.substr(0, space)) != lower(conn.scheme)) {
        conn.acceptor = std::make_unique<Acceptor>();
        conn.scheme = auth.substr(0, space);
      }
      Acceptor::Step step = conn.acceptor->step(*token);
      if (step.state == Acceptor::Step::kContinue)
        return unauthorized(req, conn.scheme, step.token);
      conn.acceptor.reset();
      if (step.state == Acceptor::Step::kFailed) {
        std::cerr << "ews-emulator: NTLM authentication failed: " << step.error << "\n";
        return unauthorized(req);
      }
      for (const User& u : store_.users())
        if (iequals(u.ntlm_user, step.name)) {
          conn.email = u.email;
          final_token = step.token;
          return u;
        }
      std::cerr << "ews-emulator: NTLM user " << step.name << " has no mailbox\n";
      return unauthorized(req);
    }
    std::optional<User> user;
    if (scheme == "bearer") {
      user = store_.user_by_token(cred);
    } else if (scheme == "basic") {
      auto decoded = base64_decode(cred);
      auto colon = decoded ? decoded->find(':') : std::string::npos;
      if (colon != std::string::npos) {
        user = store_.user_by_email(decoded->substr(0, colon));
        if (user && user->password != decoded->substr(colon + 1)) user.reset();
      }
    }
    // A user made with auth "negotiate" is refused Basic and Bearer, as an on-premises server
    // with only Windows authentication is.
    if (!user || user->auth == "negotiate") return unauthorized(req);
    return *user;
  }

  Outcome soap(const Request& req, ConnAuth& conn) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    if (!iequals(path, "/EWS/Exchange.asmx"))
      return {make(req, http::status::not_found, "not found\n", "text/plain")};
    if (req.method() != http::verb::post)
      return {make(req, http::status::method_not_allowed, "POST only\n", "text/plain")};
    std::string final_token;
    auto authenticated = authenticate(req, conn, final_token);
    if (auto* refused = std::get_if<Reply>(&authenticated)) return {std::move(*refused)};
    const User* user = &std::get<User>(authenticated);
    Outcome out = soap_as(req, user);
    if (!final_token.empty())
      out.reply.set(http::field::www_authenticate, conn.scheme + " " + base64_encode(final_token));
    return out;
  }

  Outcome soap_as(const Request& req, const User* user) {
    Outcome out;
    out.latency_ms = faults_.latency_ms;
    if (req.body().size() > kSoapLimit) {
      Fault f{"ErrorInvalidRequest", "The request is too large.",
              "The request exceeds the maximum allowed size of 8388608 bytes.", "", 500};
      out.reply = fault_reply(req, f);
      return out;
    }
    bool nth = false;
    if (faults_.fail_nth > 0 && --faults_.fail_nth == 0) nth = true;
    if (nth || roll(faults_.error_rate)) {
      Fault f{"ErrorInternalServerError",
              "An internal server error occurred. (injected by ews-emulator)",
              "An internal server error occurred. The operation failed.", "", 500};
      out.reply = fault_reply(req, f);
      return out;
    }
    if (roll(faults_.throttle_rate)) {
      out.reply = fault_reply(req, Service::server_busy(faults_.backoff_ms));
      return out;
    }
    std::optional<int> busy;
    if (roll(faults_.busy_in_response_rate)) busy = faults_.backoff_ms;
    bool drop = !busy && roll(faults_.drop_after_commit_rate);
    try {
      SoapResult r = service_.handle(req.body(), *user, busy);
      out.reply = make(req, http::status::ok, std::move(r.body), "text/xml; charset=utf-8");
      out.stream = std::move(r.stream);
    } catch (const Fault& f) {
      out.reply = fault_reply(req, f);
    } catch (const std::exception& e) {
      Fault f{"ErrorInternalServerError",
              std::string("An internal server error occurred: ") + e.what(),
              "An internal server error occurred. The operation failed.", "", 500};
      out.reply = fault_reply(req, f);
    }
    // Only a committed (successful) request is dropped: that is the interesting case.
    out.drop = drop && !out.stream && out.reply.result() == http::status::ok;
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

  Reply admin(const Request& req, const tcp::endpoint& peer, const std::string& target) {
    if (!peer.address().is_loopback())
      return json_error(req, http::status::forbidden, "the admin API is served on loopback only");
    rapidjson::Document doc;
    if (req.method() == http::verb::post) {
      const std::string& b = req.body();
      if (b.find_first_not_of(" \t\r\n") == std::string::npos)
        doc.Parse("{}");
      else
        doc.Parse(b.c_str(), b.size());
      if (doc.HasParseError() || !doc.IsObject())
        return json_error(req, http::status::bad_request, "the body must be a JSON object");
    }
    try {
      if (target == "/admin/users" && req.method() == http::verb::post) {
        if (!doc.HasMember("email") || !doc["email"].IsString() || !doc.HasMember("password") ||
            !doc["password"].IsString() || doc["email"].GetStringLength() == 0)
          return json_error(req, http::status::bad_request,
                            "\"email\" and \"password\" must be strings");
        std::string email = doc["email"].GetString();
        std::string password = doc["password"].GetString();
        std::string auth = "any";
        if (doc.HasMember("auth")) {
          if (!doc["auth"].IsString() || (doc["auth"].GetString() != std::string("any") &&
                                          doc["auth"].GetString() != std::string("negotiate")))
            return json_error(req, http::status::bad_request,
                              "\"auth\" must be \"any\" or \"negotiate\"");
          auth = doc["auth"].GetString();
        }
        // The NTLM account: "DOMAIN\\user"; by default the address's domain and local part.
        auto at = email.find('@');
        std::string ntlm_user =
            at == std::string::npos ? "" : email.substr(at + 1) + "\\" + email.substr(0, at);
        if (doc.HasMember("ntlm_user")) {
          if (!doc["ntlm_user"].IsString())
            return json_error(req, http::status::bad_request, "\"ntlm_user\" must be a string");
          ntlm_user = doc["ntlm_user"].GetString();
        }
        if (auth == "negotiate" && !ntlm_unavailable_.empty())
          return json_error(req, http::status::bad_request,
                            "NTLM is not available: " + ntlm_unavailable_);
        if (auto why = ntlm_account_problem(ntlm_user, password); !why.empty()) {
          if (auth == "negotiate" || doc.HasMember("ntlm_user"))
            return json_error(req, http::status::bad_request, why);
          ntlm_user.clear();  // a user for Basic/Bearer whose address makes no NTLM account
        }
        if (store_.user_by_email(email))
          return json_error(req, http::status::conflict, "this user already exists");
        for (const User& other : store_.users())
          if (!ntlm_user.empty() && iequals(other.ntlm_user, ntlm_user))
            return json_error(req, http::status::conflict, "this NTLM user already exists");
        User u = store_.add_user(email, password, auth, ntlm_user);
        write_user_file();
        rapidjson::StringBuffer b;
        rapidjson::Writer<rapidjson::StringBuffer> w(b);
        w.StartObject();
        w.Key("email");
        w.String(u.email.c_str());
        w.Key("token");
        w.String(u.token.c_str());
        w.EndObject();
        return json(req, http::status::ok, b.GetString());
      }
      if (target == "/admin/faults" && req.method() == http::verb::post)
        return set_faults(req, doc);
      if (target == "/admin/requests" && req.method() == http::verb::get) return requests(req);
      if (target == "/admin/reset" && req.method() == http::verb::post) {
        store_.reset();
        service_.reset();
        write_user_file();
        log_.clear();
        faults_ = FaultConfig{};
        return json(req, http::status::ok, "{}");
      }
    } catch (const std::exception& e) {
      return json_error(req, http::status::internal_server_error, e.what());
    }
    return json_error(req, http::status::not_found, "unknown admin endpoint " + target);
  }

  Reply set_faults(const Request& req, const rapidjson::Document& doc) {
    FaultConfig f;
    for (auto it = doc.MemberBegin(); it != doc.MemberEnd(); ++it) {
      std::string k = it->name.GetString();
      const auto& v = it->value;
      if (!v.IsNumber())
        return json_error(req, http::status::bad_request, "\"" + k + "\" must be a number");
      double d = v.GetDouble();
      if (k == "error_rate" || k == "drop_after_commit_rate" || k == "throttle_rate" ||
          k == "busy_in_response_rate") {
        if (d < 0 || d > 1)
          return json_error(req, http::status::bad_request, "\"" + k + "\" must be within 0..1");
        (k == "error_rate"              ? f.error_rate
         : k == "throttle_rate"         ? f.throttle_rate
         : k == "busy_in_response_rate" ? f.busy_in_response_rate
                                        : f.drop_after_commit_rate) = d;
      } else if (k == "latency_ms" || k == "fail_nth" || k == "seed" || k == "backoff_ms") {
        if (d < 0 || d > 1e9 || d != static_cast<double>(static_cast<long long>(d)))
          return json_error(req, http::status::bad_request,
                            "\"" + k + "\" must be a non-negative integer");
        auto n = static_cast<long long>(d);
        if (k == "latency_ms") f.latency_ms = static_cast<int>(n);
        if (k == "fail_nth") f.fail_nth = static_cast<int>(n);
        if (k == "backoff_ms") f.backoff_ms = static_cast<int>(n);
        if (k == "seed") f.rng.seed(static_cast<std::uint64_t>(n));
      } else {
        return json_error(req, http::status::bad_request, "unknown key \"" + k + "\"");
      }
    }
    faults_ = f;
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
      w.EndObject();
    }
    w.EndArray();
    return json(req, http::status::ok, b.GetString());
  }

  // "" when `account` ("DOMAIN\\user") and `password` fit a line DOMAIN:user:password.
  static std::string ntlm_account_problem(const std::string& account, const std::string& password) {
    auto slash = account.find('\\');
    if (slash == std::string::npos || slash == 0 || slash + 1 == account.size() ||
        account.find_first_of(":\r\n", 0) != std::string::npos ||
        account.find('\\', slash + 1) != std::string::npos)
      return "\"ntlm_user\" must be DOMAIN\\user (no ':')";
    if (password.find_first_of("\r\n") != std::string::npos)
      return "an NTLM user's password cannot contain line breaks";
    return "";
  }

  // NTLM_USER_FILE from the users (0600; replaced whole, so the plugin never reads half).
  void write_user_file() {
    const auto path = user_dir_ / "ntlm-users";
    const auto tmp = user_dir_ / "ntlm-users.tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      ::chmod(tmp.c_str(), 0600);
      for (const User& u : store_.users()) {
        auto slash = u.ntlm_user.find('\\');
        if (slash == std::string::npos) continue;
        f << u.ntlm_user.substr(0, slash) << ':' << u.ntlm_user.substr(slash + 1) << ':'
          << u.password << '\n';
      }
      if (!f) throw std::runtime_error("cannot write " + tmp.string());
    }
    std::filesystem::rename(tmp, path);
  }

  Store store_;
  Service service_;
  Options options_;
  std::string ntlm_unavailable_;
  std::filesystem::path user_dir_;
  FaultConfig faults_;
  std::deque<LogEntry> log_;
};

// Streams GetStreamingEvents envelopes as HTTP chunks until the connection
// timeout, the client going away, or the subscriptions disappearing.
asio::awaitable<void> stream_events(beast::tcp_stream& stream, App& app, const Request& req,
                                    const StreamPlan& plan, std::string first) {
  beast::error_code ec;
  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::server, "ews-emulator");
  head.set(http::field::content_type, "text/xml; charset=utf-8");
  head.chunked(true);
  head.keep_alive(false);
  http::response_serializer<http::empty_body> sr{head};
  co_await http::async_write_header(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  auto send = [&](const std::string& s) -> asio::awaitable<bool> {
    beast::error_code wec;
    co_await asio::async_write(stream.socket(), http::make_chunk(asio::buffer(s)),
                               asio::redirect_error(asio::use_awaitable, wec));
    co_return !wec;
  };
  if (!co_await send(first)) co_return;
  const auto keepalive = app.service().minute() / 2;
  auto end = std::chrono::steady_clock::now() + app.service().minute() * plan.timeout_minutes;
  auto next_keepalive = std::chrono::steady_clock::now() + keepalive;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Detect the client closing the connection while we wait. The handler may run
  // after this coroutine ended, so it only touches shared state.
  struct Watch {
    bool closed = false;
    asio::steady_timer* timer = nullptr;
    std::array<char, 1> byte{};
  };
  auto watch = std::make_shared<Watch>();
  watch->timer = &timer;
  stream.socket().async_read_some(asio::buffer(watch->byte),
                                  [watch](beast::error_code e, std::size_t) {
                                    if (!e) return;
                                    watch->closed = true;
                                    if (watch->timer) watch->timer->cancel();
                                  });
  bool& closed = watch->closed;
  for (;;) {
    bool alive = false;
    for (const auto& id : plan.subscriptions)
      alive = alive || app.service().subscription_exists(id);
    if (closed || !alive) break;
    std::string events = app.service().stream_events(plan.subscriptions);
    if (!events.empty()) {
      if (!co_await send(events)) co_return;
      next_keepalive = std::chrono::steady_clock::now() + keepalive;
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= end) break;
    if (now >= next_keepalive) {
      if (!co_await send(app.service().stream_status("OK"))) co_return;
      next_keepalive = now + keepalive;
    }
    timer.expires_at(std::min(end, next_keepalive));
    app.waiters.push_back(&timer);
    auto pos = std::prev(app.waiters.end());
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    app.waiters.erase(pos);
  }
  if (!closed) {
    if (co_await send(app.service().stream_status("Closed")))
      co_await asio::async_write(stream.socket(), http::make_chunk_last(),
                                 asio::redirect_error(asio::use_awaitable, ec));
  }
  watch->timer = nullptr;
  stream.socket().cancel(ec);
}

asio::awaitable<void> serve(beast::tcp_stream& stream, App& app, tcp::endpoint peer) {
  beast::flat_buffer buffer;
  ConnAuth auth;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kHardLimit);
    parser.header_limit(64 * 1024);
    beast::error_code ec;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      Reply r{http::status::payload_too_large, 11};
      r.set(http::field::content_type, "text/plain");
      r.body() = "request body exceeds 64 MiB\n";
      r.keep_alive(false);
      r.prepare_payload();
      co_await http::async_write(stream, r, asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    if (ec) co_return;
    Request req = parser.release();
    Outcome o = app.handle(req, peer, auth);
    if (o.latency_ms > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(o.latency_ms));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (o.drop) co_return;  // committed, but no answer: the connection just closes
    if (o.stream) {
      co_await stream_events(stream, app, req, *o.stream, o.reply.body());
      co_return;
    }
    bool keep = o.reply.keep_alive();
    co_await http::async_write(stream, o.reply, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep) co_return;
  }
}

asio::awaitable<void> session(tcp::socket socket, App& app) {
  beast::error_code ec;
  auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  beast::tcp_stream stream(std::move(socket));
  co_await serve(stream, app, peer);
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, App& app) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), app), asio::detached);
  }
}

}  // namespace

std::optional<std::string> parse_args(int argc, char** argv, Options& o) {
#ifdef EWS_EMULATOR_DEFAULT_SCHEMAS
  o.schemas = EWS_EMULATOR_DEFAULT_SCHEMAS;
#endif
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
    } else if (a == "--schemas") {
      if (!value(o.schemas)) return "--schemas needs a directory";
    } else if (a == "--minute-ms") {
      std::string v;
      if (!value(v)) return "--minute-ms needs a number";
      try {
        o.minute_ms = std::stoi(v);
      } catch (const std::exception&) {
        return "bad --minute-ms";
      }
      if (o.minute_ms < 10) return "--minute-ms must be at least 10";
    } else if (a == "--ntlm-schemes") {
      std::string v;
      if (!value(v)) return "--ntlm-schemes needs Negotiate,NTLM or one of them";
      o.offer_negotiate = o.offer_ntlm = false;
      std::stringstream list(v);
      for (std::string item; std::getline(list, item, ',');) {
        if (iequals(item, "negotiate"))
          o.offer_negotiate = true;
        else if (iequals(item, "ntlm"))
          o.offer_ntlm = true;
        else
          return "--ntlm-schemes: unknown scheme " + item;
      }
    } else {
      return "unknown argument " + a;
    }
  }
  if (o.db.empty()) return "--db FILE is required";
  return std::nullopt;
}

int run(const Options& opts) {
  Schemas schemas;
  std::string why;
  if (!schemas.load(opts.schemas, why))
    std::cerr << "ews-emulator: no EWS schema available (" << why
              << "); requests are NOT schema-validated\n";
  asio::io_context io{1};
  App app(opts, schemas);
  app.service().set_minute(std::chrono::milliseconds(opts.minute_ms));
  app.service().on_events([&app] {
    for (auto* t : app.waiters) t->cancel();
  });
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(asio::ip::make_address(opts.host), opts.port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen();
  std::cout << "listening on " << opts.host << ":" << acceptor.local_endpoint().port() << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) {
    beast::error_code ec;
    acceptor.close(ec);
    io.stop();
  });
  asio::co_spawn(io, accept_loop(acceptor, app), asio::detached);
  io.run();
  return 0;
}

}  // namespace ews_emulator
