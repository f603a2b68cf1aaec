// A page in headless Chromium, driven over the DevTools protocol (a WebSocket on loopback):
// the test evaluates JavaScript in the page as a user would act (clicking, typing) and reads
// the page back. Chromium is started with --remote-debugging-port=0; the port it picked is in
// DevToolsActivePort in its profile folder. Header-only; the test links Boost (Beast) and
// crmsync_http, and has RapidJSON's headers.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "crmsync/http/client.hpp"
#include "crmsync/test/spawn.hpp"

namespace crmsync::test {

class DevToolsPage {
 public:
  // Starts `chromium` headless on `url` with a fresh profile in `profile_dir` (its stderr
  // into `log`); nullopt, with `why`, when it does not come up within `timeout`.
  static std::unique_ptr<DevToolsPage> open(
      const std::string& chromium, const std::string& url, const std::string& profile_dir,
      const std::string& log, std::string& why,
      std::chrono::seconds timeout = std::chrono::seconds(60)) {
    std::unique_ptr<DevToolsPage> page(new DevToolsPage);
    page->browser_ = std::make_unique<Spawned>(
        std::vector<std::string>{
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--remote-debugging-port=0", "--user-data-dir=" + profile_dir, url},
        log);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string port_file = profile_dir + "/DevToolsActivePort";
    std::string port;
    while (port.empty()) {
      std::ifstream in(port_file);
      std::getline(in, port);
      if (!port.empty()) break;
      if (!page->browser_->running() || std::chrono::steady_clock::now() > deadline) {
        why = "chromium wrote no DevToolsActivePort";
        return nullptr;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // The page target opened on `url`.
    std::string ws_path;
    while (ws_path.empty()) {
      http::Client client;
      http::Request req;
      req.method = "GET";
      req.url = "http://127.0.0.1:" + port + "/json/list";
      auto r = client.send(req);
      if (r.ok() && r->status == 200) {
        rapidjson::Document d;
        d.Parse(r->body.c_str());
        if (d.IsArray())
          for (const auto& t : d.GetArray())
            if (t.HasMember("type") && std::string(t["type"].GetString()) == "page" &&
                t.HasMember("webSocketDebuggerUrl")) {
              std::string ws = t["webSocketDebuggerUrl"].GetString();
              ws_path = ws.substr(ws.find('/', std::string("ws://").size()));
            }
      }
      if (ws_path.empty() && std::chrono::steady_clock::now() > deadline) {
        why = "chromium listed no page target";
        return nullptr;
      }
      if (ws_path.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    namespace net = boost::asio;
    net::ip::tcp::resolver resolver(page->io_);
    boost::beast::error_code ec;
    auto endpoints = resolver.resolve("127.0.0.1", port, ec);
    if (!ec) net::connect(page->ws_.next_layer(), endpoints, ec);
    if (ec) {
      why = "cannot connect to chromium's DevTools port: " + ec.message();
      return nullptr;
    }
    // A blocked read ends after this long rather than hanging the test.
    timeval tv{30, 0};
    ::setsockopt(page->ws_.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    page->ws_.handshake("127.0.0.1:" + port, ws_path, ec);
    if (ec) {
      why = "DevTools WebSocket handshake: " + ec.message();
      return nullptr;
    }
    return page;
  }

  ~DevToolsPage() {
    boost::beast::error_code ec;
    ws_.close(boost::beast::websocket::close_code::normal, ec);
    if (browser_) {
      browser_->signal(SIGTERM);
      browser_->wait(std::chrono::seconds(10));
    }
  }

  // Evaluates `expression` in the page (awaiting a promise it returns) and gives its value as
  // JSON text ("null" for undefined), or the exception's text.
  Result<std::string> eval(const std::string& expression) {
    const int id = ++seq_;
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("id");
    w.Int(id);
    w.Key("method");
    w.String("Runtime.evaluate");
    w.Key("params");
    w.StartObject();
    w.Key("expression");
    w.String(expression.c_str(), static_cast<rapidjson::SizeType>(expression.size()));
    w.Key("awaitPromise");
    w.Bool(true);
    w.Key("returnByValue");
    w.Bool(true);
    w.EndObject();
    w.EndObject();
    boost::beast::error_code ec;
    ws_.write(boost::asio::buffer(buf.GetString(), buf.GetSize()), ec);
    if (ec) return Error::Transient("DevTools write: " + ec.message());
    for (;;) {  // events arrive in between: the answer is the message with our id
      boost::beast::flat_buffer in;
      ws_.read(in, ec);
      if (ec) return Error::Transient("DevTools read: " + ec.message());
      rapidjson::Document d;
      const std::string text = boost::beast::buffers_to_string(in.data());
      d.Parse(text.c_str());
      if (!d.IsObject() || !d.HasMember("id") || !d["id"].IsInt() || d["id"].GetInt() != id)
        continue;
      if (d.HasMember("error")) return Error::Invalid("DevTools: " + text.substr(0, 500));
      const auto& result = d["result"];
      if (result.HasMember("exceptionDetails"))
        return Error::Invalid("page exception: " + text.substr(0, 1000));
      const auto& value = result["result"];
      if (!value.HasMember("value")) return std::string("null");
      rapidjson::StringBuffer out;
      rapidjson::Writer<rapidjson::StringBuffer> ow(out);
      value["value"].Accept(ow);
      return std::string(out.GetString(), out.GetSize());
    }
  }

  // Evaluates `condition` until it is true (JSON "true") or `timeout` passes.
  bool wait_for(const std::string& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto r = eval("Boolean(" + condition + ")");
      if (r.ok() && *r == "true") return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

 private:
  DevToolsPage() : ws_(io_) {}

  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  std::unique_ptr<Spawned> browser_;
  int seq_ = 0;
};

}  // namespace crmsync::test
