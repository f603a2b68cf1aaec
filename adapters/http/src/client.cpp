// The synchronous client on top of Beast's async operations: each stage (resolve, connect,
// TLS handshake, write, read) runs the io_context for at most its deadline, then cancels.
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <openssl/x509v3.h>
#include <cerrno>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <functional>
#include <limits>
#include <optional>
#include <string>

#include "crmsync/http/client.hpp"
#include "crmsync/http/credentials.hpp"
#include "crmsync/model/encoding.hpp"

namespace crmsync::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// An idle kept-alive connection the peer has closed (EOF or reset pending) is not reused.
bool still_open(tcp::socket& s) {
  char byte;
  ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;                                   // orderly close
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;  // nothing pending
  return true;  // unexpected bytes; the parser will complain if they are garbage
}

struct Connection {
  std::string origin;
  std::unique_ptr<tcp::socket> plain;
  std::unique_ptr<ssl::stream<tcp::socket>> secure;
  beast::flat_buffer buffer;
  bool authenticated = false;  // NTLM/Negotiate: this connection finished a handshake

  tcp::socket& lowest() { return secure ? secure->next_layer() : *plain; }
  void close() {
    error_code ignored;
    lowest().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close(ignored);
  }
};

// The wire request: method, target, Host (with the port when not the default), User-Agent,
// the caller's headers and the body, keep-alive.
Result<bhttp::request<bhttp::string_body>> build_request(const Request& request, const Url& url,
                                                         const std::string& user_agent) {
  bhttp::request<bhttp::string_body> req;
  bhttp::verb verb = bhttp::string_to_verb(request.method);
  if (verb == bhttp::verb::unknown) return Error::Invalid("unknown HTTP method " + request.method);
  req.method(verb);
  req.target(url.target);
  req.version(11);
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  if (url.port != (url.tls ? 443 : 80)) host += ":" + std::to_string(url.port);
  req.set(bhttp::field::host, host);
  req.set(bhttp::field::user_agent, user_agent);
  for (const auto& [k, v] : request.headers) req.set(k, v);
  req.body() = request.body;
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

// ------------------------------------------------------------ connection-bound auth

constexpr std::size_t kMaxAuthToken = 16 * 1024;  // an NTLM CHALLENGE is well under 1 KiB

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The WWW-Authenticate challenges of a reply as (scheme, rest) pairs. A header may list several
// ("Negotiate, NTLM"); a comma inside Basic's realm yields a junk pair nobody asks for.
std::vector<std::pair<std::string, std::string>> challenges(const Headers& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : headers) {
    if (!iequal(name, "WWW-Authenticate")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string_view part = trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      if (part.empty()) continue;
      auto space = part.find(' ');
      out.emplace_back(
          std::string(part.substr(0, space)),
          space == std::string_view::npos ? "" : std::string(trim(part.substr(space))));
    }
  }
  return out;
}

// Drives the handshake of one connection over its legs: which Authorization each leg carries,
// and when a reply is the final one. NTLM takes two token legs (NEGOTIATE, then AUTHENTICATE
// after the server's CHALLENGE); a 401 after the second is a refusal.
class AuthDriver {
 public:
  AuthDriver(Authenticator* a, std::string host, std::string origin, std::string* known_scheme)
      : auth_(a), host_(std::move(host)), origin_(std::move(origin)), known_(known_scheme) {}

  // The Authorization of the first leg: "" (plain request) unless an earlier connection to this
  // origin told which scheme works, which saves the unauthenticated leg.
  Result<std::string> first(const Connection& conn) {
    if (!auth_ || conn.authenticated || known_->empty()) return std::string();
    return start({*known_});
  }

