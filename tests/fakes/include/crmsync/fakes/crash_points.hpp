// Crash points for the engine (STYLE.md 10): throw SimulatedCrash at the k-th point hit,
// or count the points a run passes.
#pragma once

#include <string>
#include <vector>

#include "crmsync/core/engine.hpp"

namespace crmsync::fakes {

struct SimulatedCrash {
  std::string point;
};

class CrashAt final : public CrashPoints {
 public:
  // 0 = never crash, only count.
  explicit CrashAt(int k) : k_(k) {}
  void hit(std::string_view point) override {
    seen_.emplace_back(point);
    if (k_ > 0 && static_cast<int>(seen_.size()) == k_) throw SimulatedCrash{std::string(point)};
  }
  int hits() const { return static_cast<int>(seen_.size()); }
  const std::vector<std::string>& seen() const { return seen_; }

 private:
  int k_;
  std::vector<std::string> seen_;
};

}  // namespace crmsync::fakes
