#pragma once
// The RequestStream the engine hands out: a queue of outputs with a condition variable.
// The engine thread pushes; any thread reads. Abort is forwarded to the engine's inbox
// through a weak reference, so a stream may outlive its engine.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "engine/engine.h"

namespace strata {

class QueuedRequestStream final : public RequestStream {
 public:
  QueuedRequestStream(std::string request_id, std::function<void(const std::string&)> on_abort);

  std::optional<RequestOutput> next(std::chrono::milliseconds timeout) override;
  void abort() override;
  const std::string& request_id() const override { return request_id_; }

  // Engine side.
  void push(RequestOutput output);

 private:
  std::string request_id_;
  std::function<void(const std::string&)> on_abort_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestOutput> queue_;
  std::optional<RequestOutput> terminal_;  // the finished output, once it has been read
};

}  // namespace strata
