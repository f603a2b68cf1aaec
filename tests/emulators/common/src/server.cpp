// The listener: one io_context, one coroutine per connection, requests handled one at a time.
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp needs std::exchange

#include "emulator/server.hpp"

#include <chrono>
#include <iostream>
#include <memory>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>

namespace emulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

using BeastRequest = http::request<http::string_body>;
using BeastReply = http::response<http::string_body>;

struct Context {
  const CommonOptions& options;
  const std::function<Reply(const Request&)>& handle;
};

Request to_request(const BeastRequest& in, const tcp::endpoint& peer, bool tls) {
  Request r;
  r.method = std::string(in.method_string());
  r.target = std::string(in.target());
  auto q = r.target.find('?');
  r.path = r.target.substr(0, q);
  if (q != std::string::npos) r.query = r.target.substr(q + 1);
  for (const auto& f : in)
    r.headers.push_back({std::string(f.name_string()), std::string(f.value())});
  r.body = in.body();
  r.peer_loopback = peer.address().is_loopback();
  r.tls = tls;
  return r;
}

BeastReply to_beast(const Reply& in, unsigned version, bool keep_alive, const std::string& server) {
  BeastReply r{static_cast<http::status>(in.status), version};
  r.set(http::field::server, server);
  r.set(http::field::content_type, in.content_type);
  for (const auto& h : in.headers) r.insert(h.name, h.value);
  r.keep_alive(keep_alive);
  r.body() = in.body;
  r.prepare_payload();
  return r;
}

template <class Stream>
asio::awaitable<void> refuse(Stream& stream, http::status status, const std::string& text,
                             const CommonOptions& options) {
  BeastReply r{status, 11};
  r.set(http::field::server, options.server_name);
  r.set(http::field::content_type, "text/plain");
  r.body() = text;
  if (options.refusal) {
    Reply own = options.refusal(static_cast<int>(status), text);
    r.set(http::field::content_type, own.content_type);
    for (const auto& h : own.headers) r.insert(h.name, h.value);
    r.body() = own.body;
  }
  r.keep_alive(false);
  r.prepare_payload();
  beast::error_code ec;
  co_await http::async_write(stream, r, asio::redirect_error(asio::use_awaitable, ec));
}

template <class Stream>
asio::awaitable<void> serve_stream(Stream& stream, const Context& ctx, tcp::endpoint peer,
                                   bool tls) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(ctx.options.body_limit);
    parser.header_limit(static_cast<std::uint32_t>(ctx.options.header_limit));
    beast::error_code ec;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      co_await refuse(stream, http::status::payload_too_large,
                      "request body exceeds " + std::to_string(ctx.options.body_limit) + " bytes\n",
                      ctx.options);
      co_return;
    }
    if (ec == http::error::header_limit) {
      co_await refuse(
          stream, http::status::request_header_fields_too_large,
          "request header exceeds " + std::to_string(ctx.options.header_limit) + " bytes\n",
          ctx.options);
      co_return;
    }
    if (ec) {
      // A malformed request gets 400 before the connection closes; a closed one, nothing.
      if (ec != http::error::end_of_stream && ec != asio::error::eof &&
          ec != asio::error::connection_reset && ec != asio::ssl::error::stream_truncated)
        co_await refuse(stream, http::status::bad_request, "malformed HTTP request\n", ctx.options);
      co_return;
    }
    BeastRequest breq = parser.release();
    Reply reply = ctx.handle(to_request(breq, peer, tls));
    if (reply.latency_ms > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(std::chrono::milliseconds(reply.latency_ms));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (reply.drop) co_return;  // done, but no answer: the connection just closes
    BeastReply out = to_beast(reply, breq.version(), breq.keep_alive(), ctx.options.server_name);
    bool keep = out.keep_alive();
    co_await http::async_write(stream, out, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep) co_return;
  }
}

asio::awaitable<void> session(tcp::socket socket, const Context& ctx, asio::ssl::context* tls) {
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
    co_await serve_stream(stream, ctx, peer, true);
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  } else {
    beast::tcp_stream stream(std::move(socket));
    co_await serve_stream(stream, ctx, peer, false);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, const Context& ctx,
                                  asio::ssl::context* tls) {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket =
        co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), ctx, tls), asio::detached);
  }
}

}  // namespace

std::optional<std::string> parse_args(int argc, char** argv, CommonOptions& o,
                                      const std::vector<Flag>& extra) {
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
      if (c == std::string::npos || c == 0) return "--listen needs HOST:PORT";
      o.host = v.substr(0, c);
      try {
        std::size_t used = 0;
        int p = std::stoi(v.substr(c + 1), &used);
        if (used != v.size() - c - 1) return "bad port in --listen";
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
    } else {
      bool known = false;
      for (const auto& f : extra) {
        if (f.name != a) continue;
        known = true;
        std::string v;
        if (f.takes_value && !value(v)) return a + " needs a value";
        if (auto err = f.set(v)) return *err;
        break;
      }
      if (!known) return "unknown argument " + a;
    }
  }
  if (o.db.empty()) return "--db FILE is required";
  if (o.tls_cert.empty() != o.tls_key.empty()) return "--tls-cert and --tls-key go together";
  return std::nullopt;
}

int serve(const CommonOptions& opts, const std::function<Reply(const Request&)>& handle,
          const std::function<void(const Listening&)>& on_listening) {
  asio::io_context io{1};
  std::unique_ptr<asio::ssl::context> tls;
  if (!opts.tls_cert.empty()) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    tls->use_certificate_chain_file(opts.tls_cert);
    tls->use_private_key_file(opts.tls_key, asio::ssl::context::pem);
  }
  tcp::acceptor acceptor(io);
  tcp::endpoint ep(asio::ip::make_address(opts.host), opts.port);
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen();
  Listening where{opts.host, acceptor.local_endpoint().port(), tls != nullptr};
  if (on_listening) on_listening(where);
  std::cout << "listening on " << opts.host << ":" << where.port << std::endl;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const beast::error_code&, int) {
    beast::error_code ec;
    acceptor.close(ec);
    io.stop();
  });
  Context ctx{opts, handle};
  asio::co_spawn(io, accept_loop(acceptor, ctx, tls.get()), asio::detached);
  io.run();
  return 0;
}

}  // namespace emulator
