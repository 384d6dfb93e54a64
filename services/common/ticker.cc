#include "services/common/ticker.h"

namespace youma::common {

Ticker::Ticker(absl::Duration every, std::function<void()> tick)
    : thread_([this, every, tick = std::move(tick)] {
        std::unique_lock<std::mutex> lock(mu_);
        while (!cv_.wait_for(lock, absl::ToChronoNanoseconds(every), [&] { return stopping_; })) {
          lock.unlock();
          tick();
          lock.lock();
        }
      }) {}

Ticker::~Ticker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

}  // namespace youma::common
