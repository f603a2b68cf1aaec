#include "crmsync/api/server.hpp"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <optional>

namespace crmsync::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(net::io_context& io_, Backend& backend_, ServerOptions options_)
      : io(io_), backend(backend_), options(std::move(options_)), acceptor(net::make_strand(io_)) {}

  void accept();

  net::io_context& io;
  Backend& backend;
  ServerOptions options;
  tcp::acceptor acceptor;
  RouteContext context;
  std::atomic<std::size_t> sessions{0};
  std::atomic<std::uint16_t> bound_port{0};
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<HttpServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)), timer_(stream_.get_executor()) {}
  ~Session() { server_->sessions.fetch_sub(1); }

  void run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  const ServerOptions& opts() const { return server_->options; }

  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts().max_header));
    parser_->body_limit(opts().max_body);
    stream_.expires_after(opts().read_timeout);  // the deadline before every read
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted)
      return close();
    keep_alive_ = false;
    if (ec == http::error::body_limit) return send(error_response(413, "request body too large"));
    if (ec == http::error::header_limit)
      return send(error_response(431, "request header fields too large"));
    if (ec) return send(error_response(400, "malformed request"));

    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.host = std::string(msg[http::field::host]);
    req.authorization = std::string(msg[http::field::authorization]);
    req.body = std::move(msg.body());
    auto state = server_->backend.state();
    Routed routed = route(req, *state, server_->context);
    switch (routed.defer) {
      case Routed::Defer::kNone:
        return send(std::move(routed.response));
      case Routed::Defer::kSync: {
        if (!routed.sync.wait) {
          auto id = server_->backend.request_sync(routed.sync, nullptr);
          return send(sync_accepted_response(id));
        }
        auto self = shared_from_this();
        auto id = std::make_shared<std::int64_t>(0);
        *id =
            server_->backend.request_sync(routed.sync, [self, id](const status::CycleInfo& cycle) {
              net::post(self->stream_.get_executor(),
                        [self, id, cycle] { self->send(sync_done_response(*id, cycle)); });
            });
        return;
      }
      case Routed::Defer::kDecision: {
        auto self = shared_from_this();
        server_->backend.decide(routed.decision, [self](const status::DecisionReply& reply) {
          net::post(self->stream_.get_executor(),
                    [self, reply] { self->send(decision_response(reply)); });
        });
        return;
      }
      case Routed::Defer::kEvents:
        events_after_ = routed.events_after;
        events_deadline_ = std::chrono::steady_clock::now() + routed.events_timeout;
        return poll_events();
    }
  }

  void poll_events() {
    if (auto r = events_response(*server_->backend.state(), events_after_))
      return send(std::move(*r));
    if (std::chrono::steady_clock::now() >= events_deadline_) return send(empty_events_response());
    timer_.expires_after(opts().poll_interval);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->close();
      self->poll_events();
    });
  }

  void send(Response r) {
    res_ = {};
    res_.version(11);
    res_.result(static_cast<http::status>(r.status));
    res_.set(http::field::server, "crmsyncd");
    res_.set(http::field::content_type, r.content_type);
    res_.set("X-Content-Type-Options", "nosniff");
    if (r.content_type.rfind("application/json", 0) == 0)
      res_.set(http::field::cache_control, "no-store");
    for (const auto& [k, v] : r.headers) res_.set(k, v);
    res_.body() = std::move(r.body);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    stream_.expires_after(opts().write_timeout);
    http::async_write(stream_, res_,
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        if (!self->keep_alive_) return self->close();
                        self->read();
                      });
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{8192};
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::shared_ptr<HttpServer::Impl> server_;
  net::steady_timer timer_;
  bool keep_alive_ = false;
  std::int64_t events_after_ = 0;
  std::chrono::steady_clock::time_point events_deadline_;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept(net::make_strand(io),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          if (ec == net::error::operation_aborted || !self->acceptor.is_open())
                            return;
                          if (!ec) {
                            if (self->sessions.fetch_add(1) >= self->options.max_sessions) {
                              self->sessions.fetch_sub(1);
                              beast::error_code ignored;
                              socket.close(ignored);  // bounded: refuse beyond max_sessions
                            } else {
                              std::make_shared<Session>(std::move(socket), self)->run();
                            }
                          }
                          self->accept();
                        });
}

HttpServer::HttpServer(net::io_context& io, Backend& backend, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, backend, std::move(options))) {}

HttpServer::~HttpServer() {
  stop();
}

Result<void> HttpServer::start() {
  auto& o = impl_->options;
  std::string host = o.host == "localhost" ? "127.0.0.1" : o.host;
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec || !address.is_loopback())
    return Error::Invalid("http.listen: " + o.host + " is not a loopback address");
  tcp::endpoint endpoint(address, o.port);
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    a.close(ec);
    return Error::Transient("cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " +
                            ec.message());
  }
  impl_->bound_port = a.local_endpoint().port();
  impl_->context.token = o.token;
  impl_->context.port = impl_->bound_port;
  impl_->context.max_body = o.max_body;
  impl_->accept();
  return {};
}

std::uint16_t HttpServer::port() const {
  return impl_->bound_port;
}

void HttpServer::stop() {
  net::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
}

}  // namespace crmsync::api
