#include "kernels/cpu/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "core/thread_pool.h"

namespace strata::cpu {

namespace {

int rotary_dim_of(const RopeConfig& cfg) { return cfg.rotary_dim > 0 ? cfg.rotary_dim : cfg.head_dim; }

// Llama 3 keeps high frequencies, divides low ones by `factor`, and interpolates smoothly
// between the two wavelength thresholds.
double llama3_scaled(double inv_freq, const RopeConfig& cfg) {
  const double old_context = cfg.original_max_positions;
  const double low_freq_wavelen = old_context / cfg.low_freq_factor;
  const double high_freq_wavelen = old_context / cfg.high_freq_factor;
  const double wavelen = 2 * std::numbers::pi / inv_freq;
  if (wavelen < high_freq_wavelen) return inv_freq;
  if (wavelen > low_freq_wavelen) return inv_freq / cfg.factor;
  const double smooth = (old_context / wavelen - cfg.low_freq_factor) / (cfg.high_freq_factor - cfg.low_freq_factor);
  return (1 - smooth) * inv_freq / cfg.factor + smooth * inv_freq;
}

}  // namespace

std::vector<float> rope_inv_freq(const RopeConfig& cfg) {
  const int rotary_dim = rotary_dim_of(cfg);
  if (rotary_dim <= 0 || rotary_dim % 2 != 0 || rotary_dim > cfg.head_dim)
    throw Error("rope: rotary_dim " + std::to_string(rotary_dim) + " must be even and within head_dim " +
                std::to_string(cfg.head_dim));
  std::vector<float> inv_freq(static_cast<size_t>(rotary_dim / 2));
  for (int i = 0; i < rotary_dim / 2; ++i) {
    // Hugging Face rounds the frequencies to f32 before scaling them.
    double f = static_cast<float>(1.0 / std::pow(static_cast<double>(cfg.theta), 2.0 * i / rotary_dim));
    if (cfg.scaling == RopeConfig::Scaling::Linear) f /= cfg.factor;
    if (cfg.scaling == RopeConfig::Scaling::Llama3) f = llama3_scaled(f, cfg);
    inv_freq[static_cast<size_t>(i)] = static_cast<float>(f);
  }
  return inv_freq;
}

RopeTable::RopeTable(const RopeConfig& cfg) : cfg_(cfg), inv_freq_(rope_inv_freq(cfg)) {}

bool RopeTable::matches(const RopeConfig& c) const {
  return c.head_dim == cfg_.head_dim && c.rotary_dim == cfg_.rotary_dim && c.theta == cfg_.theta &&
         c.scaling == cfg_.scaling && c.factor == cfg_.factor && c.low_freq_factor == cfg_.low_freq_factor &&
         c.high_freq_factor == cfg_.high_freq_factor && c.original_max_positions == cfg_.original_max_positions;
}

void RopeTable::reserve(int64_t num_positions) {
  if (num_positions <= num_positions_) return;
  // Grow geometrically so that a long generation extends the table only a few times.
  const int64_t target = std::max<int64_t>({num_positions, num_positions_ * 2, 1024});
  const size_t half = inv_freq_.size();
  cos_.resize(static_cast<size_t>(target) * half);
  sin_.resize(static_cast<size_t>(target) * half);
  for (int64_t p = num_positions_; p < target; ++p)
    for (size_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(p) * inv_freq_[i];
      cos_[static_cast<size_t>(p) * half + i] = static_cast<float>(std::cos(angle));
      sin_[static_cast<size_t>(p) * half + i] = static_cast<float>(std::sin(angle));
    }
  num_positions_ = target;
}

namespace {

// One head: pairs (x[i], x[i + half]) for the NeoX layout, (x[2i], x[2i + 1]) otherwise.
void rotate_head(float* x, const float* cos, const float* sin, int half, bool neox) {
  const int pair_offset = neox ? half : 1;
  const int step = neox ? 1 : 2;
  for (int i = 0; i < half; ++i) {
    float& a = x[i * step];
    float& b = x[i * step + pair_offset];
    const float x0 = a, x1 = b;
    a = x0 * cos[i] - x1 * sin[i];
    b = x1 * cos[i] + x0 * sin[i];
  }
}

}  // namespace

void apply_rope(ThreadPool& pool, Tensor& x, std::span<const int32_t> positions, const RopeConfig& cfg,
                RopeTable& table) {
  if (x.dtype() != DType::F32 || x.ndim() != 3 || x.stride(2) != 1 || x.size(2) != cfg.head_dim)
    throw Error("rope: expected f32 [T, H, " + std::to_string(cfg.head_dim) + "] with dense rows, got " + x.describe());
  const int64_t num_tokens = x.size(0), num_heads = x.size(1);
  if (static_cast<int64_t>(positions.size()) != num_tokens)
    throw Error("rope: " + std::to_string(positions.size()) + " positions for " + x.describe());
  int32_t max_position = -1;
  for (int32_t p : positions) {
    if (p < 0) throw Error("rope: negative position " + std::to_string(p));
    max_position = std::max(max_position, p);
  }
  table.reserve(int64_t{max_position} + 1);
  const int half = table.half_dim();
  float* base = x.data<float>();
  const int64_t token_stride = x.stride(0), head_stride = x.stride(1);
  auto rotate_tokens = [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int32_t p = positions[static_cast<size_t>(t)];
      for (int64_t h = 0; h < num_heads; ++h)
        rotate_head(base + t * token_stride + h * head_stride, table.cos_row(p), table.sin_row(p), half, cfg.neox);
    }
  };
  // Below a few thousand pairs a parallel region costs more than it saves.
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, num_heads * half));
  if (num_tokens <= grain) rotate_tokens(0, num_tokens);
  else pool.parallel_for(num_tokens, grain, rotate_tokens);
}

}  // namespace strata::cpu
