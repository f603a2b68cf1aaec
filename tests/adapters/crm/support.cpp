#include "support.hpp"

#include "crmsync/test/prerequisite.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

namespace crmtest {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
const fs::path kReference = CRMSYNC_REFERENCE_DIR;
const fs::path kEnvelopeXsd = fs::path("crm") / "xrm2011" / "xsd" / "crm-envelope-validate.xsd";
}  // namespace

std::optional<fs::path> reference_dir() {
  if (fs::exists(kReference / kEnvelopeXsd)) return kReference;
  return std::nullopt;
}

std::optional<fs::path> require_reference() {
  auto ref = reference_dir();
  if (!crmsync::test::prerequisite(crmsync::test::prereq::kReference, ref.has_value(),
                                   "no " + (kReference / kEnvelopeXsd).string()))
    return std::nullopt;
  return ref;
}

std::optional<fs::path> require_schema_check() {
  auto ref = require_reference();
#ifdef CRMSYNC_XMLLINT
  const bool xmllint = true;
#else
  const bool xmllint = false;
#endif
  if (!crmsync::test::prerequisite(crmsync::test::prereq::kXmllint, xmllint,
                                   "not found when the build was configured"))
    return std::nullopt;
  return ref;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          ("crmsync-crm-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string xmllint_errors(const std::string& xml, const fs::path& xsd) {
  TempDir dir;
  auto doc = dir.path() / "envelope.xml";
  auto out = dir.path() / "out.txt";
  {
    std::ofstream f(doc, std::ios::binary);
    f << xml;
  }
#ifdef CRMSYNC_XMLLINT
  const std::string xmllint = CRMSYNC_XMLLINT;
#else
  const std::string xmllint = "xmllint";
#endif
  std::string cmd = "'" + xmllint + "' --noout --nonet --schema '" + xsd.string() + "' '" +
                    doc.string() + "' > '" + out.string() + "' 2>&1";
  int rc = std::system(cmd.c_str());
  if (rc == 0) return {};
  std::string text = read_text(out);
  return text.empty() ? "xmllint failed (exit " + std::to_string(rc) + ")" : text;
}

std::string ServerRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (beast::iequals(k, beast::string_view(name.data(), name.size()))) return v;
  return {};
}

struct TestServer::Impl {
  Handler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<asio::ssl::context> tls;
  std::thread accept_thread;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::vector<std::thread> workers;
  std::vector<std::shared_ptr<tcp::socket>> sockets;

  template <class Stream>
  void serve(Stream& stream, TestServer& self) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      http::read(stream, buffer, req, ec);
      if (ec) return;
      ++self.requests_;
      ServerRequest sr;
      sr.method = std::string(req.method_string());
      sr.target = std::string(req.target());
      for (const auto& f : req)
        sr.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      sr.body = req.body();
      ServerReply reply = handler(sr);
      if (reply.hang) {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping; });
        return;
      }
      if (reply.close_no_reply) return;
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      res.set(http::field::content_type, reply.content_type);
      for (const auto& [k, v] : reply.headers) res.set(k, v);
      res.body() = reply.body;
      res.keep_alive(req.keep_alive());
      if (reply.chunked)
        res.chunked(true);
      else
        res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || !req.keep_alive()) return;
    }
  }
};

TestServer::TestServer(Handler handler, std::string cert_file, std::string key_file)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  if (!cert_file.empty()) {
    impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(cert_file);
    impl_->tls->use_private_key_file(key_file, asio::ssl::context::pem);
  }
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept_thread = std::thread([this] {
    for (;;) {
      auto sock = std::make_shared<tcp::socket>(impl_->ioc);
      beast::error_code ec;
      impl_->acceptor.accept(*sock, ec);
      std::lock_guard lock(impl_->mu);
      if (impl_->stopping || ec) return;
      ++connections_;
      impl_->sockets.push_back(sock);
      impl_->workers.emplace_back([this, sock] {
        if (impl_->tls) {
          asio::ssl::stream<tcp::socket&> stream(*sock, *impl_->tls);
          beast::error_code hec;
          stream.handshake(asio::ssl::stream_base::server, hec);
          if (!hec) impl_->serve(stream, *this);
        } else {
          impl_->serve(*sock, *this);
        }
        beast::error_code ignored;
        sock->shutdown(tcp::socket::shutdown_both, ignored);
      });
    }
  });
}

TestServer::~TestServer() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
    for (auto& s : impl_->sockets) {
      beast::error_code ignored;
      s->shutdown(tcp::socket::shutdown_both, ignored);
    }
  }
  impl_->cv.notify_all();
  // Wake the blocking accept with a connection of our own.
  {
    beast::error_code ignored;
    asio::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
  }
  impl_->accept_thread.join();
  for (auto& w : impl_->workers) w.join();
}

TestPki make_test_pki(const fs::path& dir, const std::string& dns_name) {
  TestPki pki{dir / "ca.pem", dir / "server.pem", dir / "server.key"};
  const std::string d = "'" + dir.string() + "'";
  {
    std::ofstream ext(dir / "ext.cnf");
    ext << "subjectAltName=DNS:" << dns_name << "\n";
  }
  const std::string cmds =
      "cd " + d +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      " -keyout ca.key -out ca.pem -days 2 -subj /CN=crmsync-test-ca"
      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      " -keyout server.key -out server.csr -subj /CN=" +
      dns_name +
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
      " -out server.pem -days 2 -extfile ext.cnf";
  std::string cmd = "(" + cmds + ") > " + d + "/openssl.log 2>&1";
  if (std::system(cmd.c_str()) != 0) return {{}, {}, {}, read_text(dir / "openssl.log")};
  return pki;
}

}  // namespace crmtest
