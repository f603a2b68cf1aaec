// Every time read goes through a Clock (STYLE.md 6): wall time for timestamps
// that leave the process, monotonic time for leases, deadlines and backoff.
#pragma once

#include <chrono>
#include <cstdint>

#include "crmsync/model/value.hpp"

namespace crmsync {

using MonoTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  Clock() = default;
  Clock(const Clock&) = delete;
  Clock& operator=(const Clock&) = delete;
  virtual ~Clock() = default;

  // Wall-clock time in UTC. May jump (NTP); never use it to measure intervals.
  virtual UtcTime now() const = 0;
  // Monotonic time: never goes back; only differences mean anything.
  virtual MonoTime mono() const = 0;
};

// The system clocks. Thread-safe.
Clock& system_clock();

// A clock that moves only when told. For tests; not thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(UtcTime start = UtcTime::from_seconds(1'767'225'600))  // 2026-01-01
      : wall_(start) {}
  UtcTime now() const override { return wall_; }
  MonoTime mono() const override { return mono_; }
  void advance(std::chrono::milliseconds d) {
    wall_.ms += d.count();
    mono_ += d;
  }
  // Moves the wall clock alone (NTP step, skew between machines).
  void set_wall(UtcTime t) { wall_ = t; }

 private:
  UtcTime wall_;
  MonoTime mono_{};
};

}  // namespace crmsync
