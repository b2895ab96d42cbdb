#include "server/openai_schema.h"

#include <set>

#include "server/api_error.h"

namespace strata {

namespace {

void parse_penalties(const ParamReader& p, SamplingParams& s) {
  if (auto v = p.number("presence_penalty", -2.0, 2.0)) s.presence_penalty = float(*v);
  if (auto v = p.number("frequency_penalty", -2.0, 2.0)) s.frequency_penalty = float(*v);
  if (auto v = p.number("repetition_penalty", 0.0, 10.0, true)) s.repetition_penalty = float(*v);
}

void parse_sampler(const ParamReader& p, SamplingParams& s) {
  if (auto v = p.number("temperature", 0.0, 2.0)) s.temperature = float(*v);
  if (auto v = p.number("top_p", 0.0, 1.0, true)) s.top_p = float(*v);
  if (auto v = p.integer("top_k", -1, INT32_MAX)) s.top_k = int(*v);
  if (auto v = p.number("min_p", 0.0, 1.0)) s.min_p = float(*v);
  if (auto v = p.integer("seed", INT64_MIN, INT64_MAX)) s.seed = static_cast<uint64_t>(*v);
}

void parse_logit_bias(const ParamReader& p, const RequestLimits& limits, int vocab_size,
                      SamplingParams& s) {
  const nlohmann::json* bias = p.get("logit_bias");
  if (!bias) return;
  if (!bias->is_object()) throw invalid_param("logit_bias", "'logit_bias' must be an object");
  if (static_cast<int>(bias->size()) > limits.max_logit_bias_entries) {
    throw invalid_param("logit_bias", "'logit_bias' has " + std::to_string(bias->size()) +
                                          " entries; the limit is " +
                                          std::to_string(limits.max_logit_bias_entries));
  }
  for (const auto& [key, value] : bias->items()) {
    auto id = parse_integer_key(key);
    if (!id) throw invalid_param("logit_bias", "'logit_bias' key '" + key + "' is not a token id");
    if (*id < 0 || *id >= vocab_size) {
      throw invalid_param("logit_bias", "'logit_bias' token id " + key +
                                            " is outside the vocabulary [0, " +
                                            std::to_string(vocab_size) + ")");
    }
    if (!value.is_number()) throw invalid_param("logit_bias", "'logit_bias' values must be numbers");
    double b = value.get<double>();
    if (!(b >= -100.0 && b <= 100.0)) {
      throw invalid_param("logit_bias", "'logit_bias' values must be in [-100, 100]");
    }
    s.logit_bias[static_cast<int32_t>(*id)] = float(b);
  }
}

void parse_logprobs(const ParamReader& p, ApiKind kind, const RequestLimits& limits,
                    SamplingParams& s) {
  if (kind == ApiKind::Completion) {
    // Legacy completions: logprobs is the number of alternatives (0: only the chosen).
    if (auto v = p.integer("logprobs", 0, limits.max_top_logprobs)) {
      s.logprobs = true;
      s.top_logprobs = int(*v);
    }
    return;
  }
  s.logprobs = p.boolean("logprobs").value_or(false);
  if (auto v = p.integer("top_logprobs", 0, limits.max_top_logprobs)) {
    if (!s.logprobs && *v > 0) {
      throw invalid_param("top_logprobs", "'top_logprobs' requires 'logprobs' to be true");
    }
    s.top_logprobs = int(*v);
  }
}

void parse_stop(const ParamReader& p, const RequestLimits& limits, int vocab_size,
                StopConditions& stop) {
  if (auto list = p.string_or_list("stop")) {
    if (static_cast<int>(list->size()) > limits.max_stop_strings) {
      throw invalid_param("stop", "'stop' has " + std::to_string(list->size()) +
                                      " entries; the limit is " +
                                      std::to_string(limits.max_stop_strings));
    }
    for (const auto& s : *list) {
      if (s.empty()) throw invalid_param("stop", "'stop' strings must not be empty");
      if (s.size() > limits.max_stop_string_bytes) {
        throw invalid_param("stop", "'stop' strings must be at most " +
                                        std::to_string(limits.max_stop_string_bytes) + " bytes");
      }
    }
    stop.stop_strings = std::move(*list);
  }
  if (const nlohmann::json* ids = p.get("stop_token_ids")) {
    if (!ids->is_array() || static_cast<int>(ids->size()) > limits.max_stop_strings) {
      throw invalid_param("stop_token_ids", "'stop_token_ids' must be a list of at most " +
                                                std::to_string(limits.max_stop_strings) + " ids");
    }
    for (const auto& id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab_size) {
        throw invalid_param("stop_token_ids", "'stop_token_ids' must hold token ids in the vocabulary");
      }
      stop.stop_token_ids.push_back(id.get<int32_t>());
    }
  }
  stop.ignore_eos = p.boolean("ignore_eos").value_or(false);
  stop.include_stop_string_in_output = p.boolean("include_stop_str_in_output").value_or(false);
  if (auto v = p.integer("min_tokens", 0, INT32_MAX)) stop.min_tokens = int(*v);
}

void parse_output_shape(const ParamReader& p, ApiKind kind, const RequestLimits& limits,
                        GenerationOptions& o) {
  o.n = int(p.integer("n", 1, limits.max_n).value_or(1));
  o.stream = p.boolean("stream").value_or(false);
  if (const nlohmann::json* so = p.get("stream_options")) {
    if (!so->is_object()) throw invalid_param("stream_options", "'stream_options' must be an object");
    if (!o.stream) {
      throw invalid_param("stream_options", "'stream_options' is only allowed when 'stream' is true");
    }
    ParamReader sp(*so);
    try {
      o.include_usage = sp.boolean("include_usage").value_or(false);
    } catch (const ApiError&) {
      throw invalid_param("stream_options", "'stream_options.include_usage' must be a boolean");
    }
  }
  if (kind == ApiKind::Completion) o.echo = p.boolean("echo").value_or(false);
  p.string("user");  // accepted and only type-checked
  if (const nlohmann::json* rf = p.get("response_format")) {
    std::string type = rf->is_object() && rf->contains("type") && (*rf)["type"].is_string()
                           ? (*rf)["type"].get<std::string>() : "";
    if (type != "text") {
      throw invalid_param("response_format",
                          "'response_format' of type '" + type + "' is not supported; only 'text'");
    }
  }
}

// Tool (function) calling is not offered yet (BAD_INPUTS 30). An empty or null tool list
// and tool_choice "none"/"auto" change nothing and pass; anything that would need tool
// calls is a 400 rather than an answer that silently ignores the tools.
void reject_tool_calling(const ParamReader& p) {
  for (const char* name : {"tools", "functions"}) {
    const nlohmann::json* tools = p.get(name);
    if (!tools || tools->is_null()) continue;
    if (!tools->is_array()) throw invalid_param(name, std::string("'") + name + "' must be a list");
    if (!tools->empty()) {
      throw invalid_param(name, std::string("'") + name + "' (function calling) is not supported by this server");
    }
  }
  for (const char* name : {"tool_choice", "function_call"}) {
    const nlohmann::json* choice = p.get(name);
    if (!choice || choice->is_null()) continue;
    if (choice->is_string() && (*choice == "none" || *choice == "auto")) continue;
    throw invalid_param(name, std::string("'") + name + "' names a function, but no tools are available");
  }
}

}  // namespace

