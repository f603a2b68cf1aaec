// HTTP front end: one io_context, one coroutine per connection. Requests are
// handled one at a time on that thread (SQLite and the service are not shared
// across threads); GetStreamingEvents keeps its connection open and is woken
// whenever a committed change produced events.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "ews_emulator/server.hpp"

#include <deque>
#include <iostream>
#include <list>
#include <random>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "service.hpp"
#include "store.hpp"
#include "util.hpp"

namespace ews_emulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

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

class App {
 public:
  App(const Options& o, const Schemas& schemas) : store_(o.db), service_(store_, schemas) {}

  Service& service() { return service_; }

  Outcome handle(const Request& req, const tcp::endpoint& peer) {
    std::string target(req.target());
    if (target.rfind("/admin/", 0) == 0) return Outcome{admin(req, peer, target)};
    Outcome o = soap(req);
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

  std::optional<User> authenticate(const Request& req) {
    std::string auth(req[http::field::authorization]);
    auto space = auth.find(' ');
    if (space == std::string::npos) return std::nullopt;
    std::string scheme = lower(auth.substr(0, space));
    std::string cred = auth.substr(space + 1);
    while (!cred.empty() && cred.front() == ' ') cred.erase(0, 1);
    if (scheme == "bearer") return store_.user_by_token(cred);
    if (scheme != "basic") return std::nullopt;
    auto decoded = base64_decode(cred);
    if (!decoded) return std::nullopt;
    auto colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    auto user = store_.user_by_email(decoded->substr(0, colon));
    if (!user || user->password != decoded->substr(colon + 1)) return std::nullopt;
    return user;
  }

  Outcome soap(const Request& req) {
    std::string target(req.target());
    std::string path = target.substr(0, target.find('?'));
    if (!iequals(path, "/EWS/Exchange.asmx"))
      return {make(req, http::status::not_found, "not found\n", "text/plain")};
    if (req.method() != http::verb::post)
      return {make(req, http::status::method_not_allowed, "POST only\n", "text/plain")};
    auto user = authenticate(req);
    if (!user) {
      Reply r = make(req, http::status::unauthorized, "", "text/plain");
      r.set(http::field::www_authenticate, "Basic realm=\"ews-emulator\"");
      r.insert(http::field::www_authenticate, "Bearer");
      return {std::move(r)};
    }
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
        if (store_.user_by_email(email))
          return json_error(req, http::status::conflict, "this user already exists");
        User u = store_.add_user(email, doc["password"].GetString());
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

  Store store_;
  Service service_;
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
    Outcome o = app.handle(req, peer);
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
