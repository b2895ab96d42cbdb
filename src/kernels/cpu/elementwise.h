#pragma once
// Row-wise and elementwise f32 operations of the CPU backend (norms, activations, residual
// adds, bias, row gathers, embedding lookups). Each runs on the calling thread when the
// work is small and splits rows across the pool when it is large.
#include "core/tensor.h"

namespace strata {
class ThreadPool;
}

namespace strata::cpu {

void add_bias(ThreadPool& pool, Tensor& y, const Tensor& bias);
void rms_norm(ThreadPool& pool, Tensor& y, const Tensor& x, const Tensor& weight, float eps);
void silu_mul(ThreadPool& pool, Tensor& y, const Tensor& gate, const Tensor& up);
void add(ThreadPool& pool, Tensor& y, const Tensor& a, const Tensor& b);
void gather_rows(Tensor& y, const Tensor& x, const Tensor& rows);
// ids[l] = argmax of logits[l, :] (Backend::argmax_rows).
void argmax_rows(Tensor& ids, const Tensor& logits);
void embedding(ThreadPool& pool, Tensor& y, const Tensor& table, const Tensor& ids);

}  // namespace strata::cpu
