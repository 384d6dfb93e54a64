// A background task run every so often on a thread of its own, until the
// Ticker is destroyed (which waits for a run in progress to end).
//
//   common::Ticker sweep(absl::Seconds(10), [&] { issuer->CatchUpOlderWrites(); });
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace youma::common {

class Ticker {
 public:
  // Runs `tick` first after `every`, then every `every` after each run ends.
  Ticker(absl::Duration every, std::function<void()> tick);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace youma::common
