#include "fake_engine.h"

#include "core/error.h"

namespace strata::testing {

namespace {

// Length of the UTF-8 character whose first byte is `c` (1 for invalid bytes).
size_t utf8_char_length(unsigned char c) {
  return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

}  // namespace

std::string ChatMLFormatter::render(const nlohmann::json& messages, bool add_generation_prompt) const {
  std::string out;
  for (const auto& m : messages) {
    out += "<|im_start|>" + m["role"].get<std::string>() + "\n" + m["content"].get<std::string>() + "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string fake_reply(int choice_index) {
  std::string text = "Choice " + std::to_string(choice_index) + ": ";
  while (text.size() < 600) text += "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93 the quick brown fox. ";
  return text;
}

namespace {

class FakeStream : public RequestStream {
 public:
  FakeStream(FakeEngine& engine, GenerationRequest request)
      : engine_(engine), request_(std::move(request)),
        next_emit_(std::chrono::steady_clock::now() + engine.options().token_delay),
        choices_(request_.n) {
    for (int c = 0; c < request_.n; ++c) plan_choice(c);
  }

  std::optional<RequestOutput> next(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mutex_);
    if (finished_) return RequestOutput{.deltas = {}, .finished = true};
    auto give_up = std::chrono::steady_clock::now() + timeout;
    cv_.wait_until(lock, std::min(give_up, next_emit_), [&] { return aborted_; });
    if (aborted_) return finish_all(FinishReason::Abort);
    const auto now = std::chrono::steady_clock::now();
    if (now < next_emit_) return std::nullopt;
    // The next token one delay after this one, not after when this one was due: a reader
    // that fell behind (a loaded machine, a sanitizer build) would otherwise get a burst of
    // overdue tokens, and the measured inter-token latency would collapse to ~0.
    next_emit_ = now + engine_.options().token_delay;
    return emit_one_token_per_choice();
  }

  void abort() override {
    std::lock_guard lock(mutex_);
    if (aborted_ || finished_) return;
    aborted_ = true;
    engine_.count_abort();
    cv_.notify_all();
  }

  const std::string& request_id() const override { return request_.request_id; }

 private:
  struct Choice {
    std::string bytes;      // what this choice will emit, one byte per token
    FinishReason finish = FinishReason::Length;
    std::string matched_stop;
    size_t emitted = 0;
    std::string pending;    // bytes of an incomplete UTF-8 character
    bool done = false;
  };

  void plan_choice(int c) {
    Choice& choice = choices_[c];
    std::string text = fake_reply(c).substr(0, request_.stop.max_tokens);
    for (const auto& stop : request_.stop.stop_strings) {
      auto at = text.find(stop);
      if (at != std::string::npos) {
        text = text.substr(0, at);
        choice.finish = FinishReason::Stop;
        choice.matched_stop = stop;
      }
    }
    choice.bytes = text;
  }

  RequestOutput emit_one_token_per_choice() {
    RequestOutput out;
    out.prompt_tokens = static_cast<int>(request_.prompt_tokens.size());
    bool all_done = true;
    for (int c = 0; c < request_.n; ++c) {
      Choice& choice = choices_[c];
      if (choice.done) continue;
      ChoiceDelta delta;
      delta.index = c;
      if (choice.emitted < choice.bytes.size()) {
        unsigned char byte = choice.bytes[choice.emitted++];
        delta.token_ids.push_back(byte);
        choice.pending += static_cast<char>(byte);
        if (choice.pending.size() >= utf8_char_length(choice.pending[0])) {
          delta.text = std::move(choice.pending);
          choice.pending.clear();
        }
        ++completion_tokens_;
        if (request_.sampling.logprobs) delta.logprobs.push_back(logprob_for(byte, c, delta.text));
      }
      if (choice.emitted == choice.bytes.size()) {
        choice.done = true;
        delta.finish = choice.finish;
        delta.matched_stop = choice.matched_stop;
      }
      all_done &= choice.done;
      out.deltas.push_back(std::move(delta));
    }
    out.completion_tokens = completion_tokens_;
    if (all_done) mark_finished();
    out.finished = all_done;
    return out;
  }

  TokenLogprob logprob_for(int32_t token, int c, const std::string& text) const {
    TokenLogprob lp{token, -0.25f * float(c + 1), {}, text};
    for (int k = 0; k < request_.sampling.top_logprobs; ++k) {
      lp.top.emplace_back(k == 0 ? token : (token + k) % 256, -0.25f * float(c + 1) - float(k));
    }
    return lp;
  }

  RequestOutput finish_all(FinishReason reason) {
    RequestOutput out;
    out.prompt_tokens = static_cast<int>(request_.prompt_tokens.size());
    for (int c = 0; c < request_.n; ++c) {
      if (choices_[c].done) continue;
      ChoiceDelta delta;
      delta.index = c;
      delta.finish = reason;
      out.deltas.push_back(std::move(delta));
    }
    out.completion_tokens = completion_tokens_;
    out.finished = true;
    mark_finished();
    return out;
  }

  void mark_finished() {
    finished_ = true;
    engine_.stream_finished();
  }

  FakeEngine& engine_;
  GenerationRequest request_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point next_emit_;
  std::vector<Choice> choices_;
  int completion_tokens_ = 0;
  bool aborted_ = false;
  bool finished_ = false;
};

}  // namespace

std::shared_ptr<RequestStream> FakeEngine::submit(GenerationRequest request) {
  if (live_.load() >= options_.max_live_requests) throw QueueFullError("fake engine queue is full");
  if (static_cast<int>(request.prompt_tokens.size()) + request.stop.max_tokens > options_.context_length) {
    throw InvalidArgument("max_tokens", "prompt + max_tokens exceed the context");
  }
  {
    std::lock_guard lock(mutex_);
    last_request_ = request;
  }
  ++live_;
  return std::make_shared<FakeStream>(*this, std::move(request));
}

EngineStats FakeEngine::stats() const {
  if (options_.stats) return *options_.stats;
  EngineStats s;
  s.running = live_.load();
  s.kv_blocks_total = 100;
  s.kv_blocks_used = live_.load();
  return s;
}

GenerationRequest FakeEngine::last_request() const {
  std::lock_guard lock(mutex_);
  return last_request_;
}

}  // namespace strata::testing
