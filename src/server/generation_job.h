#pragma once
// One /v1/chat/completions or /v1/completions request after validation: its engine
// streams (one per prompt; each carries n choices), read on a job thread of its own and
// written to the client as SSE chunks or as one JSON response.
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/http_types.h"
#include "server/openai_schema.h"

namespace strata {

class ServerContext;

struct SubmittedPrompt {
  std::shared_ptr<RequestStream> stream;
  int prompt_tokens = 0;
  std::string echo_text;  // prepended to each choice's text when echo is set
};

class GenerationJob {
 public:
  GenerationJob(ServerContext& context, GenerationOptions options, std::string id,
                std::vector<SubmittedPrompt> prompts);

  // Reads the streams to their end and answers through `sink`. Runs on the job thread.
  void run(ResponseSink& sink);
  // Aborts every stream (the client went away, or shutdown ran out of time).
  void abort();
  bool aborted() const { return aborted_.load(); }

 private:
  struct ChoiceState {
    std::string text;
    nlohmann::json logprobs;  // chat: list of entries; completions: the four arrays
    size_t text_offset = 0;
    std::optional<FinishReason> finish;
    std::string error;
  };
  struct StreamTiming {
    std::optional<std::chrono::steady_clock::time_point> first_token, last_output;
    int completion_tokens = 0;
    int cached_prompt_tokens = 0;
    bool finished = false;
  };

  void pump_streams(ResponseSink* streaming_sink);
  // Adds the request's tokens (and its abort) to the server's metrics.
  void count_in_metrics();
  void handle_output(size_t prompt_index, const RequestOutput& output, ResponseSink* sink);
  void record_timing(size_t prompt_index, const RequestOutput& output);
  nlohmann::json chunk_skeleton() const;
  nlohmann::json stream_choice(int index, const ChoiceDelta& delta, const nlohmann::json& logprobs) const;
  void send_stream_prologue(ResponseSink& sink);
  void send_stream_epilogue(ResponseSink& sink);
  HttpResponse final_response() const;
  nlohmann::json usage() const;
  std::optional<std::string> first_error() const;

  ServerContext& context_;
  GenerationOptions options_;
  std::string id_;
  int64_t created_;
  std::vector<SubmittedPrompt> prompts_;
  std::vector<ChoiceState> choices_;      // prompts x n, prompt-major
  std::vector<StreamTiming> timings_;     // per prompt
  std::chrono::steady_clock::time_point arrival_;
  std::atomic<bool> aborted_{false};
};

}  // namespace strata
