#pragma once
// Hands each step's outputs to their request streams on a thread of its own, so that the
// engine thread schedules and launches the next step while the readers are woken (a wake-up
// is a system call per waiting reader: at 64-128 streams, a large part of the engine's own
// cost per step, which a GPU waits on). Batches go out in the order given and each batch's
// outputs in order, so every stream sees its outputs in the order the engine made them.
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/request_stream.h"

namespace strata {

struct PendingOutput {
  std::shared_ptr<QueuedRequestStream> stream;
  RequestOutput output;
};

class OutputDelivery {
 public:
  OutputDelivery();
  ~OutputDelivery();  // delivers what is queued, then stops
  OutputDelivery(const OutputDelivery&) = delete;
  OutputDelivery& operator=(const OutputDelivery&) = delete;

  void send(std::vector<PendingOutput> batch);
  // Returns once everything sent so far has reached its stream.
  void flush();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable work_, idle_;
  std::deque<std::vector<PendingOutput>> batches_;
  bool busy_ = false;  // a batch is being pushed
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace strata
