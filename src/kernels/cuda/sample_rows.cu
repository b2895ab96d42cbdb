// Sampling on the device (Backend::sample_rows): one block per logits row applies the row's
// processors (repetition, frequency and presence penalties, logit bias), then temperature,
// top-k, top-p and min-p, and draws with the row's uniform, choosing the token that
// sampling/row_sampling.cpp chooses on the host:
//  - the same float arithmetic, each rounding explicit (nothing contracted into an FMA);
//  - top-k, the nucleus and the draw as selections over an order of the tokens: by logit
//    descending then id ascending (the host's sort) or, for a plain temperature draw, by id
//    (the host's unsorted candidates), found a byte of the key at a time (radix select);
//  - masses as exact integers: weights exp(s - max) in [0, 1] in units of 2^-42, summed with
//    integer atomics, so a row's token never depends on the order threads run in. The host
//    sums doubles in order: the two differ only for a draw within ~width * 2^-42 of the
//    mass at a boundary between two tokens.
#include <cmath>
#include <cstdint>

#include "kernels/cuda/argmax_device.cuh"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/kernel_launch.cuh"
#include "kernels/cuda/launch.h"

namespace strata::cuda {

namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr double kMassUnit = 4398046511104.0;  // 2^42: width * 2^42 < 2^63 for width <= 2^21

using u64 = unsigned long long;

// The tokens' order as unique 64-bit keys, larger first: by value, then by lower id (NaN last).
__device__ __forceinline__ u64 rank_key(float s, int64_t token) {
  const uint32_t bits = __float_as_uint(s);
  const uint32_t ordered = s != s ? 0u : (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  return (static_cast<u64>(ordered) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(token));
}
// Lower ids first.
__device__ __forceinline__ u64 id_key(int64_t token) { return 0xFFFFFFFFu - static_cast<uint32_t>(token); }
__device__ __forceinline__ int32_t token_of(u64 key) {
  return static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(key));
}

struct Shared {
  u64 hist[256];
  u64 sum;
  u64 above;
  int digit;
  float warp_max[kWarps];
  Best per_warp[kWarps];
};

// The candidates of one stage of a row: tokens whose rank key reaches min_rank and whose
// weight reaches min_weight, ordered by rank (or by id), each weighing its mass in units of
// 2^-42 (or 1: counting tokens).
struct Candidates {
  const float* row;
  float inv_t, max_s;
  u64 min_rank = 0;
  double min_weight = 0.0;
  bool by_id = false;
  bool count_tokens = false;

  // Whether token i is a candidate whose key has `prefix` under `mask`; its key and weight.
  __device__ __forceinline__ bool get(int64_t i, u64 mask, u64 prefix, u64& key, u64& weight) const {
    const float s = __fmul_rn(row[i], inv_t);
    const u64 rank = rank_key(s, i);
    if (rank < min_rank) return false;
    key = by_id ? id_key(i) : rank;
    if ((key & mask) != prefix) return false;
    if (count_tokens) {
      weight = 1;
      return true;
    }
    const float d = __fsub_rn(s, max_s);  // the host: static_cast<double>(logit - max)
    const double w = d == d ? exp(static_cast<double>(d)) : 0.0;
    if (w < min_weight) return false;
    weight = __double2ull_rn(w * kMassUnit);
    return true;
  }
};

__device__ __forceinline__ u64 warp_sum(u64 v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// The candidates' total weight (every thread gets it).
__device__ u64 total_weight(const Candidates& c, int64_t width, Shared& sh) {
  if (threadIdx.x == 0) sh.sum = 0;
  __syncthreads();
  u64 local = 0, key, weight;
  for (int64_t i = threadIdx.x; i < width; i += kThreads)
    if (c.get(i, 0, 0, key, weight)) local += weight;
  local = warp_sum(local);
  if (threadIdx.x % 32 == 0) atomicAdd(&sh.sum, local);
  __syncthreads();
  const u64 total = sh.sum;
  __syncthreads();
  return total;
}

// The key of the candidate e with above(e) < target <= above(e) + weight(e), where above(e)
// sums the weights of the candidates of larger keys (1 <= target <= the total weight): the
// target-th unit of weight counted from the largest key. One pass a key byte, high first.
__device__ u64 select_key(const Candidates& c, int64_t width, u64 target, Shared& sh) {
  u64 prefix = 0, mask = 0, above = 0;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int d = threadIdx.x; d < 256; d += kThreads) sh.hist[d] = 0;
    __syncthreads();
    u64 key, weight;
    for (int64_t i = threadIdx.x; i < width; i += kThreads)
      if (c.get(i, mask, prefix, key, weight) && weight != 0) atomicAdd(&sh.hist[(key >> shift) & 0xFF], weight);
    __syncthreads();
    if (threadIdx.x < 32) {
      // Lane l holds digits 255 - 8l down to 248 - 8l: lanes in order are digits descending.
      const int lane = threadIdx.x;
      u64 chunk = 0;
      for (int j = 0; j < 8; ++j) chunk += sh.hist[255 - 8 * lane - j];
      u64 inclusive = chunk;
      for (int offset = 1; offset < 32; offset <<= 1) {
        const u64 other = __shfl_up_sync(0xffffffffu, inclusive, offset);
        if (lane >= offset) inclusive += other;
      }
      const unsigned reaches = __ballot_sync(0xffffffffu, above + inclusive >= target);
      // Exact integers: some lane reaches the target (the last one when rounding upstream
      // overshot, which then takes the lowest digit with weight).
      const int first = reaches ? __ffs(reaches) - 1 : 31;
      if (lane == first) {
        u64 acc = above + inclusive - chunk;
        int digit = 255 - 8 * lane - 7;
        for (int j = 0; j < 8; ++j) {
          const int d = 255 - 8 * lane - j;
          if (acc + sh.hist[d] >= target) {
            digit = d;
            break;
          }
          acc += sh.hist[d];
        }
        sh.digit = digit;
        sh.above = acc;
      }
    }
    __syncthreads();
    prefix |= static_cast<u64>(sh.digit) << shift;
    mask |= u64{0xFF} << shift;
    above = sh.above;
    __syncthreads();
  }
  return prefix;
}

