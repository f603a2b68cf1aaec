// A scripted Transport: records each request, answers from a queue (or a function).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crmsync/http/client.hpp"

namespace crmtest {

struct Scripted {
  int status = 200;
  crmsync::http::Headers headers;
  std::string body;
  // A transport failure instead of a reply; `written` says whether the request went out.
  std::optional<crmsync::Error> error;
  bool written = true;
};

struct FakeState {
  std::vector<crmsync::http::Request> requests;
  std::deque<Scripted> replies;
  std::function<Scripted(const crmsync::http::Request&)> fallback;
};

class FakeTransport final : public crmsync::http::Transport {
 public:
  explicit FakeTransport(std::shared_ptr<FakeState> s) : s_(std::move(s)) {}
  crmsync::Result<crmsync::http::Response> send(const crmsync::http::Request& r,
                                                crmsync::http::SendInfo* info) override {
    s_->requests.push_back(r);
    Scripted next;
    if (!s_->replies.empty()) {
      next = std::move(s_->replies.front());
      s_->replies.pop_front();
    } else if (s_->fallback) {
      next = s_->fallback(r);
    } else {
      next.error = crmsync::Error::Internal("fake transport: no reply scripted");
      next.written = false;
    }
    if (info) info->request_written = next.error ? next.written : true;
    if (next.error) return *next.error;
    return crmsync::http::Response{next.status, next.headers, next.body};
  }

 private:
  std::shared_ptr<FakeState> s_;
};

}  // namespace crmtest
