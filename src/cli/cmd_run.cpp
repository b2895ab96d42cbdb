// strata run: one-shot generation from a prompt (-p), or an interactive chat on stdin.
// A single sequence over a contiguous KV cache (SequenceRunner); the serving engine is
// separate. Output streams to stdout; loading progress and statistics go to stderr.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "chat_template/chat_template.h"
#include "cli/commands.h"
#include "cli/device_options.h"
#include "core/error.h"
#include "engine/stop_checker.h"
#include "model/llama_sequence_runner.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace strata::cli {

namespace {

struct RunArgs {
  std::string model;
  std::string prompt;
  std::string system;
  int max_tokens = 512;
  int threads = 2;
  int context = 4096;
  bool no_chat_template = false;
  bool ignore_eos = false;
  bool verbose = false;
  SamplingParams sampling;
  std::optional<uint64_t> seed;
  DeviceArgs device;
};

void add_options(CLI::App& app, RunArgs& a) {
  a.sampling.temperature = 0.8f;
  a.sampling.top_k = 40;
  a.sampling.top_p = 0.95f;
  a.sampling.min_p = 0.05f;
  app.add_option("-m,--model", a.model, "GGUF file or Hugging Face directory")->required();
  app.add_option("-p,--prompt", a.prompt, "prompt (without it: interactive chat)");
  app.add_option("-s,--system", a.system, "system message (chat)");
  app.add_option("-n,--max-tokens", a.max_tokens, "tokens to generate at most")->check(CLI::PositiveNumber);
  app.add_option("-t,--threads", a.threads, "CPU threads (0: all cores)")->check(CLI::NonNegativeNumber);
  add_device_options(app, a.device, /*engine=*/false);
  app.add_option("-c,--ctx", a.context, "context length (KV cache size)")->check(CLI::PositiveNumber);
  app.add_option("--temp", a.sampling.temperature, "temperature (0: greedy)")->check(CLI::Range(0.0, 100.0));
  app.add_option("--top-k", a.sampling.top_k, "top-k (0 or -1: off)")->check(CLI::Range(-1, 1 << 30));
  app.add_option("--top-p", a.sampling.top_p, "top-p")->check(CLI::Range(0.0, 1.0));
  app.add_option("--min-p", a.sampling.min_p, "min-p")->check(CLI::Range(0.0, 1.0));
  app.add_option("--repeat-penalty", a.sampling.repetition_penalty, "repetition penalty (1: off)")
      ->check(CLI::Range(0.01, 100.0));
  app.add_option("--frequency-penalty", a.sampling.frequency_penalty, "frequency penalty")->check(CLI::Range(-2.0, 2.0));
  app.add_option("--presence-penalty", a.sampling.presence_penalty, "presence penalty")->check(CLI::Range(-2.0, 2.0));
  app.add_option("--seed", a.seed, "random seed (default: random)");
  app.add_flag("--no-chat-template", a.no_chat_template, "use the prompt as raw text");
  app.add_flag("--ignore-eos", a.ignore_eos, "keep generating past end-of-sequence tokens");
  app.add_flag("-v,--verbose", a.verbose, "print timing statistics on stderr");
}

void show_progress(size_t done, size_t total) {
  const int percent = total ? static_cast<int>(done * 100 / total) : 100;
  std::fprintf(stderr, "\rloading model: %3d%% (%zu / %zu MiB)", percent, done >> 20, total >> 20);
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

class Generator {
 public:
  Generator(const RunArgs& args, CausalLM& model, const Tokenizer& tokenizer)
      : args_(args), tokenizer_(tokenizer), runner_(model, args.context) {
    if (!args.no_chat_template && !tokenizer.chat_template().empty())
      template_ = std::make_unique<ChatTemplate>(tokenizer.chat_template());
    seed_ = args.seed ? *args.seed : std::random_device{}();
  }

  bool has_template() const { return template_ != nullptr; }

  std::string render_chat(const nlohmann::json& messages) const {
    ChatTemplateInputs inputs;
    inputs.messages = messages;
    inputs.add_generation_prompt = true;
    inputs.bos_token = tokenizer_.bos_text();
    inputs.eos_token = tokenizer_.eos_text();
    return template_->render(inputs);
  }

  std::vector<int32_t> encode_prompt(const std::string& text, bool templated) const {
    // A rendered template already holds its bos; raw prompts get the model's specials.
    const bool add_special = !templated || (tokenizer_.special().add_bos && tokenizer_.special().bos &&
                                            text.rfind(tokenizer_.bos_text(), 0) != 0);
    return tokenizer_.encode(text, add_special, /*parse_special=*/templated);
  }

  // Streams the continuation of `prompt` to stdout; returns the generated text.
  std::string generate(const std::vector<int32_t>& prompt);

 private:
  const RunArgs& args_;
  const Tokenizer& tokenizer_;
  SequenceRunner runner_;
  std::unique_ptr<ChatTemplate> template_;
  uint64_t seed_ = 0;
  int turns_ = 0;
};

std::string Generator::generate(const std::vector<int32_t>& prompt) {
  using clock = std::chrono::steady_clock;
  StopConditions stop;
  stop.max_tokens = std::min(args_.max_tokens, runner_.context_length() - static_cast<int>(prompt.size()));
  stop.ignore_eos = args_.ignore_eos;
  if (stop.max_tokens <= 0)
    throw InvalidArgument("--ctx", "the prompt of " + std::to_string(prompt.size()) +
                                       " tokens fills the context of " + std::to_string(runner_.context_length()));
  StopChecker checker(stop, tokenizer_.special().end_of_generation);
  SequenceSampler sampler(args_.sampling, seed_ + static_cast<uint64_t>(turns_++), prompt);
  IncrementalDetokenizer detok(tokenizer_, /*skip_special=*/true);
  const auto t0 = clock::now();
  std::span<float> logits = runner_.prefill(prompt);
  const auto t1 = clock::now();
  std::string text;
  int generated = 0;
  for (;;) {
    const int32_t token = sampler.sample(logits).token;
    sampler.accept(token);
    ++generated;
    const StopDecision d = checker.append(token, detok.push(token));
    text += d.text;
    std::fwrite(d.text.data(), 1, d.text.size(), stdout);
    std::fflush(stdout);
    if (d.finish) break;
    logits = runner_.decode(token);
  }
  const std::string rest = detok.flush();
  text += rest;
  std::fwrite(rest.data(), 1, rest.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (args_.verbose) {
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
    const double decode_s = std::chrono::duration<double>(clock::now() - t1).count();
    std::fprintf(stderr, "[prompt %zu tokens, %.1f t/s | generated %d tokens, %.1f t/s]\n", prompt.size(),
                 static_cast<double>(prompt.size()) / prefill_s, generated,
                 std::max(generated - 1, 0) / std::max(decode_s, 1e-9));
  }
  return text;
}

int interactive_chat(Generator& gen, const RunArgs& args) {
  if (!gen.has_template()) throw Error("interactive chat needs a chat template (the model has none)");
  nlohmann::json messages = nlohmann::json::array();
  if (!args.system.empty()) messages.push_back({{"role", "system"}, {"content", args.system}});
  std::fprintf(stderr, "chat: type a message; /exit or ctrl-D ends\n");
  std::string line;
  for (;;) {
    std::fprintf(stderr, "> ");
    std::fflush(stderr);
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const std::string reply = gen.generate(gen.encode_prompt(gen.render_chat(messages), true));
    messages.push_back({{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

}  // namespace

int run_command(int argc, char** argv) {
  CLI::App app{"Generate from a prompt, or chat interactively", "strata run"};
  RunArgs args;
  add_options(app, args);
  CLI11_PARSE(app, argc, argv);

  auto tokenizer = Tokenizer::load(args.model);
  LoadOptions options = load_options(args.device, args.threads);
  options.progress = show_progress;
  auto model = load_model(args.model, options);
  args.context = std::min(args.context, model->config().context_length);
  Generator gen(args, *model, *tokenizer);
  if (args.prompt.empty()) return interactive_chat(gen, args);
  std::vector<int32_t> prompt;
  if (gen.has_template()) {
    nlohmann::json messages = nlohmann::json::array();
    if (!args.system.empty()) messages.push_back({{"role", "system"}, {"content", args.system}});
    messages.push_back({{"role", "user"}, {"content", args.prompt}});
    prompt = gen.encode_prompt(gen.render_chat(messages), true);
  } else {
    prompt = gen.encode_prompt(args.prompt, false);
  }
  gen.generate(prompt);
  return 0;
}

}  // namespace strata::cli
