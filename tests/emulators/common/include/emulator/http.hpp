// The request and reply an emulator's protocol code sees: plain values, no Beast, so that
// the protocol code compiles without Asio's headers (the scaffold's server.cpp alone has them).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace emulator {

struct Header {
  std::string name, value;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // target without the query
  std::string query;   // after '?', without it
  std::vector<Header> headers;
  std::string body;
  bool peer_loopback = false;  // the TCP peer is a loopback address
  bool tls = false;            // the request came over TLS

  // The first header of that name (case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
};

struct Reply {
  int status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<Header> headers;
  bool drop = false;   // close the connection without an answer (after the work is done)
  int latency_ms = 0;  // wait this long before answering (or dropping)
  std::string fault;   // what the fault injector did to it, for the request log

  static Reply json(int status, std::string body) {
    Reply r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.body = std::move(body);
    return r;
  }
  static Reply text(int status, std::string body) {
    Reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
  Reply& with(std::string name, std::string value) {
    headers.push_back({std::move(name), std::move(value)});
    return *this;
  }
};

// ASCII case-insensitive equality (header names, schemes).
bool iequals(std::string_view a, std::string_view b);

// application/x-www-form-urlencoded: name/value pairs in order, or nullopt-like false when the
// encoding is broken (a '%' not followed by two hex digits). '+' is a space.
bool parse_form(std::string_view body, std::vector<std::pair<std::string, std::string>>& out);

// Percent-decoding of one component ('+' stays '+'); false on a broken escape.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space);

}  // namespace emulator