  // After a reply on `conn`: the Authorization of the next leg, or nullopt when `status` and
  // `headers` are the final reply.
  Result<std::optional<std::string>> next(Connection& conn, int status, const Headers& headers) {
    if (!auth_) return std::optional<std::string>();
    if (status != 401) {
      // An NTLM-authenticated connection; SPNEGO's final token (mutual auth) is not checked:
      // NTLM's session keys are not used for anything here.
      if (hs_) {
        conn.authenticated = true;
        *known_ = hs_->scheme();
      }
      return std::optional<std::string>();
    }
    conn.authenticated = false;
    auto ch = challenges(headers);
    if (!hs_) {
      std::vector<std::string> offered;
      for (const auto& c : ch) offered.push_back(c.first);
      if (!auth_->accepts(offered)) return std::optional<std::string>();  // someone else's 401
      auto h = start(offered);
      if (!h) return h.error();
      return std::optional<std::string>(*h);
    }
    known_->clear();  // the next connection starts without assuming a scheme
    const std::string scheme = hs_->scheme();
    if (legs_ >= 2)
      return Error::Permission("HTTP 401 from " + origin_ + " after the last " + scheme +
                               " leg: the server refused the credentials");
    const std::string* token = nullptr;
    for (const auto& c : ch)
      if (iequal(c.first, scheme) && !c.second.empty()) token = &c.second;
    if (!token)
      return Error::Permission("HTTP 401 from " + origin_ + " without a " + scheme +
                               " challenge: the server refused the handshake");
    if (token->size() > kMaxAuthToken * 4 / 3 + 4)
      return Error::Invalid("the " + scheme + " challenge from " + origin_ + " is too large (" +
                            std::to_string(token->size()) + " bytes)");
    auto raw = base64_decode(*token);
    if (!raw)
      return Error::Invalid("the " + scheme + " challenge from " + origin_ +
                            " is not valid base64");
    auto mine = hs_->step(*raw);
    if (!mine) return mine.error().context(origin_);
    if (mine->empty())
      return Error::Permission("HTTP 401 from " + origin_ + " after a finished " + scheme +
                               " handshake: the server refused the credentials");
    ++legs_;
    return std::optional<std::string>(scheme + " " + base64_encode(*mine));
  }

  // Token legs sent so far.
  int legs() const { return legs_; }

 private:
  Result<std::string> start(const std::vector<std::string>& offered) {
    auto h = auth_->begin(host_, offered);
    if (!h) return h.error().context(origin_);
    hs_ = std::move(*h);
    auto mine = hs_->step("");
    if (!mine) return mine.error().context(origin_);
    legs_ = 1;
    return hs_->scheme() + " " + base64_encode(*mine);
  }

  Authenticator* auth_;
  std::string host_;
  std::string origin_;
  std::string* known_;
  std::unique_ptr<Handshake> hs_;
  int legs_ = 0;
};

}  // namespace

struct Client::Impl {
  ClientOptions options;
  asio::io_context ioc;
  std::unique_ptr<ssl::context> tls;
  std::unique_ptr<Connection> idle;
  std::string known_scheme;  // the auth scheme the last handshake with this server used

  // Runs the io_context until `done` or the deadline; on the deadline closes `conn`'s socket
  // (or runs `cancel`), drains the aborted handlers and returns false.
  template <class Cancel>
  bool wait(const bool& done, std::chrono::milliseconds timeout, Cancel cancel) {
    ioc.restart();
    ioc.run_for(timeout);
    if (done) return true;
    cancel();
    ioc.restart();
    ioc.run();
    return false;
  }

  Result<ssl::context*> tls_context() {
    if (tls) return tls.get();
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    error_code ec;
    if (!options.ca_file.empty()) {
      ctx->load_verify_file(options.ca_file, ec);
      if (ec) return Error::Invalid("cannot load CA file " + options.ca_file + ": " + ec.message());
    } else {
      ctx->set_default_verify_paths(ec);
      if (ec) return Error::Invalid("cannot load the system trust store: " + ec.message());
    }
    ctx->set_verify_mode(ssl::verify_peer);
    tls = std::move(ctx);
    return tls.get();
  }

