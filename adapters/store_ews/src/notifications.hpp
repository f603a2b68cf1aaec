// Waiting for the EWS store's changes (internal to store_ews): a streaming subscription whose
// events start a sync pass of the change log, or, where the server or the transport refuses
// streaming, a pull subscription polled every poll_interval. Waiting is an optimisation only:
// the S2 scan catches whatever a lost notification would have said.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "caller.hpp"
#include "change_log.hpp"

namespace crmsync::ews {

class Notifications {
 public:
  // Both must outlive this.
  Notifications(Caller& caller, ChangeLog& log) : caller_(caller), log_(log) {}

  // Blocks up to `timeout` until the log has an event after `after`; true if so. A zero
  // timeout reads what has arrived without blocking (the daemon asks that often).
  bool wait(std::int64_t after, std::chrono::milliseconds timeout);

 private:
  void follow_stream(std::chrono::milliseconds budget);
  bool open_stream();
  void drop_stream(bool failed);
  void back_off();
  void poll();

  Caller& caller_;
  ChangeLog& log_;
  Subscription subscription_;  // the pull fallback's
  bool streaming_refused_ = false;
  std::string stream_subscription_;
  std::unique_ptr<http::BodyStream> stream_;
  std::string stream_buffer_;             // what arrived and is not a whole envelope yet
  bool stream_closed_by_server_ = false;  // this connection's ConnectionStatus Closed came
  std::chrono::steady_clock::time_point next_subscribe_{};
  std::chrono::steady_clock::time_point next_poll_{};
  std::chrono::milliseconds subscribe_backoff_{0};
};

}  // namespace crmsync::ews
