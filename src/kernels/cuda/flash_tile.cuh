#pragma once
// One key/value tile of FlashAttention-2 for the 16 query rows of a warp, shared by the
// prefill kernel (rows are query tokens) and the decode kernel (rows are the heads of a
// GQA group): S = Q Kᵀ with mma.sync (m16n8k16, f16 operands, f32 accumulation), the
// mask, the online softmax of the two rows each thread holds in the accumulator layout
// (r0 = lane / 4 and r0 + 8), and O += P V with P rounded to f16. Scores are in log2
// units (Q carries the softmax scale times log2 e), so exp2 gives e^x.
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "kernels/cuda/mma_util.cuh"

namespace strata::cuda {

template <int D>
struct FlashRows {
  float m_lo = -INFINITY, m_hi = -INFINITY;  // running maxima of rows r0 and r0 + 8
  float l_lo = 0.f, l_hi = 0.f;              // running sums
  float o[D / 8][4];                         // accumulators: dimension blocks of 8

  __device__ __forceinline__ FlashRows() {
#pragma unroll
    for (int i = 0; i < D / 8; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  }
};

// qf: the warp's Q fragments for every 16 dimensions. sk, sv: Keys rows of `Stride`
// halves from key position `tile`. A key is masked past pos_lo (pos_hi) for row r0
// (r0 + 8) and past last_key for both.
template <int D, int Keys, int Stride>
__device__ __forceinline__ void flash_attend_tile(const uint32_t (&qf)[D / 16][4], const __half* sk,
                                                  const __half* sv, int tile, int pos_lo, int pos_hi, int last_key,
                                                  int lane, FlashRows<D>& r) {
  // S = Q Kᵀ: column blocks of 8 keys, 4 accumulators each (rows r0, r0 + 8).
  float s[Keys / 8][4];
#pragma unroll
  for (int nb = 0; nb < Keys / 8; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.f;
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks)
#pragma unroll
    for (int nb = 0; nb < Keys / 8; nb += 2) {
      uint32_t b[4];  // b0, b1 of key blocks nb and nb + 1
      ldmatrix_x4(b, sk + (nb * 8 + lane % 8 + 8 * (lane / 16)) * Stride + ks * 16 + 8 * ((lane / 8) % 2));
      mma_16816(s[nb], qf[ks], b[0], b[1]);
      mma_16816(s[nb + 1], qf[ks], b[2], b[3]);
    }
  // The mask, then the online softmax update of both rows.
  float tile_lo = -INFINITY, tile_hi = -INFINITY;
#pragma unroll
  for (int nb = 0; nb < Keys / 8; ++nb)
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int key = tile + nb * 8 + (lane % 4) * 2 + e;
      if (key > pos_lo || key > last_key) s[nb][e] = -INFINITY;
      if (key > pos_hi || key > last_key) s[nb][2 + e] = -INFINITY;
      tile_lo = fmaxf(tile_lo, s[nb][e]);
      tile_hi = fmaxf(tile_hi, s[nb][2 + e]);
    }
  tile_lo = quad_max(tile_lo), tile_hi = quad_max(tile_hi);
  const float new_lo = fmaxf(r.m_lo, tile_lo), new_hi = fmaxf(r.m_hi, tile_hi);
  // A row with nothing visible yet (padding rows) keeps zeros rather than NaN.
  const float base_lo = new_lo == -INFINITY ? 0.f : new_lo, base_hi = new_hi == -INFINITY ? 0.f : new_hi;
  const float corr_lo = exp2f(r.m_lo - base_lo), corr_hi = exp2f(r.m_hi - base_hi);
  r.m_lo = new_lo, r.m_hi = new_hi;
  float sum_lo = 0.f, sum_hi = 0.f;
#pragma unroll
  for (int nb = 0; nb < Keys / 8; ++nb) {
    s[nb][0] = exp2f(s[nb][0] - base_lo), s[nb][1] = exp2f(s[nb][1] - base_lo);
    s[nb][2] = exp2f(s[nb][2] - base_hi), s[nb][3] = exp2f(s[nb][3] - base_hi);
    sum_lo += s[nb][0] + s[nb][1];
    sum_hi += s[nb][2] + s[nb][3];
  }
  r.l_lo = r.l_lo * corr_lo + quad_sum(sum_lo);
  r.l_hi = r.l_hi * corr_hi + quad_sum(sum_hi);
#pragma unroll
  for (int i = 0; i < D / 8; ++i) r.o[i][0] *= corr_lo, r.o[i][1] *= corr_lo, r.o[i][2] *= corr_hi, r.o[i][3] *= corr_hi;

  // O += P V: P's accumulators become A fragments of 16 keys each; V through ldmatrix.trans.
#pragma unroll
  for (int kb = 0; kb < Keys / 16; ++kb) {
    const uint32_t p[4] = {pack_half2(s[2 * kb][0], s[2 * kb][1]), pack_half2(s[2 * kb][2], s[2 * kb][3]),
                           pack_half2(s[2 * kb + 1][0], s[2 * kb + 1][1]),
                           pack_half2(s[2 * kb + 1][2], s[2 * kb + 1][3])};
#pragma unroll
    for (int db = 0; db < D / 8; db += 2) {
      uint32_t b[4];  // b0, b1 of dimension blocks db and db + 1
      ldmatrix_x4_trans(b, sv + (kb * 16 + lane % 8 + 8 * ((lane / 8) % 2)) * Stride + db * 8 + 8 * (lane / 16));
      mma_16816(r.o[db], p, b[0], b[1]);
      mma_16816(r.o[db + 1], p, b[2], b[3]);
    }
  }
}

}  // namespace strata::cuda
