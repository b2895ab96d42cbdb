#include "model/llama_sequence_runner.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"

namespace strata {

SequenceRunner::SequenceRunner(CausalLM& model, int context_length, DType kv_dtype, int max_chunk)
    : model_(model), context_length_(context_length), max_chunk_(std::max(1, max_chunk)) {
  if (context_length <= 0) throw InvalidArgument("--ctx", "the context length must be positive");
  const int num_blocks = (context_length + kBlockSize - 1) / kBlockSize;
  kv_ = model.backend().allocate_kv(model.kv_layout(num_blocks, kBlockSize, kv_dtype));
  block_table_.resize(static_cast<size_t>(num_blocks));
  std::iota(block_table_.begin(), block_table_.end(), 0);
}

size_t SequenceRunner::kv_bytes() const { return kv_.layout.bytes_per_block() * static_cast<size_t>(kv_.layout.num_blocks); }

std::span<float> SequenceRunner::run(std::span<const int32_t> new_tokens, bool want_logits) {
  if (tokens_.size() + new_tokens.size() > static_cast<size_t>(context_length_))
    throw InvalidArgument("--ctx", "the sequence of " + std::to_string(tokens_.size() + new_tokens.size()) +
                                       " tokens does not fit the context of " + std::to_string(context_length_));
  ForwardBatch batch;
  batch.add_sequence(std::vector<int32_t>(new_tokens.begin(), new_tokens.end()),
                     static_cast<int32_t>(tokens_.size()), block_table_, kBlockSize,
                     want_logits ? ForwardBatch::Logits::Last : ForwardBatch::Logits::None);
  model_.forward(batch, kv_, logits_);
  tokens_.insert(tokens_.end(), new_tokens.begin(), new_tokens.end());
  if (!want_logits) return {};
  return {logits_.data<float>(), static_cast<size_t>(logits_.size(1))};
}

std::span<float> SequenceRunner::prefill(const std::vector<int32_t>& tokens) {
  if (tokens.empty()) throw InvalidArgument("prompt", "the prompt is empty");
  size_t common = 0;
  while (common < tokens_.size() && common < tokens.size() && tokens_[common] == tokens[common]) ++common;
  common = std::min(common, tokens.size() - 1);  // the last token is always run, for its logits
  tokens_.resize(common);
  std::span<float> logits;
  for (size_t begin = common; begin < tokens.size(); begin += static_cast<size_t>(max_chunk_)) {
    const size_t end = std::min(tokens.size(), begin + static_cast<size_t>(max_chunk_));
    logits = run(std::span(tokens).subspan(begin, end - begin), end == tokens.size());
  }
  return logits;
}

std::span<float> SequenceRunner::decode(int32_t token) { return run(std::span(&token, 1), true); }

}  // namespace strata
