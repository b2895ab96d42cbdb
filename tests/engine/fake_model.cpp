#include "fake_model.h"

#include <cstring>

#include "core/error.h"

namespace strata::testing {
namespace {

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t context_hash(const std::vector<int32_t>& context) {
  uint64_t h = 1469598103934665603ull;
  for (int32_t t : context) h = mix(h ^ static_cast<uint64_t>(t));
  return h;
}

// Only what the engine calls on a backend: KV storage and block copies.
class FakeBackend final : public Backend {
 public:
  Device device() const override { return Device::CPU; }
  std::string name() const override { return "fake"; }
  Tensor allocate(const Tensor::Shape& shape, DType dtype) override { return Tensor::empty(shape, dtype); }
  Tensor upload(const Tensor& host) override { return host; }
  Tensor download(const Tensor& t) override { return t; }
  KVStorage allocate_kv(const KVCacheLayout& layout) override {
    KVStorage kv;
    kv.layout = layout;
    const Tensor::Shape shape{layout.num_blocks, layout.block_size, layout.num_kv_heads, layout.head_dim};
    for (int l = 0; l < layout.num_layers; ++l) {
      kv.k.push_back(Tensor::empty(shape, layout.dtype));
      kv.v.push_back(Tensor::empty(shape, layout.dtype));
    }
    return kv;
  }
  BatchTensors upload_batch(const ForwardBatch&) override { throw Error("fake backend: upload_batch"); }
  void matmul(Tensor&, const Tensor&, const Tensor&) override { unused(); }
  void matmul_accumulate(Tensor&, const Tensor&, const Tensor&) override { unused(); }
  void add_bias(Tensor&, const Tensor&) override { unused(); }
  void rms_norm(Tensor&, const Tensor&, const Tensor&, float) override { unused(); }
  void rope(Tensor&, const BatchTensors&, const RopeConfig&) override { unused(); }
  void embedding(Tensor&, const Tensor&, const Tensor&) override { unused(); }
  void silu_mul(Tensor&, const Tensor&, const Tensor&) override { unused(); }
  void add(Tensor&, const Tensor&, const Tensor&) override { unused(); }
  void gather_rows(Tensor&, const Tensor&, const Tensor&) override { unused(); }
  void argmax_rows(Tensor&, const Tensor&) override { unused(); }
  void store_kv(KVStorage&, int, const Tensor&, const Tensor&, const BatchTensors&) override { unused(); }
  void attention(Tensor&, const Tensor&, const KVStorage&, int, const BatchTensors&, float) override { unused(); }
  void copy_blocks(KVStorage& dst, const KVStorage& src,
                   std::span<const std::pair<int32_t, int32_t>> src_dst) override {
    const size_t block_floats = static_cast<size_t>(src.layout.block_size) * src.layout.num_kv_heads * src.layout.head_dim;
    for (const auto& [from, to] : src_dst) {
      if (from < 0 || from >= src.layout.num_blocks || to < 0 || to >= dst.layout.num_blocks)
        throw Error("fake copy_blocks: block out of range");
      std::memmove(dst.k[0].data<float>() + to * block_floats, src.k[0].data<float>() + from * block_floats,
                   block_floats * sizeof(float));
    }
  }

 private:
  [[noreturn]] static void unused() { throw Error("fake backend: operation not supported"); }
};

// KV layout: one layer, one head of two floats per token: (token id, position).
class FakeModel final : public CausalLM {
 public:
  explicit FakeModel(int context_length) {
    config_.architecture = "fake";
    config_.num_layers = 1;
    config_.num_heads = 1;
    config_.num_kv_heads = 1;
    config_.head_dim = 2;
    config_.hidden_size = 2;
    config_.vocab_size = kFakeVocab;
    config_.context_length = context_length;
  }
  const ModelConfig& config() const override { return config_; }
  Backend& backend() override { return backend_; }
  size_t weight_bytes() const override { return 0; }

