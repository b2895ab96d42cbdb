#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <vector>

#include "core/error.h"

namespace strata {

namespace {

Tensor rows_of(const Tensor& t, int64_t rows) { return t.slice(0, 0, rows); }

// Heads [first, first + count) of the first `rows` rows of [T, H * head_dim] activations.
Tensor heads_of(const Tensor& t, int64_t rows, int first, int count, int head_dim) {
  return rows_of(t, rows).reshape({rows, t.size(1) / head_dim, head_dim}).slice(1, first, first + count);
}

size_t tensor_bytes(const Tensor& t) { return t.defined() ? t.nbytes() : 0; }

size_t count_weight_bytes(const LlamaWeights& w) {
  size_t n = tensor_bytes(w.token_embd) + tensor_bytes(w.output_norm);
  if (w.output.defined() && w.output.raw_data() != w.token_embd.raw_data()) n += tensor_bytes(w.output);
  for (const auto& l : w.layers)
    for (const Tensor* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm,
                            &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down})
      n += tensor_bytes(*t);
  return n;
}

Tensor upload_if_defined(Backend& backend, const Tensor& t) { return t.defined() ? backend.upload(t) : t; }

void upload_weights(Backend& backend, LlamaWeights& w) {
  const bool tied = w.output.defined() && w.output.raw_data() == w.token_embd.raw_data();
  w.token_embd = backend.upload(w.token_embd);
  w.output = tied ? w.token_embd : backend.upload(w.output);
  w.output_norm = backend.upload(w.output_norm);
  for (auto& l : w.layers) {
    for (Tensor* t : {&l.attn_norm, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm, &l.wo, &l.ffn_norm, &l.w_down})
      *t = upload_if_defined(backend, *t);
    // The products of one input, stacked where the backend can (one product for each set).
    Tensor* const qkv[] = {&l.wq, &l.wk, &l.wv};
    Tensor* const gate_up[] = {&l.w_gate, &l.w_up};
    backend.upload_stacked(qkv);
    backend.upload_stacked(gate_up);
  }
}

}  // namespace

LlamaModel::LlamaModel(ModelConfig config, LlamaWeights weights, std::unique_ptr<Backend> backend,
                       std::shared_ptr<void> keepalive)
    : config_(std::move(config)), weights_(std::move(weights)), backend_(std::move(backend)),
      keepalive_(std::move(keepalive)) {
  weight_bytes_ = count_weight_bytes(weights_);
  upload_weights(*backend_, weights_);
}

void LlamaModel::ensure_scratch(int64_t tokens, int64_t logit_rows) {
  const auto& c = config_;
  if (tokens > scratch_.rows || logit_rows > logit_scratch_.rows) backend_->drop_steps();  // new addresses
  if (tokens > scratch_.rows) {
    Backend& b = *backend_;
    const int64_t q_dim = int64_t{c.num_heads} * c.head_dim, kv_dim = int64_t{c.num_kv_heads} * c.head_dim;
    scratch_.rows = tokens;
    scratch_.x = b.allocate({tokens, c.hidden_size}, DType::F32);
    scratch_.normed = b.allocate({tokens, c.hidden_size}, DType::F32);
    // q, k and v side by side in each row, and gate and up: the columns a product of
    // stacked weights (upload_stacked) writes.
    scratch_.qkv = b.allocate({tokens, q_dim + 2 * kv_dim}, DType::F32);
    scratch_.q = scratch_.qkv.slice(1, 0, q_dim);
    scratch_.k = scratch_.qkv.slice(1, q_dim, q_dim + kv_dim);
    scratch_.v = scratch_.qkv.slice(1, q_dim + kv_dim, q_dim + 2 * kv_dim);
    scratch_.attn = b.allocate({tokens, q_dim}, DType::F32);
    const int64_t inter = c.intermediate_size;
    scratch_.gate_up = b.allocate({tokens, 2 * inter}, DType::F32);
    scratch_.gate = scratch_.gate_up.slice(1, 0, inter);
    scratch_.up = scratch_.gate_up.slice(1, inter, 2 * inter);
  }
  if (logit_rows > logit_scratch_.rows) {
    logit_scratch_.rows = logit_rows;
    logit_scratch_.hidden = backend_->allocate({logit_rows, c.hidden_size}, DType::F32);
    logit_scratch_.logits = backend_->allocate({logit_rows, c.vocab_size}, DType::F32);
    logit_scratch_.tokens = backend_->allocate({logit_rows}, DType::I32);
  }
}

size_t LlamaModel::reserve_step_buffers(int64_t max_tokens, int64_t max_logit_rows) {
  ensure_scratch(max_tokens, max_logit_rows);
  std::vector<const Tensor*> layer_weights;
  for (const auto& w : weights_.layers)
    for (const Tensor* t : {&w.wq, &w.wk, &w.wv, &w.wo, &w.w_gate, &w.w_up, &w.w_down}) layer_weights.push_back(t);
  backend_->reserve_products(max_tokens, layer_weights);
  const Tensor* output = &weights_.output;
  size_t bytes = backend_->reserve_products(max_logit_rows, std::span(&output, 1));
  for (const Tensor* t : {&scratch_.x, &scratch_.normed, &scratch_.qkv, &scratch_.attn, &scratch_.gate_up,
                          &logit_scratch_.hidden, &logit_scratch_.logits})
    bytes += t->defined() ? t->nbytes() : 0;
  return bytes;
}

void LlamaModel::add_bias_if_defined(Tensor& y, const Tensor& bias) {
  if (bias.defined()) backend_->add_bias(y, bias);
}

