#pragma once
// Test doubles for the server: a chat formatter in ChatML, and an engine that "generates" a
// fixed, known text per choice (one byte a token, through ByteTokenizer's ids) with a
// configurable delay per token, honours max_tokens and stop strings, and counts aborts.
// Everything the server does can then be checked without a model.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "../engine/byte_tokenizer.h"
#include "server/chat_prompt.h"

namespace strata::testing {

class ChatMLFormatter : public ChatFormatter {
 public:
  std::string render(const nlohmann::json& messages, bool add_generation_prompt) const override;
};

struct FakeEngineOptions {
  int context_length = 256;
  std::chrono::milliseconds token_delay{0};
  int max_live_requests = 1000;  // beyond: QueueFullError
  std::optional<EngineStats> stats;  // reported as is instead of the live counts
};

// The text the fake generates for choice `index` (before max_tokens and stop apply).
std::string fake_reply(int choice_index);

class FakeEngine : public Engine {
 public:
  explicit FakeEngine(FakeEngineOptions options = {}) : options_(options) {}
  std::shared_ptr<RequestStream> submit(GenerationRequest request) override;
  EngineStats stats() const override;
  const Tokenizer& tokenizer() const override { return tokenizer_; }
  int context_length() const override { return options_.context_length; }
  int vocab_size() const override { return ByteTokenizer::kVocab; }
  void shutdown(std::chrono::milliseconds) override {}

  int aborts() const { return aborts_.load(); }
  int live_requests() const { return live_.load(); }
  GenerationRequest last_request() const;
  FakeEngineOptions& options() { return options_; }

  // Called by streams.
  void count_abort() { ++aborts_; }
  void stream_finished() { --live_; }

 private:
  FakeEngineOptions options_;
  ByteTokenizer tokenizer_;
  std::atomic<int> aborts_{0};
  std::atomic<int> live_{0};
  mutable std::mutex mutex_;
  GenerationRequest last_request_;
};

}  // namespace strata::testing