  Result<std::unique_ptr<Connection>> connect(const Url& url) {
    const std::string where = url.origin();
    // Resolve.
    tcp::resolver resolver(ioc);
    bool done = false;
    error_code ec;
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url.host, std::to_string(url.port),
                           [&](error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                             done = true;
                           });
    if (!wait(done, options.resolve_timeout, [&] { resolver.cancel(); }))
      return Error::Transient("timeout resolving " + where);
    if (ec) return Error::Transient("cannot resolve " + where + ": " + ec.message());

    auto conn = std::make_unique<Connection>();
    conn->origin = where;
    ssl::context* ctx = nullptr;
    if (url.tls) {
      auto c = tls_context();
      if (!c.ok()) return c.error();
      ctx = *c;
      conn->secure = std::make_unique<ssl::stream<tcp::socket>>(ioc, *ctx);
    } else {
      conn->plain = std::make_unique<tcp::socket>(ioc);
    }
    // Connect.
    done = false;
    asio::async_connect(conn->lowest(), endpoints, [&](error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!wait(done, options.connect_timeout, [&] { conn->close(); }))
      return Error::Transient("timeout connecting to " + where);
    if (ec) return Error::Transient("cannot connect to " + where + ": " + ec.message());
    if (!url.tls) return conn;

    // TLS: SNI, chain verification (verify_peer on the context) and the host name.
    SSL* ssl_handle = conn->secure->native_handle();
    const bool ip = is_ip_literal(url.host);
    if (!ip && !SSL_set_tlsext_host_name(ssl_handle, url.host.c_str()))
      return Error::Internal("cannot set TLS SNI for " + where);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str())
                 : X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), 0);
    if (set != 1) return Error::Internal("cannot set TLS host verification for " + where);
    done = false;
    conn->secure->async_handshake(ssl::stream_base::client, [&](error_code e) {
      ec = e;
      done = true;
    });
    if (!wait(done, options.connect_timeout, [&] { conn->close(); }))
      return Error::Transient("timeout in the TLS handshake with " + where);
    if (ec) {
      long verify = SSL_get_verify_result(ssl_handle);
      if (verify != X509_V_OK) {
        // A certificate the configuration does not trust: retrying will not help.
        return Error::Permission("TLS certificate verification failed for " + where + ": " +
                                 X509_verify_cert_error_string(verify));
      }
      return Error::Transient("TLS handshake with " + where + " failed: " + ec.message());
    }
    return conn;
  }

  // One exchange on `conn`. `got_bytes` tells whether any reply byte arrived.
  Result<Response> exchange(Connection& conn, bhttp::request<bhttp::string_body>& req,
                            SendInfo& info, bool& got_bytes) {
    bool done = false;
    error_code ec;
    auto on_write = [&](error_code e, std::size_t) {
      ec = e;
      done = true;
    };
    if (conn.secure)
      bhttp::async_write(*conn.secure, req, on_write);
    else
      bhttp::async_write(*conn.plain, req, on_write);
    if (!wait(done, options.io_timeout, [&] { conn.close(); }))
      return Error::Transient("timeout sending the request to " + conn.origin);
    if (ec)
      return Error::Transient("cannot send the request to " + conn.origin + ": " + ec.message());
    info.request_written = true;

    bhttp::response_parser<bhttp::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(options.max_response_bytes);
    done = false;
    auto on_read = [&](error_code e, std::size_t) {
      ec = e;
      done = true;
    };
    // The header first: Beast 1.74 reports a Content-Length over the body limit only from
    // a header read (a whole-message read loses that error and reads the body anyway).
    if (conn.secure)
      bhttp::async_read_header(*conn.secure, conn.buffer, parser, on_read);
    else
      bhttp::async_read_header(*conn.plain, conn.buffer, parser, on_read);
    bool finished = wait(done, options.io_timeout, [&] { conn.close(); });
    if (finished && !ec && !parser.is_done()) {
      done = false;
      if (conn.secure)
        bhttp::async_read(*conn.secure, conn.buffer, parser, on_read);
      else
        bhttp::async_read(*conn.plain, conn.buffer, parser, on_read);
      finished = wait(done, options.io_timeout, [&] { conn.close(); });
    }
    got_bytes = parser.got_some();
    if (!finished) return Error::Transient("timeout waiting for the reply of " + conn.origin);
    if (ec == bhttp::error::body_limit)
      return Error::Invalid("reply of " + conn.origin + " is larger than " +
                            std::to_string(options.max_response_bytes) + " bytes");
    if (ec == bhttp::error::header_limit)
      return Error::Invalid("reply headers of " + conn.origin + " are too large");
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message)
      return Error::Invalid("malformed HTTP reply from " + conn.origin + ": " + ec.message());
    if (ec)
      return Error::Transient("connection to " + conn.origin +
                              " lost before the reply: " + ec.message());
    auto msg = parser.release();
    Response out;
    out.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg)
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = std::move(msg.body());
    if (!msg.keep_alive()) conn.close();
    return out;
  }

  // The legs of a connection-bound handshake (none without an authenticator or a 401 it
  // answers): `leg` sends `req` on the connection and gives the reply's status and headers;
  // after a 401 the handshake answers, `between` readies the connection for the next leg and
  // `req` goes again with the next token. The request, body included, is resent on each leg:
  // always a complete HTTP message, and EWS bodies are small (a few KiB more per new
  // connection). A server that closes the connection after its first 401 gets the handshake
  // on a fresh one; closing later breaks it (kTransient).
  using Leg = std::function<Result<std::pair<int, Headers>>(Connection&)>;
  Result<void> with_handshake(std::unique_ptr<Connection>& conn, const Url& url,
                              bhttp::request<bhttp::string_body>& req, const Leg& leg,
                              const std::function<Result<void>()>& between = {}) {
    AuthDriver auth(options.authenticator.get(), url.host, conn->origin, &known_scheme);
    if (options.authenticator) req.erase(bhttp::field::authorization);  // an earlier attempt's
    auto first = auth.first(*conn);
    if (!first) return first.error();
    if (!first->empty()) req.set(bhttp::field::authorization, *first);
    for (int n = 0;; ++n) {
      if (n > 0 && !conn->lowest().is_open()) {
        if (auth.legs() != 1)
          return Error::Transient(conn->origin + " closed the connection during the " +
                                  "authentication handshake");
        auto fresh = connect(url);
        if (!fresh) return fresh.error();
        conn = std::move(*fresh);
      }
      auto reply = leg(*conn);
      if (!reply) return reply.error();
      auto next = auth.next(*conn, reply->first, reply->second);
      if (!next) return next.error();
      if (!*next) return Ok();  // the reply (a 401 too when no handshake answers it)
      if (between) CRMSYNC_TRY(between());
      req.set(bhttp::field::authorization, **next);
    }
  }

  // exchange() within with_handshake. `info` describes the last leg (the 401 legs were
  // refused unacted).
  Result<Response> authed_exchange(std::unique_ptr<Connection>& conn, const Url& url,
                                   bhttp::request<bhttp::string_body>& req, SendInfo& info,
                                   bool& got_bytes) {
    std::optional<Response> last;
    auto done =
        with_handshake(conn, url, req, [&](Connection& c) -> Result<std::pair<int, Headers>> {
          info = {};
          auto res = exchange(c, req, info, got_bytes);
          if (!res) return res.error();
          last = std::move(*res);
          return std::pair<int, Headers>(last->status, last->headers);
        });
    if (!done) return done.error();
    return std::move(*last);
  }
};

