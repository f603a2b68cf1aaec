#include "crmsync/model/clock.hpp"

namespace crmsync {
namespace {

class SystemClock final : public Clock {
 public:
  UtcTime now() const override {
    auto d = std::chrono::system_clock::now().time_since_epoch();
    return UtcTime{std::chrono::duration_cast<std::chrono::milliseconds>(d).count()};
  }
  MonoTime mono() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace crmsync
