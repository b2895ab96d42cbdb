#include <exception>

#include "core/error.h"
#include "server/api_error.h"
#include "server/generation_job.h"
#include "server/openai_routes.h"
#include "server/server_context.h"

namespace strata {

namespace {

[[noreturn]] void rethrow_as_api_error(const std::exception_ptr& error,
                                       const ServerContext& context) {
  try {
    std::rethrow_exception(error);
  } catch (const QueueFullError& e) {
    ApiError busy(429, "rate_limit_error",
                  std::string("The server is busy (request queue full); retry later: ") + e.what(),
                  {}, "queue_full");
    busy.retry_after_seconds = context.config().retry_after_seconds;
    throw busy;
  } catch (const InvalidArgument& e) {
    throw invalid_param(e.param(), e.what());
  } catch (const ApiError&) {
    throw;
  } catch (const std::exception& e) {
    throw ApiError(503, "service_unavailable",
                   std::string("The engine did not accept the request: ") + e.what());
  }
}

}  // namespace

std::shared_ptr<GenerationJob> submit_generation(ServerContext& context, GenerationOptions options,
                                                 std::vector<std::vector<int32_t>> prompts,
                                                 std::vector<std::string> echo_texts,
                                                 const std::string& id_prefix,
                                                 const std::string& prompt_param) {
  Engine& engine = context.engine();
  std::vector<int> max_tokens;
  for (const auto& tokens : prompts) {
    max_tokens.push_back(resolve_max_tokens(options, static_cast<int>(tokens.size()),
                                            engine.context_length(), context.config().limits,
                                            prompt_param));
  }
  const std::string id = context.new_request_id(id_prefix);
  std::vector<SubmittedPrompt> submitted;
  try {
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerationRequest request;
      request.request_id = prompts.size() == 1 ? id : id + "-" + std::to_string(i);
      request.sampling = options.sampling;
      request.stop = options.stop;
      request.stop.max_tokens = max_tokens[i];
      request.n = options.n;
      SubmittedPrompt s;
      s.prompt_tokens = static_cast<int>(prompts[i].size());
      if (options.echo && i < echo_texts.size()) s.echo_text = echo_texts[i];
      request.prompt_tokens = std::move(prompts[i]);
      s.stream = engine.submit(std::move(request));
      submitted.push_back(std::move(s));
    }
  } catch (...) {
    for (auto& s : submitted) s.stream->abort();
    rethrow_as_api_error(std::current_exception(), context);
  }
  options.model = context.config().served_model_name;
  return std::make_shared<GenerationJob>(context, std::move(options), id, std::move(submitted));
}

}  // namespace strata