namespace {

// A streamed reply on a connection (and io_context) of its own. A read that found nothing in
// time stays pending: the next read() waits on it, so no byte is lost to a cancellation.
class StreamReader final : public BodyStream {
 public:
  StreamReader(std::unique_ptr<Client::Impl> impl, std::unique_ptr<Connection> conn)
      : impl_(std::move(impl)), conn_(std::move(conn)) {}
  ~StreamReader() override {
    conn_->close();
    if (pending_) {  // let the aborted read's handler run while `this` is alive
      impl_->ioc.restart();
      impl_->ioc.run();
    }
  }

  // Writes the request and reads the reply's header, each within the io deadline; with an
  // authenticator, first the handshake's legs on this connection (Impl::with_handshake).
  Result<void> start(const Url& url, bhttp::request<bhttp::string_body>& req) {
    return impl_->with_handshake(
        conn_, url, req,
        [&](Connection&) -> Result<std::pair<int, Headers>> {
          parser_.emplace();
          parser_->header_limit(64 * 1024);
          parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
          if (auto r = write_and_read_header(req); !r) return r.error();
          status_ = static_cast<int>(parser_->get().result_int());
          Headers headers;
          for (const auto& field : parser_->get())
            headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
          return std::pair<int, Headers>(status_, std::move(headers));
        },
        [&]() -> Result<void> {
          // The 401's (small) body must be read off before the next leg on this connection.
          CRMSYNC_TRY(drain());
          if (!parser_->get().keep_alive()) conn_->close();
          return Ok();
        });
  }

