#include "server/generation_job.h"

#include "server/json_body.h"
#include "server/openai_format.h"
#include "server/server_context.h"
#include "tokenizer/tokenizer.h"

namespace strata {

namespace {

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// After an abort a correct engine ends the stream within a step; this bounds the wait
// should it not, so that no job thread outlives its purpose.
constexpr auto kAbortGrace = std::chrono::seconds(10);

}  // namespace

GenerationJob::GenerationJob(ServerContext& context, GenerationOptions options, std::string id,
                             std::vector<SubmittedPrompt> prompts)
    : context_(context), options_(std::move(options)), id_(std::move(id)),
      created_(unix_time_now()), prompts_(std::move(prompts)),
      choices_(prompts_.size() * options_.n), timings_(prompts_.size()),
      arrival_(std::chrono::steady_clock::now()) {
  for (size_t p = 0; p < prompts_.size(); ++p) {
    for (int c = 0; c < options_.n; ++c) choices_[p * options_.n + c].text = prompts_[p].echo_text;
  }
}

void GenerationJob::abort() {
  aborted_.store(true);
  for (auto& p : prompts_) p.stream->abort();
}

void GenerationJob::run(ResponseSink& sink) {
  if (options_.stream) {
    sink.start_event_stream();
    send_stream_prologue(sink);
    pump_streams(&sink);
    count_in_metrics();
    send_stream_epilogue(sink);
    sink.end_event_stream();
  } else {
    pump_streams(nullptr);
    count_in_metrics();
    sink.send_response(final_response());
  }
}

// Before the answer's end goes out: a client that reads /metrics once it has its answer
// must find the request's tokens there.
void GenerationJob::count_in_metrics() {
  int prompt_tokens = 0, completion_tokens = 0;
  for (size_t p = 0; p < prompts_.size(); ++p) {
    prompt_tokens += prompts_[p].prompt_tokens;
    completion_tokens += timings_[p].completion_tokens;
  }
  context_.metrics().add_tokens(prompt_tokens, completion_tokens);
  if (aborted_) context_.metrics().count_abort();
}

void GenerationJob::pump_streams(ResponseSink* streaming_sink) {
  std::vector<size_t> active(prompts_.size());
  for (size_t i = 0; i < active.size(); ++i) active[i] = i;
  std::optional<std::chrono::steady_clock::time_point> abort_seen;
  while (!active.empty()) {
    if (aborted_ && !abort_seen) abort_seen = std::chrono::steady_clock::now();
    if (abort_seen && std::chrono::steady_clock::now() - *abort_seen > kAbortGrace) return;
    // One stream: block on it. Several: poll each, then wait briefly on the first.
    bool got_any = false;
    for (size_t k = 0; k < active.size();) {
      size_t p = active[k];
      auto wait = active.size() == 1 ? std::chrono::milliseconds(100) : std::chrono::milliseconds(0);
      std::optional<RequestOutput> out = prompts_[p].stream->next(wait);
      if (out) {
        got_any = true;
        handle_output(p, *out, streaming_sink);
        if (out->finished) {
          active.erase(active.begin() + k);
          continue;
        }
      }
      ++k;
    }
    if (!got_any && active.size() > 1) {
      std::optional<RequestOutput> out = prompts_[active[0]].stream->next(std::chrono::milliseconds(2));
      if (out) {
        handle_output(active[0], *out, streaming_sink);
        if (out->finished) active.erase(active.begin());
      }
    }
  }
}

void GenerationJob::record_timing(size_t p, const RequestOutput& output) {
  auto now = std::chrono::steady_clock::now();
  StreamTiming& t = timings_[p];
  bool has_tokens = false;
  for (const auto& d : output.deltas) has_tokens |= !d.token_ids.empty();
  if (has_tokens) {
    if (!t.first_token) {
      t.first_token = now;
      context_.metrics().observe_time_to_first_token(seconds_between(arrival_, now));
    } else if (t.last_output) {
      context_.metrics().observe_inter_token_latency(seconds_between(*t.last_output, now));
    }
    t.last_output = now;
  }
  t.completion_tokens = output.completion_tokens;
  t.cached_prompt_tokens = output.cached_prompt_tokens;
  if (output.finished && !t.finished) {
    t.finished = true;
    context_.metrics().observe_e2e_latency(seconds_between(arrival_, now));
  }
}

void GenerationJob::handle_output(size_t p, const RequestOutput& output, ResponseSink* sink) {
  record_timing(p, output);
  const Tokenizer& tokenizer = context_.engine().tokenizer();
  for (const ChoiceDelta& delta : output.deltas) {
    if (delta.index < 0 || delta.index >= options_.n) continue;
    const int index = static_cast<int>(p) * options_.n + delta.index;
    ChoiceState& choice = choices_[index];
    nlohmann::json logprobs;  // null unless requested
    if (options_.sampling.logprobs && !delta.logprobs.empty()) {
      if (options_.kind == ApiKind::Chat) {
        logprobs = chat_logprob_entries(tokenizer, delta.logprobs);
        if (choice.logprobs.is_null()) choice.logprobs = nlohmann::json::array();
        for (const auto& e : logprobs) choice.logprobs.push_back(e);
        logprobs = {{"content", std::move(logprobs)}};
      } else {
        logprobs = completion_logprobs(tokenizer, delta.logprobs, choice.text_offset);
        append_completion_logprobs(choice.logprobs, logprobs);
      }
    }
    choice.text += delta.text;
    if (delta.finish) {
      choice.finish = delta.finish;
      choice.error = delta.error;
    }
    bool worth_sending = !delta.text.empty() || delta.finish || !logprobs.is_null();
    if (sink && worth_sending) {
      nlohmann::json chunk = chunk_skeleton();
      chunk["choices"].push_back(stream_choice(index, delta, logprobs));
      sink->send_event(dump_json(chunk));
    }
  }
}

nlohmann::json GenerationJob::chunk_skeleton() const {
  nlohmann::json chunk = {
      {"id", id_},
      {"object", options_.kind == ApiKind::Chat ? "chat.completion.chunk" : "text_completion"},
      {"created", created_},
      {"model", options_.model},
      {"system_fingerprint", kSystemFingerprint},
      {"choices", nlohmann::json::array()}};
  if (options_.include_usage) chunk["usage"] = nullptr;
  return chunk;
}

nlohmann::json GenerationJob::stream_choice(int index, const ChoiceDelta& delta,
                                            const nlohmann::json& logprobs) const {
  nlohmann::json finish = delta.finish ? nlohmann::json(openai_finish_reason(*delta.finish))
                                       : nlohmann::json(nullptr);
  if (options_.kind == ApiKind::Chat) {
    nlohmann::json d = nlohmann::json::object();
    if (!delta.text.empty()) d["content"] = delta.text;
    return {{"index", index}, {"delta", std::move(d)}, {"logprobs", logprobs},
            {"finish_reason", std::move(finish)}};
  }
  return {{"index", index}, {"text", delta.text}, {"logprobs", logprobs},
          {"finish_reason", std::move(finish)}};
}

void GenerationJob::send_stream_prologue(ResponseSink& sink) {
  // Chat streams open each choice with the assistant role, as OpenAI does; echo opens a
  // completion choice with its prompt.
  for (size_t index = 0; index < choices_.size(); ++index) {
    nlohmann::json chunk = chunk_skeleton();
    if (options_.kind == ApiKind::Chat) {
      chunk["choices"].push_back({{"index", index},
                                  {"delta", {{"role", "assistant"}, {"content", ""}}},
                                  {"logprobs", nullptr},
                                  {"finish_reason", nullptr}});
    } else if (options_.echo) {
      chunk["choices"].push_back({{"index", index}, {"text", choices_[index].text},
                                  {"logprobs", nullptr}, {"finish_reason", nullptr}});
    } else {
      continue;
    }
    sink.send_event(dump_json(chunk));
  }
}

void GenerationJob::send_stream_epilogue(ResponseSink& sink) {
  if (auto error = first_error()) {
    nlohmann::json e = {{"error", {{"message", *error}, {"type", "internal_error"},
                                   {"param", nullptr}, {"code", nullptr}}}};
    sink.send_event(dump_json(e));
  }
  if (options_.include_usage) {
    nlohmann::json chunk = chunk_skeleton();
    chunk["usage"] = usage();
    sink.send_event(dump_json(chunk));
  }
  sink.send_event("[DONE]");
}

std::optional<std::string> GenerationJob::first_error() const {
  for (const auto& c : choices_) {
    if (c.finish == FinishReason::Error) return c.error.empty() ? "generation failed" : c.error;
  }
  return std::nullopt;
}

nlohmann::json GenerationJob::usage() const {
  int prompt = 0, completion = 0, cached = 0;
  for (size_t p = 0; p < prompts_.size(); ++p) {
    prompt += prompts_[p].prompt_tokens;
    completion += timings_[p].completion_tokens;
    cached += timings_[p].cached_prompt_tokens;
  }
  return usage_json(prompt, completion, cached);
}

HttpResponse GenerationJob::final_response() const {
  if (auto error = first_error()) {
    nlohmann::json e = {{"error", {{"message", *error}, {"type", "internal_error"},
                                   {"param", nullptr}, {"code", nullptr}}}};
    return json_response(500, dump_json(e));
  }
  const bool chat = options_.kind == ApiKind::Chat;
  nlohmann::json choices = nlohmann::json::array();
  for (size_t index = 0; index < choices_.size(); ++index) {
    const ChoiceState& c = choices_[index];
    nlohmann::json finish = c.finish ? nlohmann::json(openai_finish_reason(*c.finish))
                                     : nlohmann::json("abort");
    nlohmann::json logprobs = nullptr;
    if (options_.sampling.logprobs) {
      logprobs = chat ? nlohmann::json{{"content", c.logprobs.is_null() ? nlohmann::json::array() : c.logprobs}}
                      : c.logprobs;
    }
    nlohmann::json choice = {{"index", index}, {"logprobs", std::move(logprobs)},
                             {"finish_reason", std::move(finish)}};
    if (chat) choice["message"] = {{"role", "assistant"}, {"content", c.text}};
    else choice["text"] = c.text;
    choices.push_back(std::move(choice));
  }
  nlohmann::json body = {{"id", id_},
                         {"object", chat ? "chat.completion" : "text_completion"},
                         {"created", created_},
                         {"model", options_.model},
                         {"system_fingerprint", kSystemFingerprint},
                         {"choices", std::move(choices)},
                         {"usage", usage()}};
  return json_response(200, dump_json(body));
}

}  // namespace strata
