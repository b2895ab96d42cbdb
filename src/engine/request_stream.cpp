#include "engine/request_stream.h"

namespace strata {

QueuedRequestStream::QueuedRequestStream(std::string request_id,
                                         std::function<void(const std::string&)> on_abort)
    : request_id_(std::move(request_id)), on_abort_(std::move(on_abort)) {}

std::optional<RequestOutput> QueuedRequestStream::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (terminal_) return terminal_;
  if (!ready_.wait_for(lock, timeout, [&] { return !queue_.empty(); })) return std::nullopt;
  RequestOutput out = std::move(queue_.front());
  queue_.pop_front();
  if (out.finished) terminal_ = out;
  return out;
}

void QueuedRequestStream::abort() {
  if (on_abort_) on_abort_(request_id_);
}

void QueuedRequestStream::push(RequestOutput output) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(output));
  }
  ready_.notify_all();
}

}  // namespace strata
