#include "engine/llm_engine.h"

#include <cstdio>
#include <random>

#include "core/error.h"

namespace strata {

LLMEngine::LLMEngine(std::unique_ptr<CausalLM> model, std::unique_ptr<Tokenizer> tokenizer, EngineConfig config)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)), config_(config),
      inbox_(std::make_shared<Inbox>()) {
  if (!model_ || !tokenizer_) throw InvalidArgument("model", "an engine needs a model and a tokenizer");
  const KVCacheLayout one_block = model_->kv_layout(1, config_.block_size, config_.kv_dtype);
  const size_t block_bytes = one_block.bytes_per_block();
  num_blocks_ = plan_kv_blocks(config_, model_->config(), block_bytes);
  const int host_blocks = static_cast<int>(config_.swap_space / static_cast<int64_t>(block_bytes));
  kv_ = std::make_unique<KVCacheManager>(
      KVCacheConfig{num_blocks_, config_.block_size, host_blocks, config_.enable_prefix_caching});
  scheduler_ = std::make_unique<Scheduler>(
      SchedulerConfig{config_.max_num_seqs, config_.max_batched_tokens, config_.preemption}, *kv_);
  sample_on_backend_ = samples_on_backend(config_, model_->backend());
  runner_ = std::make_unique<ModelRunner>(
      *model_, model_->kv_layout(num_blocks_, config_.block_size, config_.kv_dtype), host_blocks);
  const bool prefaulted = config_.prefault_kv_cache && runner_->prefault_kv(config_.log_startup) > 0;
  if (config_.log_startup)
    std::fprintf(stderr,
                 "strata: KV cache: %d blocks of %d tokens = %lld tokens (%.1f MiB %s, %s; %s); "
                 "swap space: %d blocks\n",
                 num_blocks_, config_.block_size, static_cast<long long>(num_blocks_) * config_.block_size,
                 static_cast<double>(block_bytes) * num_blocks_ / (1024.0 * 1024.0),
                 std::string(dtype_name(config_.kv_dtype)).c_str(), kv_budget_source(config_).c_str(),
                 prefaulted ? "made resident at start" : model_->backend().device() == Device::CPU ? "mapped as used" : "allocated",
                 host_blocks);
  if (config_.reserve_step_buffers) {
    const size_t bytes = model_->reserve_step_buffers(config_.max_batched_tokens, config_.max_num_seqs);
    if (config_.log_startup && bytes > 0)
      std::fprintf(stderr, "strata: step buffers: %.1f MiB for %d tokens and %d rows of logits, allocated at start\n",
                   static_cast<double>(bytes) / (1024.0 * 1024.0), config_.max_batched_tokens, config_.max_num_seqs);
  }
  publish_stats();
  thread_ = std::thread([this] { loop(); });
}

LLMEngine::~LLMEngine() { shutdown(std::chrono::milliseconds(0)); }

void LLMEngine::validate(const GenerationRequest& r) const {
  const int prompt = static_cast<int>(r.prompt_tokens.size());
  if (prompt == 0) throw InvalidArgument("prompt", "the prompt is empty");
  for (int32_t t : r.prompt_tokens)
    if (t < 0 || t >= vocab_size())
      throw InvalidArgument("prompt", "prompt token id " + std::to_string(t) + " is outside the vocabulary");
  if (prompt >= context_length())
    throw InvalidArgument("prompt", "the prompt has " + std::to_string(prompt) + " tokens; the context holds " +
                                        std::to_string(context_length()));
  if (r.n < 1 || r.n > config_.max_num_seqs)
    throw InvalidArgument("n", "n must be between 1 and max_num_seqs (" + std::to_string(config_.max_num_seqs) + ")");
  if (r.stop.max_tokens < 1) throw InvalidArgument("max_tokens", "max_tokens must be at least 1");
  const int64_t total = std::min<int64_t>(int64_t{prompt} + r.stop.max_tokens, context_length());
  if (!scheduler_->can_ever_fit(static_cast<int>(total)))
    throw InvalidArgument("prompt", "prompt plus max_tokens (" + std::to_string(total) +
                                        " tokens) cannot fit in the KV cache of " +
                                        std::to_string(int64_t{num_blocks_} * config_.block_size) + " tokens");
}

