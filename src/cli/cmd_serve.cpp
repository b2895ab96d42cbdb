// strata serve: the OpenAI-compatible HTTP server (with the web chat page at /) over the
// serving engine. Runs until SIGINT/SIGTERM, then shuts down gracefully.
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/device_options.h"
#include "core/error.h"
#include "core/memory.h"
#include "engine/engine.h"
#include "engine/engine_config.h"
#include "model/model.h"
#include "server/chat_prompt.h"
#include "server/http_server.h"
#include "server/server_context.h"
#include "tokenizer/tokenizer.h"

namespace strata::cli {

namespace {

struct ServeArgs {
  std::string model;
  int threads = 0;
  std::string kv_cache_memory;  // e.g. "512M", "2G"; empty: the engine's default
  std::string preemption = "recompute";
  std::string swap_space = "4G";  // host memory for swapped-out blocks (--preemption swap)
  int shutdown_timeout_s = 30;
  int header_timeout_s = 10;
  int idle_timeout_s = 60;
  size_t max_body_mib = 8;
  int release_memory_idle_ms = 1000;
  ServerConfig server;
  EngineConfig engine;
  DeviceArgs device;
};

int64_t parse_size(const std::string& option, const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw InvalidArgument(option, option + ": not a size: '" + text + "'");
  }
  std::string suffix = text.substr(used);
  double scale = suffix.empty() || suffix == "B" ? 1
               : (suffix == "K" || suffix == "KiB") ? 1024.0
               : (suffix == "M" || suffix == "MiB") ? 1024.0 * 1024
               : (suffix == "G" || suffix == "GiB") ? 1024.0 * 1024 * 1024 : -1;
  if (scale < 0 || value <= 0) throw InvalidArgument(option, option + ": not a size: '" + text + "'");
  return static_cast<int64_t>(value * scale);
}

void add_options(CLI::App& app, ServeArgs& a) {
  app.add_option("-m,--model", a.model, "GGUF file or Hugging Face directory")->required();
  app.add_option("--host", a.server.host, "address to listen on")->capture_default_str();
  app.add_option("--port", a.server.port, "port to listen on (0: any free port)")->capture_default_str();
  app.add_option("--api-key", a.server.api_key, "require 'Authorization: Bearer KEY' (all routes but /health and the page)");
  app.add_option("--served-model-name", a.server.served_model_name, "model name in the API (default: the file's name)");
  app.add_option("-t,--threads", a.threads, "CPU threads for the model (0: all cores)")->check(CLI::NonNegativeNumber);
  add_device_options(app, a.device, /*engine=*/true);
  app.add_option("--kv-cache-memory", a.kv_cache_memory, "KV cache size, e.g. 512M or 2G (default: 25% of available memory, at most 4G; made resident at start)");
  app.add_option("--release-memory-when-idle", a.release_memory_idle_ms,
                 "return freed heap memory to the OS once idle for this many ms (0: never)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_flag("--lazy-kv-cache", [&a](int64_t) { a.engine.prefault_kv_cache = false; },
               "map KV cache pages as blocks are first used instead of at start (a smaller idle footprint that grows under load)");
  app.add_option("--num-kv-blocks", a.engine.num_kv_blocks, "exact number of KV blocks")->check(CLI::NonNegativeNumber);
  app.add_option("--block-size", a.engine.block_size, "tokens per KV block")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--max-num-seqs", a.engine.max_num_seqs, "running sequences at most")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--max-batched-tokens", a.engine.max_batched_tokens, "tokens per engine step")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--max-queued", a.engine.max_queued, "waiting requests before 429")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--preemption", a.preemption, "when KV blocks run out: recompute the preempted request later, or swap its blocks to host memory")
      ->check(CLI::IsMember({"recompute", "swap"}))->capture_default_str();
  app.add_option("--swap-space", a.swap_space, "host memory for swapped-out blocks (--preemption swap), mapped as used")
      ->capture_default_str();
  app.add_flag("--no-prefix-caching", [&a](int64_t) { a.engine.enable_prefix_caching = false; }, "disable the prefix cache");
  app.add_option("--max-connections", a.server.max_connections, "open connections at most")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--io-threads", a.server.io_threads, "network threads")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--max-body-mib", a.max_body_mib, "request body limit (MiB)")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--header-timeout", a.header_timeout_s, "seconds for a request's headers")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--idle-timeout", a.idle_timeout_s, "seconds a keep-alive connection may idle")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--shutdown-timeout", a.shutdown_timeout_s, "seconds in-flight requests get on SIGTERM")->check(CLI::NonNegativeNumber)->capture_default_str();
  app.add_option("--max-n", a.server.limits.max_n, "largest n per request")->check(CLI::PositiveNumber)->capture_default_str();
}

std::unique_ptr<ChatFormatter> chat_formatter_for(const Tokenizer& tokenizer) {
  if (tokenizer.chat_template().empty()) {
    std::cerr << "strata serve: the model has no chat template; /v1/chat/completions will answer 400\n";
    return nullptr;
  }
  try {
    return make_template_chat_formatter(tokenizer);
  } catch (const Error& e) {
    std::cerr << "strata serve: the chat template does not parse (" << e.what()
              << "); /v1/chat/completions will answer 400\n";
    return nullptr;
  }
}

}  // namespace

int serve_command(int argc, char** argv) {
  CLI::App app{"OpenAI-compatible HTTP server with a web chat page", "strata serve"};
  ServeArgs a;
  a.server.served_model_name.clear();
  a.engine.prefault_kv_cache = true;  // the idle footprint is the footprint under load
  a.engine.reserve_step_buffers = true;
  add_options(app, a);
  CLI11_PARSE(app, argc, argv);
  if (!a.kv_cache_memory.empty()) a.engine.kv_cache_memory = parse_size("--kv-cache-memory", a.kv_cache_memory);
  if (a.preemption == "swap") {
    a.engine.preemption = PreemptionMode::Swap;
    a.engine.swap_space = parse_size("--swap-space", a.swap_space);
  }
  if (a.server.served_model_name.empty()) {
    a.server.served_model_name = std::filesystem::path(a.model).filename().replace_extension().string();
  }
  a.server.max_body_bytes = a.max_body_mib << 20;
  a.server.header_timeout = std::chrono::seconds(a.header_timeout_s);
  a.server.idle_timeout = std::chrono::seconds(a.idle_timeout_s);
  a.server.shutdown_timeout = std::chrono::seconds(a.shutdown_timeout_s);
  a.server.release_memory_when_idle_after = std::chrono::milliseconds(a.release_memory_idle_ms);
  return_freed_memory_promptly();  // before loading: the idle footprint is the footprint after a burst

  auto [tokenizer, model] = load_engine_inputs(a.model, a.threads, a.device, a.engine);
  std::unique_ptr<Engine> engine = make_engine(std::move(model), std::move(tokenizer), a.engine);
  std::unique_ptr<ChatFormatter> formatter = chat_formatter_for(engine->tokenizer());

  ServerContext context(*engine, formatter.get(), a.server);
  HttpServer server(context);
  server.start();
  std::cerr << "strata serve: " << context.config().served_model_name << " on http://"
            << a.server.host << ":" << server.port() << "/ (Ctrl-C to stop)" << std::endl;
  server.wait_for_signal_then_shutdown();
  engine->shutdown(std::chrono::seconds(1));
  std::cerr << "strata serve: stopped\n";
  return 0;
}

}  // namespace strata::cli
