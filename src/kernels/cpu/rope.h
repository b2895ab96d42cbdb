#pragma once
// Rotary position embeddings on the CPU. The cos/sin of every (position, frequency) pair
// are computed once in double precision and kept in a table per RopeConfig, which grows
// with the largest position seen; applying RoPE is then a table lookup and two FMAs.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/tensor.h"
#include "kernels/backend.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

// Inverse frequencies theta^(-2i/rotary_dim), i < rotary_dim / 2, with the config's
// scaling applied (Llama 3: Hugging Face's _compute_llama3_parameters; linear: / factor).
// Rounded to f32 as Hugging Face keeps them.
std::vector<float> rope_inv_freq(const RopeConfig& cfg);

class RopeTable {
 public:
  explicit RopeTable(const RopeConfig& cfg);
  bool matches(const RopeConfig& cfg) const;
  // Makes positions [0, num_positions) available.
  void reserve(int64_t num_positions);
  int half_dim() const { return static_cast<int>(inv_freq_.size()); }
  const float* cos_row(int64_t position) const { return cos_.data() + position * half_dim(); }
  const float* sin_row(int64_t position) const { return sin_.data() + position * half_dim(); }

 private:
  RopeConfig cfg_;
  std::vector<float> inv_freq_;
  int64_t num_positions_ = 0;
  std::vector<float> cos_, sin_;
};

// Rotates x[T, H, head_dim] in place; positions[T].
void apply_rope(ThreadPool& pool, Tensor& x, std::span<const int32_t> positions, const RopeConfig& cfg,
                RopeTable& table);

}  // namespace strata::cpu
