#pragma once
// A batch-1 decode step as one persistent kernel (CudaBackendOptions::step_program):
// the backend records the step's GEMVs (q/k/v with the rope epilogue, wo, gate/up with
// the SwiGLU, down) and its attention as a list of operations instead of launching a
// kernel each, and launches them as one cooperative kernel whose blocks (one an SM) run
// the operations in order with a grid-wide barrier between two. Each warp loads its first
// weights of the next operation before it waits at the barrier, so DRAM keeps streaming
// across what were kernel boundaries; a boundary costs a barrier (one L2 round trip and
// a spin) instead of a kernel's ramp and tail, which is most of a small product's time at
// batch 1 (bench/cuda/NOTES.md, session 15's profile).
//
// Attention that the tensor-core decode kernel takes (short contexts: one block a KV head)
// is left to it: the program ends before it and goes on after (and that kernel asks L2 for
// the first bytes of the next product's rows meanwhile, cuda_weight_prefetch.cpp). By
// default only products of at least 4 MiB and 1,024 columns join (smaller ones' barriers
// cost more than the kernel boundaries they replace). Measured (H100, session 18,
// bench/RESULTS.md), batch-1 decode against the kernels: Llama-3.2-1B shape +6.1%, 8B BF16
// +5.5%; with every product also SmolLM2-135M's, -24%. Launching it under programmatic
// dependent launch (with or without the cooperative attribute) and giving a product's pairs
// to warps across the SMs measured slower on the 8B shape (-3.5% to -11%, -0.7%).
//
// Only F16/BF16 weights, one token, and attention over an f16 or f32 paged cache with
// head_dim a multiple of 32 up to 128 and up to 4 query heads per KV head; anything else
// goes to the ordinary kernels, the pending operations launched first.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/launch.h"

namespace strata::cuda {

// y (+)= rms_norm(x) · wᵀ for up to three weights of one input (q, k, v), or the SwiGLU
// silu(x · gate) * (x · up); one token.
struct ProgramGemv {
  const float* x = nullptr;  // [cols]
  const float* norm_weight = nullptr;  // folded RMSNorm; none: the products read x
  float eps = 0.f;
  int count = 0;  // targets
  float* y[3] = {};
  WeightRef w[3];
  bool accumulate = false;  // y += the product (the residual stream)
  bool swiglu = false;      // one target, the gate, with `up`: y[n] = silu(gate_n) * up_n
  WeightRef up;
  // Targets q, k, v: q and k rotated (adjacent pairs, whole heads), k and v stored in the
  // cache slot of the token as the GEMV's rope epilogue does.
  bool rope = false;
  GemvRope rope_args;
};

// Decode attention of the token over its sequence's cache (positions 0..position).
struct ProgramAttention {
  float* out = nullptr;  // [num_heads * head_dim]
  const float* q = nullptr;
  int64_t q_head_stride = 0;
  KVLayer cache;
  int num_heads = 0;
  const int32_t* position = nullptr;     // the token's position (device)
  const int32_t* block_table = nullptr;  // the sequence's blocks (device)
  float scale = 1.f;
  // Key splits over blocks (at most max_splits; chosen in the kernel from the context
  // length): partial results [max_splits, num_heads, head_dim + 2] and one ticket a KV head.
  int max_splits = 1;
  float* partials = nullptr;
  unsigned* tickets = nullptr;
};

enum class ProgramOpKind : int32_t { Gemv, Attention };

struct ProgramOp {
  ProgramOpKind kind = ProgramOpKind::Gemv;
  ProgramGemv gemv;
  ProgramAttention attention;
};

// One launch's operations, passed by value as the kernel's parameter (at most ~32 KB).
constexpr int kMaxProgramOps = 64;
struct StepProgram {
  int count = 0;
  ProgramOp ops[kMaxProgramOps];
  // [0]: the grid barrier's arrivals; [1, 1 + kMaxProgramTickets): the attention tickets;
  // then the blocks done. Zero before a launch, and zero again after it (the kernel resets
  // them): kProgramCounters of them, zeroed once when allocated.
  unsigned* counters = nullptr;
};

// Threads of a program block (one block an SM).
constexpr int kProgramThreads = 512;
// Attention tickets (KV heads) at most, and the program's counters in all.
constexpr int kMaxProgramTickets = 63;
constexpr int kProgramCounters = kMaxProgramTickets + 2;

// The longest rows (the products' input length) a program product takes.
constexpr int64_t kMaxProgramCols = 32768;
bool program_gemv_supports(const WeightRef& w);
// A GEMV launch as a program operation: 1-3 targets of one input x (the accumulate flag of
// the first for all), the norm folded, the rope epilogue or the SwiGLU with `up`. The
// caller checks program_gemv_supports.
ProgramGemv make_program_gemv(const GemvTarget* targets, int count, const float* x, const GemvNorm& norm,
                              const GemvRope* rope, const WeightRef* up);
// Shared memory a product needs (its input, staged), and an attention operation.
size_t program_gemv_shared_bytes(const WeightRef& w);
bool program_attention_supports(const KVLayer& cache, int num_heads);
size_t program_shared_bytes(const KVLayer& cache, int num_heads);
// Blocks a launch uses (one an SM, when the kernel fits one an SM; 0: it does not).
int program_blocks(int multiprocessors);
// Runs the program as a cooperative launch of `blocks` blocks.
void launch_step_program(const StepProgram& program, int blocks, size_t shared_bytes, cudaStream_t stream);

}  // namespace strata::cuda
