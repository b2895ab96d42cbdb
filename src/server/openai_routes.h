#pragma once
// The route handlers of the server. Each validates its request fully before anything is
// submitted to the engine, and throws ApiError for the client's mistakes.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/http_types.h"
#include "server/openai_schema.h"

namespace strata {

class ServerContext;

RouteResult handle_chat_completions(ServerContext& context, const HttpRequest& request);
RouteResult handle_completions(ServerContext& context, const HttpRequest& request);

HttpResponse handle_models(ServerContext& context);
HttpResponse handle_model(ServerContext& context, const std::string& name);
HttpResponse handle_tokenize(ServerContext& context, const HttpRequest& request);
HttpResponse handle_detokenize(ServerContext& context, const HttpRequest& request);
HttpResponse handle_metrics(ServerContext& context);

// Submits one engine request per prompt and wraps the streams in a job. Turns the
// engine's refusals into ApiErrors: QueueFullError -> 429 with Retry-After,
// InvalidArgument -> 400.
std::shared_ptr<GenerationJob> submit_generation(ServerContext& context,
                                                 GenerationOptions options,
                                                 std::vector<std::vector<int32_t>> prompts,
                                                 std::vector<std::string> echo_texts,
                                                 const std::string& id_prefix,
                                                 const std::string& prompt_param);

}  // namespace strata