void LlamaModel::attention_block(int layer, int64_t t, const BatchTensors& bt, KVStorage& kv) {
  const auto& c = config_;
  const auto& w = weights_.layers[static_cast<size_t>(layer)];
  Backend& b = *backend_;
  Tensor x = rows_of(scratch_.x, t), normed = rows_of(scratch_.normed, t);
  Tensor q = rows_of(scratch_.q, t), k = rows_of(scratch_.k, t), v = rows_of(scratch_.v, t);
  Tensor qh = heads_of(scratch_.qkv, t, 0, c.num_heads, c.head_dim);
  Tensor kh = heads_of(scratch_.qkv, t, c.num_heads, c.num_kv_heads, c.head_dim);
  Tensor vh = heads_of(scratch_.qkv, t, c.num_heads + c.num_kv_heads, c.num_kv_heads, c.head_dim);
  const NormedInput in{x, w.attn_norm, c.rms_norm_eps, normed};
  if (!w.bq.defined() && !w.bk.defined() && !w.bv.defined() && !c.qk_norm) {
    // Nothing between the products and the rotation: one operation for all of it.
    b.norm_qkv_rope_store(in, QkvProducts{q, k, v, w.wq, w.wk, w.wv, qh, kh, vh}, kv, layer, bt, c.rope);
  } else {
    const MatmulTarget qkv[] = {{&q, &w.wq}, {&k, &w.wk}, {&v, &w.wv}};
    b.norm_matmul_many(in, qkv);
    add_bias_if_defined(q, w.bq);
    add_bias_if_defined(k, w.bk);
    add_bias_if_defined(v, w.bv);
    if (c.qk_norm) {
      b.rms_norm(qh, qh, w.q_norm, c.rms_norm_eps);
      b.rms_norm(kh, kh, w.k_norm, c.rms_norm_eps);
    }
    b.rope_store_kv(qh, kh, vh, kv, layer, bt, c.rope);
  }
  Tensor attn = rows_of(scratch_.attn, t);
  b.prefetch_weights(w.wo);
  b.attention(attn, qh, kv, layer, bt, 1.0f / std::sqrt(static_cast<float>(c.head_dim)));
  b.matmul_accumulate(x, attn, w.wo);  // the residual stream
}

void LlamaModel::mlp_block(int layer, int64_t t) {
  const auto& w = weights_.layers[static_cast<size_t>(layer)];
  Backend& b = *backend_;
  Tensor x = rows_of(scratch_.x, t), normed = rows_of(scratch_.normed, t);
  Tensor gate = rows_of(scratch_.gate, t), up = rows_of(scratch_.up, t);
  b.norm_swiglu_mlp(NormedInput{x, w.ffn_norm, config_.rms_norm_eps, normed}, x, gate, up, w.w_gate, w.w_up,
                    w.w_down);
}

void LlamaModel::run_layers(int64_t t, int64_t l, const BatchTensors& bt, KVStorage& kv) {
  Backend& b = *backend_;
  Tensor x = rows_of(scratch_.x, t);
  b.embedding(x, weights_.token_embd, bt.token_ids);
  for (int layer = 0; layer < config_.num_layers; ++layer) {
    attention_block(layer, t, bt, kv);
    mlp_block(layer, t);
  }
  if (l == 0) return;
  // Only the rows whose logits are wanted go through the final norm and the vocabulary.
  Tensor hidden = rows_of(logit_scratch_.hidden, l);
  b.gather_rows(hidden, x, bt.logit_rows);
  b.rms_norm(hidden, hidden, weights_.output_norm, config_.rms_norm_eps);
  Tensor device_logits = rows_of(logit_scratch_.logits, l);
  b.matmul(device_logits, hidden, weights_.output);
}

void LlamaModel::run_pass(const ForwardBatch& batch, KVStorage& kv) {
  const int64_t t = batch.num_tokens(), l = batch.num_logit_rows();
  if (t == 0) throw InvalidArgument("batch", "forward() called with an empty batch");
  ensure_scratch(t, l);
  Backend& b = *backend_;
  const BatchTensors bt = b.upload_batch(batch);
  if (!b.replay_step(bt, kv)) {
    b.begin_step(bt, kv);
    run_layers(t, l, bt, kv);
    b.end_step();
  }
}

void LlamaModel::download_logits(int64_t rows, Tensor& logits) {
  if (rows == 0) {
    logits = Tensor();
    return;
  }
  Tensor host = backend_->download(rows_of(logit_scratch_.logits, rows));
  if (!logits.defined() || logits.shape() != host.shape() || logits.dtype() != DType::F32)
    logits = Tensor::empty(host.shape(), DType::F32);
  if (host.raw_data() != logits.raw_data()) std::memcpy(logits.raw_data(), host.raw_data(), host.nbytes());
}

void LlamaModel::forward(const ForwardBatch& batch, KVStorage& kv, Tensor& logits) {
  run_pass(batch, kv);
  download_logits(batch.num_logit_rows(), logits);
}

void LlamaModel::forward_step(const ForwardBatch& batch, KVStorage& kv, StepLogits& out) {
  run_pass(batch, kv);
  const int64_t l = batch.num_logit_rows();
  out.tokens.assign(static_cast<size_t>(l), 0);
  if (out.any_full()) download_logits(l, out.logits);
  else out.logits = Tensor();
  if (l == 0 || !out.any_token_only()) return;  // every row sampled from its full logits
  Tensor ids = rows_of(logit_scratch_.tokens, l);
  Tensor logits = rows_of(logit_scratch_.logits, l);
  if (out.sampling.empty()) backend_->argmax_rows(ids, logits);
  else backend_->sample_rows(ids, logits, out.sampling);  // after the download: rows change in place
  const Tensor host = backend_->download(ids);
  std::copy_n(host.data<int32_t>(), l, out.tokens.begin());
}

}  // namespace strata
