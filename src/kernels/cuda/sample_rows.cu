// Sampling on the device (Backend::sample_rows): one block per logits row applies the row's
// processors (repetition, frequency and presence penalties, logit bias), then temperature,
// top-k, top-p and min-p, and draws with the row's uniform, choosing the token that
// sampling/row_sampling.cpp chooses on the host:
//  - the same float arithmetic, each rounding explicit (nothing contracted into an FMA);
//  - top-k, the nucleus and the draw as selections over an order of the tokens: by logit
//    descending then id ascending (the host's sort) or, for a plain temperature draw, by id
//    (the host's unsorted candidates), found 10 or 11 bits of the key a pass (radix select);
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

// A selection's radix passes, high digit first: 11, 11 and 10 bits of the scaled logit's
// ordered bits, then of the (inverted) token id. Fewer, wider digits than bytes: a pass
// reads the row and, for the tokens still matching the prefix, computes exp in double, so
// the passes that still match most of the row (the first one or two) dominate.
constexpr int kDigitBits = 11;
constexpr int kBins = 1 << kDigitBits;
constexpr int kPasses = 6;
// Pass p's digit is bits [shift_of(p), shift_of(p - 1)) of the key (64 for p = 0).
__device__ __forceinline__ constexpr int shift_of(int pass) {
  return pass == 0 ? 53 : pass == 1 ? 42 : pass == 2 ? 32 : pass == 3 ? 21 : pass == 4 ? 10 : 0;
}
constexpr int kFirstIdPass = 3;  // keys by id have zero high halves: their passes start here
constexpr unsigned kNoDigit = 0xFFFFFFFFu;

struct Shared {
  u64 hist[kBins];
  u64 stage[kWarps][32];  // a warp's weights, summed per digit by one lane of each digit
  u64 sum;
  u64 above;
  u64 weight;
  int digit;
  int min_digit;
  u64 warp_total[kWarps];
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

// Adds each candidate's weight to its digit's bin: the lanes of a warp with one digit add
// their sum with one atomic (a flat row puts most tokens in a few bins, where one atomic
// per token would serialise on the same addresses).
__device__ void fill_histogram(const Candidates& c, int64_t width, u64 mask, u64 prefix, int shift, Shared& sh) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  for (int64_t base = 0; base < width; base += kThreads) {  // the same trip count for every thread
    const int64_t i = base + threadIdx.x;
    u64 key = 0, weight = 0;
    const bool has = i < width && c.get(i, mask, prefix, key, weight) && weight != 0;
    if (__ballot_sync(0xffffffffu, has) == 0) continue;
    const unsigned digit = has ? static_cast<unsigned>((key >> shift) & (kBins - 1)) : kNoDigit;
    const unsigned peers = __match_any_sync(0xffffffffu, digit);
    sh.stage[warp][lane] = weight;
    __syncwarp();
    if (has && lane == __ffs(peers) - 1) {
      u64 sum = 0;
      for (unsigned m = peers; m != 0; m &= m - 1) sum += sh.stage[warp][__ffs(m) - 1];
      atomicAdd(&sh.hist[digit], sum);
    }
    __syncwarp();
  }
}

// The digit (of the bins in descending digit order) holding the target-th unit of weight
// counted from `above`, and the weight above it: every thread scans two bins.
__device__ void find_digit(u64 above, u64 target, Shared& sh) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int hi = kBins - 1 - 2 * static_cast<int>(threadIdx.x), lo = hi - 1;
  const u64 pair = sh.hist[hi] + sh.hist[lo];
  u64 inclusive = pair;
  for (int offset = 1; offset < 32; offset <<= 1) {
    const u64 other = __shfl_up_sync(0xffffffffu, inclusive, offset);
    if (lane >= offset) inclusive += other;
  }
  if (lane == 31) sh.warp_total[warp] = inclusive;
  if (sh.hist[lo] != 0) atomicMin(&sh.min_digit, lo);
  else if (sh.hist[hi] != 0) atomicMin(&sh.min_digit, hi);
  __syncthreads();
  u64 before = 0;
  for (int w = 0; w < warp; ++w) before += sh.warp_total[w];
  const u64 start = above + before + inclusive - pair;  // weight of the bins above `hi`
  if (start < target && start + pair >= target) {
    const bool in_hi = start + sh.hist[hi] >= target;
    sh.digit = in_hi ? hi : lo;
    sh.above = in_hi ? start : start + sh.hist[hi];
    sh.weight = sh.hist[sh.digit];
  }
  __syncthreads();
  if (threadIdx.x == 0 && sh.digit < 0) {  // exact integers reach the target; a guard all the same
    u64 total = 0;
    for (int w = 0; w < kWarps; ++w) total += sh.warp_total[w];
    sh.digit = sh.min_digit;
    sh.weight = sh.hist[sh.min_digit];
    sh.above = above + total - sh.weight;
  }
}

// The candidate e with above(e) < target <= above(e) + weight(e), where above(e) sums the
// weights of the candidates of larger keys (1 <= target <= the total weight): the
// target-th unit of weight counted from the largest key, with above(e) and weight(e).
struct Selected {
  u64 key, above, weight;
};

__device__ Selected select_key(const Candidates& c, int64_t width, u64 target, Shared& sh) {
  u64 prefix = 0, mask = 0, above = 0, weight = 0;
  for (int pass = c.by_id ? kFirstIdPass : 0; pass < kPasses; ++pass) {
    const int shift = shift_of(pass);
    for (int d = threadIdx.x; d < kBins; d += kThreads) sh.hist[d] = 0;
    if (threadIdx.x == 0) sh.digit = -1, sh.min_digit = kBins;
    __syncthreads();
    fill_histogram(c, width, mask, prefix, shift, sh);
    __syncthreads();
    find_digit(above, target, sh);
    __syncthreads();
    const u64 digit_mask = (pass == 0 ? ~u64{0} : (u64{1} << shift_of(pass - 1)) - 1) & ~((u64{1} << shift) - 1);
    prefix |= static_cast<u64>(sh.digit) << shift;
    mask |= digit_mask;
    above = sh.above;
    weight = sh.weight;
    __syncthreads();
  }
  return Selected{prefix, above, weight};
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
    c.min_rank = select_key(count, width, static_cast<u64>(p.top_k), sh).key;
  }
  u64 total = 0;
  bool have_total = false;
  if (top_p) {  // the shortest prefix by rank holding top_p of the mass
    const u64 before = total_weight(c, width, sh);
    const double share = static_cast<double>(p.top_p) * static_cast<double>(before);
    const u64 target = static_cast<u64>(ceil(share));
    const Selected last = select_key(c, width, target < 1 ? 1 : target > before ? before : target, sh);
    c.min_rank = last.key;
    total = last.above + last.weight;  // the nucleus: the candidates from the largest key to `last`
    have_total = true;
  }
  if (p.min_p > 0.0f) c.min_weight = static_cast<double>(p.min_p), have_total = false;
  c.by_id = !top_k && !top_p;
  if (!have_total) total = total_weight(c, width, sh);
  if (total == 0) {  // no finite logit
    if (threadIdx.x == 0) ids[blockIdx.x] = 0;
    return;
  }
  // The host's draw: the first candidate whose running mass exceeds u * total.
  const u64 target = static_cast<u64>(floor(p.u * static_cast<double>(total))) + 1;
  const u64 key = select_key(c, width, target > total ? total : target, sh).key;
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
