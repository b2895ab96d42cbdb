#include "engine/output_delivery.h"

namespace strata {

OutputDelivery::OutputDelivery() : thread_([this] { run(); }) {}

OutputDelivery::~OutputDelivery() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  thread_.join();
}

void OutputDelivery::send(std::vector<PendingOutput> batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(mutex_);
    batches_.push_back(std::move(batch));
  }
  work_.notify_one();
}

void OutputDelivery::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return batches_.empty() && !busy_; });
}

void OutputDelivery::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [&] { return stop_ || !batches_.empty(); });
    if (batches_.empty()) return;  // stopping, and everything went out
    std::vector<PendingOutput> batch = std::move(batches_.front());
    batches_.pop_front();
    busy_ = true;
    lock.unlock();
    for (PendingOutput& p : batch) p.stream->push(std::move(p.output));
    lock.lock();
    busy_ = false;
    if (batches_.empty()) idle_.notify_all();
  }
}

}  // namespace strata