__device__ float block_max_scaled(const float* row, int64_t width, float inv_t, Shared& sh) {
  float m = -INFINITY;
  for (int64_t i = threadIdx.x; i < width; i += kThreads) m = fmaxf(m, __fmul_rn(row[i], inv_t));  // NaN ignored
  for (int offset = 16; offset > 0; offset >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
  if (threadIdx.x % 32 == 0) sh.warp_max[threadIdx.x / 32] = m;
  __syncthreads();
  m = sh.warp_max[threadIdx.x % 32];
  for (int offset = 16; offset > 0; offset >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
  __syncthreads();
  return m;
}

// The processors, in the host's order, each a pass over its list (each token once).
__device__ void apply_processors(float* row, int64_t width, const DeviceRowSampling& p, const DeviceSamplingLists& lists) {
  const auto in_vocab = [&](int32_t t) { return t >= 0 && t < width; };
  if (p.repetition_penalty != 1.0f)
    for (int j = p.seen_begin + threadIdx.x; j < p.seen_end; j += kThreads) {
      const int32_t t = lists.seen[j];
      if (!in_vocab(t)) continue;
      const float l = row[t];
      row[t] = l > 0.0f ? __fdiv_rn(l, p.repetition_penalty) : __fmul_rn(l, p.repetition_penalty);
    }
  __syncthreads();
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f)
    for (int j = p.counts_begin + threadIdx.x; j < p.counts_end; j += kThreads) {
      const int32_t t = lists.count_tokens[j], count = lists.counts[j];
      if (!in_vocab(t) || count <= 0) continue;
      row[t] = __fsub_rn(row[t], __fadd_rn(__fmul_rn(static_cast<float>(count), p.frequency_penalty), p.presence_penalty));
    }
  __syncthreads();
  for (int j = p.bias_begin + threadIdx.x; j < p.bias_end; j += kThreads) {
    const int32_t t = lists.bias_tokens[j];
    if (in_vocab(t)) row[t] = __fadd_rn(row[t], lists.bias[j]);
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads) sample_rows_kernel(int32_t* ids, float* logits, int64_t stride,
                                                               int64_t width, const DeviceRowSampling* params,
                                                               DeviceSamplingLists lists) {
  wait_for_previous_kernel();
  __shared__ Shared sh;
  float* row = logits + blockIdx.x * stride;
  const DeviceRowSampling p = params[blockIdx.x];
  apply_processors(row, width, p, lists);
  if (p.temperature <= 0.0f) {
    const int32_t best = block_argmax<kThreads>(row, width, sh.per_warp);
    if (threadIdx.x == 0) ids[blockIdx.x] = best;
    return;
  }
  Candidates c;
  c.row = row;
  c.inv_t = __fdiv_rn(1.0f, p.temperature);
  c.max_s = block_max_scaled(row, width, c.inv_t, sh);
  const bool top_k = p.top_k > 0 && p.top_k < width, top_p = p.top_p < 1.0f;
  if (top_k) {  // the k-th token by rank bounds the candidates
    Candidates count = c;
    count.count_tokens = true;
    c.min_rank = select_key(count, width, static_cast<u64>(p.top_k), sh);
  }
  if (top_p) {  // the shortest prefix by rank holding top_p of the mass
    const u64 total = total_weight(c, width, sh);
    const double share = static_cast<double>(p.top_p) * static_cast<double>(total);
    const u64 target = static_cast<u64>(ceil(share));
    c.min_rank = select_key(c, width, target < 1 ? 1 : target > total ? total : target, sh);
  }
  if (p.min_p > 0.0f) c.min_weight = static_cast<double>(p.min_p);
  c.by_id = !top_k && !top_p;
  const u64 total = total_weight(c, width, sh);
  if (total == 0) {  // no finite logit
    if (threadIdx.x == 0) ids[blockIdx.x] = 0;
    return;
  }
  // The host's draw: the first candidate whose running mass exceeds u * total.
  const u64 target = static_cast<u64>(floor(p.u * static_cast<double>(total))) + 1;
  const u64 key = select_key(c, width, target > total ? total : target, sh);
  if (threadIdx.x == 0) ids[blockIdx.x] = token_of(key);
}

}  // namespace

void launch_sample_rows(int32_t* ids, float* logits, int64_t stride, int64_t rows, int64_t width,
                        const DeviceRowSampling* params, DeviceSamplingLists lists, cudaStream_t stream) {
  if (rows == 0) return;
  launch_kernel(sample_rows_kernel, static_cast<unsigned>(rows), kThreads, 0, stream, ids, logits, stride, width,
                params, lists);
  check_launch("sample_rows_kernel");
}

}  // namespace strata::cuda
