// A small synchronous HTTP/1.1 client: plain TCP or TLS that always verifies the peer
// (SNI, chain, host name), a deadline on every stage, keep-alive reuse, a body size cap.
// Pure header: Beast, Asio and OpenSSL stay in client.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crmsync/http/auth.hpp"
#include "crmsync/model/result.hpp"

namespace crmsync::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// "https://crm.example.org:8443/org1/" split into its parts.
struct Url {
  bool tls = false;
  std::string host;
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, always starting with '/'

  // kInvalid for anything that is not http:// or https:// with a host.
  static Result<Url> parse(std::string_view text);
  // scheme://host[:port]: what error messages show (never a query string).
  std::string origin() const;
};

struct Request {
  std::string method = "POST";
  std::string url;
  Headers headers;
  std::string body;
  // false for a request the server must see at most once (a create): when a kept-alive
  // connection takes it and closes without a reply, it fails instead of going out again.
  bool may_resend = true;
};

struct Response {
  int status = 0;
  Headers headers;
  std::string body;
  // The first header of that name (case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
};

struct ClientOptions {
  // PEM bundle of trusted CAs; empty = the system's default trust store.
  std::string ca_file;
  std::chrono::milliseconds resolve_timeout{10'000};
  std::chrono::milliseconds connect_timeout{10'000};  // TCP connect, then TLS handshake
  std::chrono::milliseconds io_timeout{60'000};       // writing the request, reading the reply
  std::size_t max_response_bytes = 64u << 20;
  std::string user_agent = "crmsync";
  // Connection-bound authentication (NTLM/Negotiate); null = none. A connection answers the
  // server's first 401 with the handshake, resending the request on each leg, and stays
  // authenticated while it is kept alive; a fresh connection (open_stream's included) does it
  // again. A 401 after the last leg is kPermission.
  std::shared_ptr<Authenticator> authenticator;
};

// What happened to one exchange besides its outcome (for idempotency decisions).
struct SendInfo {
  // The whole request reached the socket: the server may have acted on it even when
  // no reply came back.
  bool request_written = false;
  // The client sent the request twice: a reused keep-alive connection took the whole
  // request and closed without a reply byte, so it was resent on a fresh connection. The
  // server may therefore have acted on it before the reply that came back.
  bool resent_after_write = false;
};

// The body of a reply that arrives over time (a long-lived chunked response such as EWS
// GetStreamingEvents), read as it comes. One thread at a time.
class BodyStream {
 public:
  BodyStream() = default;
  BodyStream(const BodyStream&) = delete;
  BodyStream& operator=(const BodyStream&) = delete;
  virtual ~BodyStream() = default;  // closes the connection

  virtual int status() const = 0;
  // Waits at most `timeout` for more of the body and appends what came to `out`. true while
  // the body goes on (also when nothing came in time), false once it has ended.
  // kTransient when the connection broke.
  virtual Result<bool> read(std::string& out, std::chrono::milliseconds timeout) = 0;
};

// The seam adapters talk through, so tests can substitute a fake.
class Transport {
 public:
  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  virtual ~Transport() = default;

  // One exchange. Any HTTP status is a success here (the caller interprets it).
  // Errors: kInvalid (bad URL, TLS setup), kTransient (resolve/connect/TLS/timeout/reset,
  // oversized or malformed reply). `info`, when given, is filled in either case.
  virtual Result<Response> send(const Request& request, SendInfo* info = nullptr) = 0;

  // Sends `request` on a connection of its own and returns once the reply's header is in;
  // the body is read from the stream. The default: kInvalid (this transport cannot stream).
  virtual Result<std::unique_ptr<BodyStream>> open_stream(const Request& request);
};

// The real transport. Keeps one idle connection per origin for reuse. One thread at a time.
class Client final : public Transport {
 public:
  explicit Client(ClientOptions options = {});
  ~Client() override;
  Result<Response> send(const Request& request, SendInfo* info = nullptr) override;
  // A fresh connection (never the kept-alive one), with the same TLS checks and deadlines for
  // connecting, writing and the reply header; the body has no overall deadline or size cap
  // (the reader bounds what it buffers).
  Result<std::unique_ptr<BodyStream>> open_stream(const Request& request) override;

  struct Impl;  // defined in client.cpp (a stream owns one of its own)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace crmsync::http
