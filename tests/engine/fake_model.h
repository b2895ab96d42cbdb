#pragma once
// A tiny deterministic stand-in for a model, for engine tests that need no weights.
// Its logits depend on every token of the context, read back through the KV cache and
// the sequence's block table: a wrong block table, a missed copy-on-write or a bad
// swap changes the tokens it produces. The same rule, computed directly from a token
// list (reference_logits), is the tests' reference.
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace strata::testing {

constexpr int kFakeVocab = 64;
constexpr int32_t kFakeEos = 0;

// Logits [vocab] for the next token after `context`.
std::vector<float> reference_logits(const std::vector<int32_t>& context);
// Greedy continuation of `prompt` by the reference rule, stopping at eos or max_tokens.
std::vector<int32_t> reference_greedy(const std::vector<int32_t>& prompt, int max_tokens, bool stop_at_eos);

std::unique_ptr<CausalLM> make_fake_model(int context_length = 1024);
// Holds a model's forward passes until open() is called, so a test can queue many
// requests before the engine's first step and get the same schedule on any machine.
class StartGate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// `model` whose forward() first waits for `gate` to open.
std::unique_ptr<CausalLM> gated(std::unique_ptr<CausalLM> model, std::shared_ptr<StartGate> gate);

// Token i decodes to "<i>"; token 0 ends generation.
std::unique_ptr<Tokenizer> make_fake_tokenizer(int vocab_size = kFakeVocab);

}  // namespace strata::testing