  int status() const override { return status_; }

  Result<bool> read(std::string& out, std::chrono::milliseconds timeout) override {
    if (ended_) return false;
    if (!pending_) {
      if (parser_->is_done()) return finish();
      parser_->get().body().data = chunk_.data();
      parser_->get().body().size = chunk_.size();
      pending_ = true;
      done_ = false;
      auto on_read = [this](error_code e, std::size_t) {
        ec_ = e;
        done_ = true;
      };
      if (conn_->secure)
        bhttp::async_read_some(*conn_->secure, conn_->buffer, *parser_, on_read);
      else
        bhttp::async_read_some(*conn_->plain, conn_->buffer, *parser_, on_read);
    }
    impl_->ioc.restart();
    if (timeout > std::chrono::milliseconds(0))
      impl_->ioc.run_for(timeout);
    else
      impl_->ioc.poll();      // only what has arrived already
    if (!done_) return true;  // nothing yet; the read stays pending
    pending_ = false;
    out.append(chunk_.data(), chunk_.size() - parser_->get().body().size);
    if (ec_ && ec_ != bhttp::error::need_buffer) {
      ended_ = true;
      conn_->close();
      return Error::Transient("the stream from " + conn_->origin + " broke: " + ec_.message());
    }
    if (parser_->is_done()) return finish();
    return true;
  }

 private:
  Result<void> write_and_read_header(bhttp::request<bhttp::string_body>& req) {
    bool done = false;
    error_code ec;
    auto on_done = [&](error_code e, std::size_t) {
      ec = e;
      done = true;
    };
    if (conn_->secure)
      bhttp::async_write(*conn_->secure, req, on_done);
    else
      bhttp::async_write(*conn_->plain, req, on_done);
    if (!impl_->wait(done, impl_->options.io_timeout, [&] { conn_->close(); }))
      return Error::Transient("timeout sending the request to " + conn_->origin);
    if (ec)
      return Error::Transient("cannot send the request to " + conn_->origin + ": " + ec.message());
    done = false;
    if (conn_->secure)
      bhttp::async_read_header(*conn_->secure, conn_->buffer, *parser_, on_done);
    else
      bhttp::async_read_header(*conn_->plain, conn_->buffer, *parser_, on_done);
    if (!impl_->wait(done, impl_->options.io_timeout, [&] { conn_->close(); }))
      return Error::Transient("timeout waiting for the reply of " + conn_->origin);
    if (ec == bhttp::error::header_limit)
      return Error::Invalid("reply headers of " + conn_->origin + " are too large");
    if (ec)
      return Error::Transient("connection to " + conn_->origin +
                              " lost before the reply: " + ec.message());
    return Ok();
  }

