#pragma once
// The OpenAI request schema: reads and validates the fields of /v1/chat/completions and
// /v1/completions bodies into what the engine needs. Tokenization happens elsewhere
// (chat_completions.cpp, completions.cpp); this file knows only JSON and limits.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "server/param_reader.h"
#include "server/server_config.h"

namespace strata {

enum class ApiKind { Chat, Completion };

// Everything a generation request asks for, apart from its prompt tokens.
struct GenerationOptions {
  ApiKind kind = ApiKind::Chat;
  std::string model;
  SamplingParams sampling;
  StopConditions stop;
  int n = 1;
  bool stream = false;
  bool include_usage = false;
  bool echo = false;                      // completions only
  std::optional<int64_t> max_tokens;      // as requested; resolved per prompt later
};

// Reads every sampling, stopping and output field; throws ApiError 400 naming the field.
GenerationOptions parse_generation_options(const nlohmann::json& body, ApiKind kind,
                                           const RequestLimits& limits, int vocab_size);

// Throws 404 model_not_found unless `model` is absent or names the served model.
void check_model_name(const nlohmann::json& body, const std::string& served_name);

// Validates messages and flattens text content parts into strings, ready for the chat
// template. Throws 400 (param "messages") on a missing/empty list, an unknown role, or a
// content part that is not text.
nlohmann::json normalize_chat_messages(const nlohmann::json& body, const RequestLimits& limits);

// The "prompt" of /v1/completions: a string, a list of strings, a list of token ids, or a
// list of lists of token ids. Strings are returned in `texts`, ids in `token_lists`
// (exactly one of the two is non-empty). Token ids are checked against the vocabulary.
struct CompletionPrompts {
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> token_lists;
};
CompletionPrompts parse_completion_prompts(const nlohmann::json& body,
                                           const RequestLimits& limits, int vocab_size);

// Resolves max_tokens for a prompt of `prompt_tokens` and checks the context window
// (400 stating both numbers). `prompt_param` names the field to blame ("messages",
// "prompt").
int resolve_max_tokens(const GenerationOptions& options, int prompt_tokens,
                       int context_length, const RequestLimits& limits,
                       const std::string& prompt_param);

}  // namespace strata