GenerationOptions parse_generation_options(const nlohmann::json& body, ApiKind kind,
                                           const RequestLimits& limits, int vocab_size) {
  ParamReader p(body);
  GenerationOptions o;
  o.kind = kind;
  o.model = p.string("model").value_or("");
  parse_sampler(p, o.sampling);
  parse_penalties(p, o.sampling);
  parse_logit_bias(p, limits, vocab_size, o.sampling);
  parse_logprobs(p, kind, limits, o.sampling);
  parse_stop(p, limits, vocab_size, o.stop);
  parse_output_shape(p, kind, limits, o);
  reject_tool_calling(p);
  if (o.echo && o.sampling.logprobs) {
    throw invalid_param("echo", "'echo' together with 'logprobs' (prompt logprobs) is not supported");
  }
  // max_completion_tokens is the newer name; either is accepted.
  o.max_tokens = p.integer("max_completion_tokens", 1, limits.max_tokens);
  if (auto v = p.integer("max_tokens", 1, limits.max_tokens)) o.max_tokens = v;
  if (o.max_tokens && o.stop.min_tokens > *o.max_tokens) {
    throw invalid_param("min_tokens", "'min_tokens' must not exceed 'max_tokens'");
  }
  return o;
}

void check_model_name(const nlohmann::json& body, const std::string& served_name) {
  ParamReader p(body);
  auto model = p.string("model");
  if (model && *model != served_name) throw model_not_found(*model);
}

