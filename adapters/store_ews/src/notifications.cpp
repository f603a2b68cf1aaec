#include "notifications.hpp"

#include <algorithm>
#include <thread>

namespace crmsync::ews {
namespace {

using namespace std::chrono_literals;

// A server that does not know streaming subscriptions (before Exchange 2010 SP1) answers
// with a request error, not a transient or permission one.
bool refuses_streaming(const Error& e) {
  return !e.retryable() && !e.is(ErrorKind::kPermission);
}

}  // namespace

// Streaming notifications wake the wait as soon as the server sends an event; a server that
// refuses streaming is polled through a pull subscription every poll_interval instead. A
// zero timeout reads what has arrived without blocking (the daemon asks that often).
bool Notifications::wait(std::int64_t after, std::chrono::milliseconds timeout) {
  using Steady = std::chrono::steady_clock;
  const auto deadline = Steady::now() + timeout;
  auto left = [&] {
    return std::max(
        0ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now()));
  };
  for (;;) {
    if (auto top = log_.last_seq(); top.ok() && *top > after) return true;
    if (streaming_refused_) {
      if (Steady::now() >= next_poll_) {
        next_poll_ = Steady::now() + caller_.config().poll_interval;
        poll();
      }
    } else {
      follow_stream(left());
    }
    if (auto top = log_.last_seq(); top.ok() && *top > after) return true;
    if (left() <= 0ms) return false;
    if (streaming_refused_)
      std::this_thread::sleep_for(std::min(
          left(),
          std::chrono::duration_cast<std::chrono::milliseconds>(next_poll_ - Steady::now()) + 1ms));
  }
}

// Streaming: one Subscribe, then GetStreamingEvents connections one after another, each a
// chunked reply of whole envelopes (events, keep-alive OK, Closed at its timeout). Item
// events start a sync pass, which turns the changes into events. A broken stream is
// reopened with backoff, a lost subscription renewed, and each (re)connection catches up
// by a sync pass. Waiting is only an optimisation (S2 scans catch what is missed).
void Notifications::follow_stream(std::chrono::milliseconds budget) {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_subscribe_) {
    std::this_thread::sleep_for(std::min(
        budget,
        std::chrono::duration_cast<std::chrono::milliseconds>(next_subscribe_ - now + 1ms)));
    return;
  }
  if (!stream_ && !open_stream()) return;
  auto more = stream_->read(stream_buffer_, std::min(budget, caller_.config().request_timeout));
  if (!more.ok()) return drop_stream(true);
  bool changed = false;
  while (auto envelope = take_envelope(stream_buffer_)) {
    auto msgs = parse_response("GetStreamingEvents", stream_->status(), *envelope);
    if (!msgs.ok()) {
      if (refuses_streaming(msgs.error())) streaming_refused_ = true;
      return drop_stream(true);
    }
    for (const Message& m : *msgs) {
      if (!m.ok()) {
        // The subscription expired or is unknown (a server restart): subscribe again.
        stream_subscription_.clear();
        return drop_stream(true);
      }
      auto batch = streaming_events_of(m);
      if (!batch.ok()) return drop_stream(true);
      changed = changed || batch->changes > 0;
      stream_closed_by_server_ = stream_closed_by_server_ || batch->status == "Closed";
      subscribe_backoff_ = 0ms;  // a healthy stream: the next failure backs off from the start
    }
  }
  if (changed) (void)log_.sync_all();
  if (stream_buffer_.size() > caller_.config().max_response_bytes) return drop_stream(true);
  // Closed at its ConnectionTimeout: the next connection follows at once. A body that ended
  // otherwise (an HTTP error without SOAP, a server that hangs up) backs off.
  if (!*more) drop_stream(!stream_closed_by_server_);
}

// Subscribes when needed and opens a GetStreamingEvents connection. Refused (the server or
// transport cannot stream): the pull subscription takes over. Transient failure: backoff.
bool Notifications::open_stream() {
  if (stream_subscription_.empty()) {
    auto msgs = caller_.call("Subscribe", subscribe_streaming(), true);
    std::optional<Subscription> sub;
    if (msgs.ok() && msgs->front().ok()) {
      if (auto s = subscription_of(msgs->front()); s.ok()) sub = *s;
    } else if (refuses_streaming(msgs.ok() ? error_of(msgs->front()) : msgs.error())) {
      streaming_refused_ = true;
      return false;
    }
    if (!sub) {
      back_off();
      return false;
    }
    stream_subscription_ = sub->id;
  }
  http::Request req = caller_.soap_request(
      "GetStreamingEvents",
      get_streaming_events(stream_subscription_, caller_.config().stream_connection_minutes));
  auto auth = caller_.authorization();
  if (!auth) {
    back_off();
    return false;
  }
  if (!auth->empty()) req.headers.emplace_back("Authorization", *auth);
  auto stream = caller_.transport().open_stream(req);
  if (!stream.ok()) {
    if (stream.error().is(ErrorKind::kInvalid))
      streaming_refused_ = true;
    else
      back_off();
    return false;
  }
  stream_ = std::move(*stream);
  stream_buffer_.clear();
  stream_closed_by_server_ = false;
  (void)log_.sync_all();  // what changed while no stream was open
  return true;
}

void Notifications::drop_stream(bool failed) {
  stream_.reset();
  stream_buffer_.clear();
  if (failed) back_off();
}

void Notifications::back_off() {
  subscribe_backoff_ =
      std::min(std::max(subscribe_backoff_ * 2, caller_.config().backoff_base), 60'000ms);
  next_subscribe_ = std::chrono::steady_clock::now() + subscribe_backoff_;
}

// One GetEvents poll (subscribing first when needed); on any item event, a sync pass turns
// the changes into events. Failures drop the subscription and back off; waiting is only an
// optimisation (S2 scans catch what is missed).
void Notifications::poll() {
  const auto now = std::chrono::steady_clock::now();
  if (now < next_subscribe_) return;
  if (subscription_.id.empty()) {
    auto msgs = caller_.call("Subscribe", subscribe_pull(10), true);
    std::optional<Subscription> sub;
    if (msgs.ok() && msgs->front().ok()) {
      auto s = subscription_of(msgs->front());
      if (s.ok()) sub = *s;
    }
    if (!sub) {
      back_off();
      return;
    }
    subscribe_backoff_ = 0ms;
    subscription_ = *sub;
    (void)log_.sync_all();  // what changed before the subscription started
    return;
  }
  auto msgs =
      caller_.call("GetEvents", get_events(subscription_.id, subscription_.watermark), true);
  if (!msgs.ok() || !msgs->front().ok()) {
    subscription_ = {};  // expired or unknown: resubscribe (then catch up by a sync)
    back_off();
    return;
  }
  auto page = events_of(msgs->front());
  if (!page.ok()) {
    subscription_ = {};
    return;
  }
  if (!page->watermark.empty()) subscription_.watermark = page->watermark;
  if (page->changes > 0) (void)log_.sync_all();
}
}  // namespace crmsync::ews