std::shared_ptr<RequestStream> LLMEngine::submit(GenerationRequest request) {
  validate(request);
  std::weak_ptr<Inbox> weak_inbox = inbox_;
  auto stream = std::make_shared<QueuedRequestStream>(request.request_id, [weak_inbox](const std::string& id) {
    if (auto inbox = weak_inbox.lock()) {
      std::lock_guard lock(inbox->mutex);
      inbox->aborts.push_back(id);
      inbox->wake.notify_all();
    }
  });
  {
    std::lock_guard lock(inbox_->mutex);
    if (!inbox_->accepting) throw QueueFullError("the engine is shutting down");
    if (inbox_->num_waiting + static_cast<int>(inbox_->submissions.size()) >= config_.max_queued)
      throw QueueFullError("the request queue is full (" + std::to_string(config_.max_queued) + " waiting)");
    if (!inbox_->live_ids.insert(request.request_id).second)
      throw InvalidArgument("request_id", "request id '" + request.request_id + "' is already in use");
    inbox_->submissions.push_back(Submission{std::move(request), stream});
  }
  inbox_->wake.notify_all();
  return stream;
}

void LLMEngine::abort(const std::string& request_id) {
  std::lock_guard lock(inbox_->mutex);
  inbox_->aborts.push_back(request_id);
  inbox_->wake.notify_all();
}

EngineStats LLMEngine::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