namespace {

std::string flatten_content(const nlohmann::json& content, size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw invalid_param("messages", where + " must be a string or a list of parts");
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
      throw invalid_param("messages", where + " parts must be objects with a 'type'");
    }
    const std::string type = part["type"].get<std::string>();
    if (type != "text") {
      throw invalid_param("messages", where + " has a part of type '" + type +
                                          "'; this model accepts only text");
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      throw invalid_param("messages", where + " text parts need a string 'text'");
    }
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

nlohmann::json normalize_chat_messages(const nlohmann::json& body, const RequestLimits& limits) {
  static const std::set<std::string> roles = {"system", "developer", "user", "assistant", "tool"};
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array()) {
    throw invalid_param("messages", "'messages' must be a list of messages");
  }
  if (it->empty()) throw invalid_param("messages", "'messages' must not be empty");
  if (static_cast<int>(it->size()) > limits.max_messages) {
    throw invalid_param("messages", "'messages' has more than " +
                                        std::to_string(limits.max_messages) + " entries");
  }
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < it->size(); ++i) {
    const auto& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw invalid_param("messages", where + " must be an object");
    if (!m.contains("role") || !m["role"].is_string() || !roles.count(m["role"].get<std::string>())) {
      throw invalid_param("messages", where + ".role must be one of system, developer, user, assistant, tool");
    }
    nlohmann::json normalized = m;
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      if (m["role"] != "assistant") throw invalid_param("messages", where + ".content is missing");
      normalized["content"] = "";
    } else {
      normalized["content"] = flatten_content(*content, i);
    }
    out.push_back(std::move(normalized));
  }
  return out;
}

namespace {

std::vector<int32_t> token_list(const nlohmann::json& list, int vocab_size) {
  std::vector<int32_t> ids;
  ids.reserve(list.size());
  for (const auto& v : list) {
    if (!v.is_number_integer()) throw invalid_param("prompt", "'prompt' token ids must be integers");
    int64_t id = v.get<int64_t>();
    if (id < 0 || id >= vocab_size) {
      throw invalid_param("prompt", "'prompt' token id " + std::to_string(id) +
                                        " is outside the vocabulary [0, " +
                                        std::to_string(vocab_size) + ")");
    }
    ids.push_back(static_cast<int32_t>(id));
  }
  if (ids.empty()) throw invalid_param("prompt", "'prompt' must not be empty");
  return ids;
}

}  // namespace

CompletionPrompts parse_completion_prompts(const nlohmann::json& body,
                                           const RequestLimits& limits, int vocab_size) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw invalid_param("prompt", "'prompt' is required");
  const nlohmann::json& prompt = *it;
  CompletionPrompts out;
  if (prompt.is_string()) {
    out.texts.push_back(prompt.get<std::string>());
    return out;
  }
  if (!prompt.is_array() || prompt.empty()) {
    throw invalid_param("prompt", "'prompt' must be a string, a list of strings or token ids");
  }
  if (prompt[0].is_number()) {
    out.token_lists.push_back(token_list(prompt, vocab_size));
    return out;
  }
  if (static_cast<int>(prompt.size()) > limits.max_prompts) {
    throw invalid_param("prompt", "'prompt' holds more than " + std::to_string(limits.max_prompts) + " prompts");
  }
  for (const auto& item : prompt) {
    if (item.is_string() && out.token_lists.empty()) {
      out.texts.push_back(item.get<std::string>());
    } else if (item.is_array() && out.texts.empty()) {
      out.token_lists.push_back(token_list(item, vocab_size));
    } else {
      throw invalid_param("prompt", "'prompt' lists must hold only strings or only token id lists");
    }
  }
  return out;
}

int resolve_max_tokens(const GenerationOptions& options, int prompt_tokens, int context_length,
                       const RequestLimits& limits, const std::string& prompt_param) {
  if (prompt_tokens >= context_length) {
    throw invalid_param(prompt_param,
                        "This model's maximum context length is " + std::to_string(context_length) +
                            " tokens. However, your prompt has " + std::to_string(prompt_tokens) +
                            " tokens, which leaves no room for the completion.");
  }
  const int room = context_length - prompt_tokens;
  if (!options.max_tokens) {
    // Legacy completions default to 16 tokens (as OpenAI); chat to the remaining context.
    int wanted = options.kind == ApiKind::Completion ? 16 : room;
    return std::min({wanted, room, limits.max_tokens});
  }
  if (*options.max_tokens > room) {
    throw invalid_param("max_tokens",
                        "This model's maximum context length is " + std::to_string(context_length) +
                            " tokens. However, you requested " +
                            std::to_string(prompt_tokens + *options.max_tokens) + " tokens (" +
                            std::to_string(prompt_tokens) + " in the prompt, " +
                            std::to_string(*options.max_tokens) +
                            " in the completion). Please reduce the length of the prompt or completion.");
  }
  return static_cast<int>(*options.max_tokens);
}

}  // namespace strata