  void forward(const ForwardBatch& batch, KVStorage& kv, Tensor& logits) override {
    if (kv.layout.dtype != DType::F32) throw Error("fake model needs an f32 KV cache");
    float* cache = kv.k[0].data<float>();
    for (int row = 0; row < batch.num_tokens(); ++row) {
      const size_t slot = static_cast<size_t>(batch.slot_mapping[static_cast<size_t>(row)]);
      cache[slot * 2] = static_cast<float>(batch.token_ids[static_cast<size_t>(row)]);
      cache[slot * 2 + 1] = static_cast<float>(batch.positions[static_cast<size_t>(row)]);
    }
    logits = Tensor::empty({batch.num_logit_rows(), kFakeVocab}, DType::F32);
    for (int l = 0; l < batch.num_logit_rows(); ++l) {
      const int row = batch.logit_rows[static_cast<size_t>(l)];
      size_t s = 0;
      while (batch.query_start[s + 1] <= row) ++s;
      const int position = batch.positions[static_cast<size_t>(row)];
      std::vector<int32_t> context;
      const int bs = kv.layout.block_size;
      for (int j = 0; j <= position; ++j) {
        const int32_t block = batch.block_tables[s][static_cast<size_t>(j / bs)];
        const size_t slot = static_cast<size_t>(block) * bs + j % bs;
        if (cache[slot * 2 + 1] != static_cast<float>(j)) throw Error("fake model: cache slot holds a wrong position");
        context.push_back(static_cast<int32_t>(cache[slot * 2]));
      }
      const auto values = reference_logits(context);
      std::memcpy(logits.data<float>() + static_cast<size_t>(l) * kFakeVocab, values.data(), sizeof(float) * kFakeVocab);
    }
  }

 private:
  ModelConfig config_;
  FakeBackend backend_;
};

class GatedModel final : public CausalLM {
 public:
  GatedModel(std::unique_ptr<CausalLM> inner, std::shared_ptr<StartGate> gate)
      : inner_(std::move(inner)), gate_(std::move(gate)) {}
  const ModelConfig& config() const override { return inner_->config(); }
  Backend& backend() override { return inner_->backend(); }
  size_t weight_bytes() const override { return inner_->weight_bytes(); }
  void forward(const ForwardBatch& batch, KVStorage& kv, Tensor& logits) override {
    gate_->wait();
    inner_->forward(batch, kv, logits);
  }
  void forward_step(const ForwardBatch& batch, KVStorage& kv, StepLogits& out) override {
    gate_->wait();
    inner_->forward_step(batch, kv, out);  // the inner model's own (tokens found by its backend)
  }

 private:
  std::unique_ptr<CausalLM> inner_;
  std::shared_ptr<StartGate> gate_;
};

// Token i decodes to "<i>", so text is easy to check; token 0 is end of generation.
class FakeTokenizer final : public Tokenizer {
 public:
  explicit FakeTokenizer(int vocab_size) : vocab_size_(vocab_size) {
    special_.eos = kFakeEos;
    special_.end_of_generation = {kFakeEos};
  }
  std::vector<int32_t> encode(std::string_view, bool, bool) const override { throw Error("fake tokenizer: encode"); }
  std::string decode_bytes(std::span<const int32_t> ids, bool skip_special) const override {
    std::string out;
    for (int32_t id : ids)
      if (!(skip_special && is_special(id))) out += token_text(id);
    return out;
  }
  int32_t vocab_size() const override { return vocab_size_; }
  std::string token_text(int32_t id) const override { return "<" + std::to_string(id) + ">"; }
  bool is_special(int32_t id) const override { return id == kFakeEos; }
  std::optional<int32_t> token_id(std::string_view) const override { return std::nullopt; }

 private:
  int vocab_size_;
};

}  // namespace

std::vector<float> reference_logits(const std::vector<int32_t>& context) {
  const uint64_t h = context_hash(context);
  std::vector<float> logits(kFakeVocab);
  for (int v = 0; v < kFakeVocab; ++v)
    logits[static_cast<size_t>(v)] = static_cast<float>(mix(h * 31 + static_cast<uint64_t>(v)) >> 40) / 16777216.0f * 6.0f - 3.0f;
  return logits;
}

std::vector<int32_t> reference_greedy(const std::vector<int32_t>& prompt, int max_tokens, bool stop_at_eos) {
  std::vector<int32_t> context = prompt, out;
  while (static_cast<int>(out.size()) < max_tokens) {
    const auto logits = reference_logits(context);
    int32_t best = 0;
    for (int v = 1; v < kFakeVocab; ++v)
      if (logits[static_cast<size_t>(v)] > logits[static_cast<size_t>(best)]) best = v;
    out.push_back(best);
    context.push_back(best);
    if (stop_at_eos && best == kFakeEos) break;
  }
  return out;
}

std::unique_ptr<CausalLM> make_fake_model(int context_length) { return std::make_unique<FakeModel>(context_length); }
std::unique_ptr<CausalLM> gated(std::unique_ptr<CausalLM> model, std::shared_ptr<StartGate> gate) {
  return std::make_unique<GatedModel>(std::move(model), std::move(gate));
}
std::unique_ptr<Tokenizer> make_fake_tokenizer(int vocab_size) { return std::make_unique<FakeTokenizer>(vocab_size); }

}  // namespace strata::testing