void LLMEngine::shutdown(std::chrono::milliseconds timeout) {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->accepting = false;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(inbox_->mutex);
      if (inbox_->live_ids.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  {
    std::lock_guard lock(inbox_->mutex);
    inbox_->stop = true;
  }
  inbox_->wake.notify_all();
  thread_.join();
  delivery_.flush();  // every stream has its last output when shutdown returns
}

void LLMEngine::loop() {
  while (true) {
    std::deque<Submission> submissions;
    std::vector<std::string> aborts;
    bool stop = false;
    {
      std::unique_lock lock(inbox_->mutex);
      inbox_->wake.wait(lock, [&] {
        return inbox_->stop || !inbox_->submissions.empty() || !inbox_->aborts.empty() || !scheduler_->idle();
      });
      inbox_->num_waiting += static_cast<int>(inbox_->submissions.size());
      submissions.swap(inbox_->submissions);
      aborts.swap(inbox_->aborts);
      stop = inbox_->stop;
    }
    for (auto& s : submissions) admit(std::move(s));
    for (const auto& id : aborts) end_request(id, FinishReason::Abort, {});
    publish_waiting();
    if (stop) {
      std::vector<std::string> ids;
      for (const auto& [id, r] : requests_) ids.push_back(id);
      for (const auto& id : ids) end_request(id, FinishReason::Abort, {});
      publish_stats();
      deliver();
      return;
    }
    if (!scheduler_->idle()) step();
    else {
      publish_stats();
      deliver();
    }
  }
}

void LLMEngine::admit(Submission submission) {
  GenerationRequest& r = submission.request;
  // The context bounds generation as max_tokens does.
  const int room = context_length() - static_cast<int>(r.prompt_tokens.size());
  r.stop.max_tokens = std::min(r.stop.max_tokens, room);
  const uint64_t seed = r.sampling.seed ? *r.sampling.seed : std::random_device{}() * 0x9E3779B97F4A7C15ull;
  auto request = std::make_unique<ActiveRequest>(std::move(r), std::move(submission.stream), *tokenizer_, seed);
  const GenerationRequest& req = request->request();
  Sequence seq;
  seq.id = next_sequence_id_++;
  seq.priority = req.priority;
  seq.arrival = next_arrival_++;
  seq.tokens = req.prompt_tokens;
  seq.num_prompt_tokens = static_cast<int>(req.prompt_tokens.size());
  seq.seats = req.n;
  request->choice(0).seq = seq.id;
  owner_of_sequence_[seq.id] = {request.get(), 0};
  prompt_tokens_total_ += seq.num_prompt_tokens;
  scheduler_->add(std::move(seq));
  requests_[req.request_id] = std::move(request);
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void LLMEngine::step() {
  const auto start = std::chrono::steady_clock::now();
  BatchPlan plan = scheduler_->schedule();
  if (plan.empty()) {
    // Nothing fits this step (cannot last: running sequences finish and free blocks).
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return;
  }
  ++steps_;
  logits_.full_rows.clear();
  logits_.sampling.clear();
  bool any_backend_row = false;
  for (const auto& s : plan.sequences) {
    if (!s.wants_logits) continue;
    const RowSource source = row_source(s.id);
    logits_.full_rows.push_back(source == RowSource::Host ? 1 : 0);
    if (source == RowSource::Backend) {
      const auto [request, index] = owner_of_sequence_.at(s.id);
      request->choice(index).sampler.describe_next(logits_.sampling);
      any_backend_row = true;
    } else {
      logits_.sampling.add_greedy_row();
    }
  }
  if (!any_backend_row) logits_.sampling.clear();  // argmax only: the backend's cheaper kernel
  const auto model_start = std::chrono::steady_clock::now();
  try {
    runner_->execute(plan, logits_);
    model_seconds_ += seconds_since(model_start);
  } catch (const std::exception& e) {
    model_seconds_ += seconds_since(model_start);
    // A failed forward pass fails the requests it carried; the engine keeps serving.
    std::set<std::string> failed;
    for (const auto& s : plan.sequences)
      if (auto it = owner_of_sequence_.find(s.id); it != owner_of_sequence_.end())
        failed.insert(it->second.first->request().request_id);
    for (const auto& id : failed) end_request(id, FinishReason::Error, e.what());
    publish_stats();
    deliver();
    step_seconds_ += seconds_since(start);
    return;
  }
  scheduler_->complete(plan);
  int row = 0;
  for (const auto& s : plan.sequences) {
    if (!s.wants_logits) continue;
    sample_sequence(s.id, row);
    ++row;
  }
  publish_stats();
  deliver();
  step_seconds_ += seconds_since(start);  // published with the next step's stats (or when idle)
}

bool samples_on_backend(const EngineConfig& config, const Backend& backend) {
  return config.sampling == EngineConfig::Sampling::Backend ||
         (config.sampling == EngineConfig::Sampling::Auto && backend.prefers_sampling_rows());
}

LLMEngine::RowSource LLMEngine::row_source(SequenceId id) const {
  if (!reads_logits(id)) return RowSource::Argmax;
  const auto [request, index] = owner_of_sequence_.at(id);
  // One sampler per row: the n choices of a prompt's row (not forked yet) sample on the host.
  const bool one_sampler = request->forked() || request->num_choices() == 1;
  return sample_on_backend_ && one_sampler && request->choice(index).sampler.samples_anywhere() ? RowSource::Backend
                                                                                               : RowSource::Host;
}

bool LLMEngine::reads_logits(SequenceId id) const {
  const auto [request, index] = owner_of_sequence_.at(id);
  if (request->forked()) return request->choice(index).sampler.reads_logits();
  for (int i = 0; i < request->num_choices(); ++i)  // all n choices sample from the prompt's logits
    if (request->choice(i).sampler.reads_logits()) return true;
  return false;
}

SampleResult LLMEngine::sample_choice(ChoiceState& choice, int row) {
  const size_t r = static_cast<size_t>(row);
  if (!logits_.full_rows[r]) return choice.sampler.sampled_elsewhere(logits_.tokens[r]);
  const int64_t vocab = model_->config().vocab_size;
  const float* logits_row = logits_.logits.data<float>() + row * vocab;
  row_scratch_.assign(logits_row, logits_row + vocab);
  return choice.sampler.sample(row_scratch_);
}

void LLMEngine::sample_sequence(SequenceId id, int row) {
  auto [request, index] = owner_of_sequence_.at(id);
  if (!request->forked()) {
    // The prompt of an n > 1 request is computed: fork the n choices (sharing its
    // blocks), each sampling its first token from these logits with its own generator.
    std::vector<SequenceId> children;
    for (int i = 1; i < request->num_choices(); ++i) {
      const SequenceId child = next_sequence_id_++;
      request->choice(i).seq = child;
      owner_of_sequence_[child] = {request, i};
      children.push_back(child);
    }
    scheduler_->fork(id, children);
    request->set_forked();
    for (int i = 0; i < request->num_choices(); ++i) take_token(*request, i, sample_choice(request->choice(i), row));
    return;
  }
  take_token(*request, index, sample_choice(request->choice(index), row));
}

void LLMEngine::take_token(ActiveRequest& request, int index, const SampleResult& sample) {
  ChoiceState& c = request.choice(index);
  if (c.finished) return;
  const Sequence& seq = scheduler_->sequence(c.seq);
  if (static_cast<int>(seq.tokens.size()) == seq.num_prompt_tokens)
    request.set_cached_prompt_tokens(std::max(0, seq.first_cached_tokens));
  c.sampler.accept(sample.token);
  scheduler_->append_token(c.seq, sample.token);
  ++generation_tokens_total_;
  if (request.accept(index, sample)) {
    scheduler_->remove(c.seq);
    owner_of_sequence_.erase(c.seq);
  }
}

void LLMEngine::end_request(const std::string& request_id, FinishReason reason, const std::string& error) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  ActiveRequest& request = *it->second;
  for (int i = 0; i < request.num_choices(); ++i) {
    ChoiceState& c = request.choice(i);
    if (c.finished) continue;
    request.end_choice(i, reason, error);
    if (c.seq >= 0 && owner_of_sequence_.count(c.seq)) {
      scheduler_->remove(c.seq);
      owner_of_sequence_.erase(c.seq);
    }
  }
}

void LLMEngine::deliver() {
  // The ids of requests about to send their last output are free first, so that a
  // client may reuse one as soon as it has read that output. The outputs go to the
  // delivery thread, which wakes the readers while this thread runs the next step.
  std::vector<std::string> done;
  for (auto& [id, request] : requests_)
    if (request->all_finished()) done.push_back(id);
  if (!done.empty()) {
    std::lock_guard lock(inbox_->mutex);
    for (const auto& id : done) inbox_->live_ids.erase(id);
  }
  std::vector<PendingOutput> outputs;
  for (auto& [id, request] : requests_) request->deliver(outputs);
  delivery_.send(std::move(outputs));
  for (const auto& id : done) requests_.erase(id);
}

void LLMEngine::publish_waiting() {
  const int waiting = scheduler_->counts().waiting;
  std::lock_guard lock(inbox_->mutex);
  inbox_->num_waiting = waiting;
}

void LLMEngine::publish_stats() {
  const SchedulerCounts counts = scheduler_->counts();
  const PrefixCacheStats prefix = kv_->prefix_stats();
  EngineStats s;
  s.running = counts.running;
  s.waiting = counts.waiting;
  s.swapped = counts.swapped;
  s.kv_blocks_total = kv_->num_blocks();
  s.kv_blocks_used = kv_->num_blocks_in_use();
  s.prefix_cache_hits = prefix.hit_tokens;
  s.prefix_cache_queries = prefix.queried_tokens;
  s.prefix_cache_evictions = prefix.evictions;
  s.preemptions = counts.preemptions;
  s.swap_outs = counts.swap_outs;
  s.prompt_tokens_total = prompt_tokens_total_;
  s.generation_tokens_total = generation_tokens_total_;
  s.steps = steps_;
  s.step_seconds = step_seconds_;
  s.model_seconds = model_seconds_;
  {
    std::lock_guard lock(stats_mutex_);
    stats_ = s;
  }
  publish_waiting();
}

}  // namespace strata

namespace strata {

std::unique_ptr<Engine> make_engine(std::unique_ptr<CausalLM> model, std::unique_ptr<Tokenizer> tokenizer,
                                    EngineConfig config) {
  return std::make_unique<LLMEngine>(std::move(model), std::move(tokenizer), config);
}

}  // namespace strata