  // Reads the rest of a handshake leg's 401 reply (at most 64 KiB) within the io deadline.
  Result<void> drain() {
    std::size_t total = 0;
    while (!parser_->is_done()) {
      parser_->get().body().data = chunk_.data();
      parser_->get().body().size = chunk_.size();
      bool done = false;
      error_code ec;
      auto on_read = [&](error_code e, std::size_t) {
        ec = e;
        done = true;
      };
      if (conn_->secure)
        bhttp::async_read_some(*conn_->secure, conn_->buffer, *parser_, on_read);
      else
        bhttp::async_read_some(*conn_->plain, conn_->buffer, *parser_, on_read);
      if (!impl_->wait(done, impl_->options.io_timeout, [&] { conn_->close(); }))
        return Error::Transient("timeout reading a 401 reply of " + conn_->origin);
      if (ec && ec != bhttp::error::need_buffer)
        return Error::Transient("connection to " + conn_->origin +
                                " lost during the authentication handshake: " + ec.message());
      total += chunk_.size() - parser_->get().body().size;
      if (total > 64 * 1024)
        return Error::Invalid("a 401 reply of " + conn_->origin + " is larger than 64 KiB");
    }
    return Ok();
  }

  bool finish() {
    ended_ = true;
    conn_->close();
    return false;
  }

  std::unique_ptr<Client::Impl> impl_;  // its io_context outlives the connection
  std::unique_ptr<Connection> conn_;
  // One per leg of the handshake; the last one reads the streamed reply.
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  std::array<char, 16 * 1024> chunk_{};
  int status_ = 0;
  bool pending_ = false;
  bool done_ = false;
  bool ended_ = false;
  error_code ec_;
};

}  // namespace

Result<std::unique_ptr<BodyStream>> Transport::open_stream(const Request&) {
  return Error::Invalid("this transport cannot stream");
}

Result<std::unique_ptr<BodyStream>> Client::open_stream(const Request& request) {
  auto url = Url::parse(request.url);
  if (!url.ok()) return url.error();
  auto built = build_request(request, *url, impl_->options.user_agent);
  if (!built.ok()) return built.error();
  auto impl = std::make_unique<Impl>();
  impl->options = impl_->options;
  impl->known_scheme = impl_->known_scheme;
  auto conn = impl->connect(*url);
  if (!conn.ok()) return conn.error();
  auto reader = std::make_unique<StreamReader>(std::move(impl), std::move(*conn));
  if (auto r = reader->start(*url, *built); !r.ok()) return r.error();
  return std::unique_ptr<BodyStream>(std::move(reader));
}

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Client::~Client() {
  if (impl_->idle) impl_->idle->close();
}

Result<Response> Client::send(const Request& request, SendInfo* info_out) {
  SendInfo local_info;
  SendInfo& info = info_out ? *info_out : local_info;
  info = {};
  auto url = Url::parse(request.url);
  if (!url.ok()) return url.error();
  auto built = build_request(request, *url, impl_->options.user_agent);
  if (!built.ok()) return built.error();
  auto& req = *built;

  const std::string origin = url->origin();
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<Connection> conn;
    bool reused = false;
    if (impl_->idle && impl_->idle->origin == origin && impl_->idle->lowest().is_open() &&
        still_open(impl_->idle->lowest())) {
      conn = std::move(impl_->idle);
      reused = true;
    } else {
      if (impl_->idle) impl_->idle->close();
      impl_->idle.reset();
      auto fresh = impl_->connect(*url);
      if (!fresh.ok()) return fresh.error();
      conn = std::move(fresh.value());
    }
    bool got_bytes = false;
    SendInfo attempt_info;
    auto res = impl_->authed_exchange(conn, *url, req, attempt_info, got_bytes);
    const bool resent = info.request_written || info.resent_after_write;
    info = attempt_info;
    info.resent_after_write = resent && attempt > 0;
    if (res.ok()) {
      if (conn->lowest().is_open()) impl_->idle = std::move(conn);
      return res;
    }
    conn->close();
    // A kept-alive connection the server had already closed: try once on a fresh one.
    if (request.may_resend && reused && !got_bytes && attempt == 0 &&
        res.error().is(ErrorKind::kTransient) &&
        res.error().message().find("timeout") == std::string::npos)
      continue;
    return res;
  }
}

}  // namespace crmsync::http
