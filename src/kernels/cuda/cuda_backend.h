#pragma once
// The CUDA backend's public face. Defined by the sources of this folder when the build has
// CUDA, and by no_cuda.cpp otherwise (which reports that no GPU backend was built), so
// callers never need to know how Strata was compiled.
#include <cstddef>
#include <memory>

#include "kernels/backend.h"

namespace strata {

struct CudaBackendOptions {
  int device = 0;  // CUDA device ordinal
  // The activations of small-batch products of Q8_0/Q4_0/Q4_1 weights (dp4a kernels):
  // Int16 (default) rounds them as the CPU backend does, to int16 groups of 32 (~1e-5);
  // Int8 to int8 blocks, faster but coarse enough to flip near-tie tokens
  // (bench/cuda/NOTES.md); F32 keeps them (weights decoded to floats, the slowest); F16
  // reads them as f32 and rounds them to f16 inside the product, on the tensor cores, for
  // one row of Q4_0 weights (no quantization kernel before it; else as Int16).
  // STRATA_CUDA_GEMV=int16, =int8, =f32 or =f16 overrides this.
  enum class QuantizedActivations { Int16, Int8, F32, F16 };
  QuantizedActivations quantized_activations = QuantizedActivations::Int16;
  // Every row's arithmetic independent of the batch it runs in (vLLM's batch-invariant
  // mode): products of any number of rows through the GEMV kernels, eight rows a launch,
  // never cuBLAS (whose choice of kernel, tiles and split-K follows the batch's size) nor
  // its bf16-rounded activations; no fused norms or epilogues (their use depends on the
  // rows); attention without the tensor-core prefill kernel and without key splits.
  // A greedy request then gives the same tokens alone and in any batch, at a cost: prefill
  // reads the weights once per eight tokens. STRATA_CUDA_BATCH_INVARIANT=1 also sets it.
  bool batch_invariant = false;
  // The kernels before the decode-batch ones (tests compare the two): the SIMT decode
  // attention instead of the tensor-core one, weights uploaded apart instead of stacked
  // (one product each), silu_mul then a conversion instead of the SwiGLU writing the down
  // product's half input, and the scalar norm instead of float4 rows. Each also has its own
  // switch, =0 for off: STRATA_CUDA_DECODE_ATTENTION, _STACK_WEIGHTS, _SWIGLU_HALF, _VECTOR_NORM.
  // No step program either (step_program below).
  bool plain_kernels = false;
  // Decode of few sequences (keys split over blocks) on the tensor-core decode kernel too,
  // instead of the SIMT kernel (f16 caches of head size 64 or 128): batch-1 decode +39% on
  // the SmolLM2 shape, +8% 1B, +10% 8B Q4_0, 8B BF16 unchanged (H100, bench/RESULTS.md
  // session 17). STRATA_CUDA_SPLIT_DECODE_TC=0 turns it off (A/B runs); plain_kernels too.
  bool split_decode_on_tensor_cores = true;
  // Batch-1 decode with F16/BF16 weights: the products between two attention launches run
  // as one persistent kernel with grid-wide barriers instead of a kernel each (the step
  // program, step_program.h), those whose weights (all targets of one launch) take at least
  // step_program_min_product_bytes and whose rows at least step_program_min_product_cols
  // columns: a smaller product's barrier costs more than the kernel boundary it replaces,
  // and a shorter row leaves the program's warp (two whole rows at a time) short of loads.
  // Measured (H100, session 18, bench/RESULTS.md): with every product in the program,
  // Llama-3.2-1B shape +4.7%, 8B BF16 +5.5%, SmolLM2-135M shape -24% (its products 0.7 to
  // 3.5 MB, the 1B's 8 to 67 MB); with the byte rule alone SmolLM2's -1% (its output
  // product, 56 MB of 576-column rows, alone in a program), the others +6.1% and +5.5%.
  // STRATA_CUDA_STEP_PROGRAM=0 turns it off, =1 takes every product (tests, A/B runs).
  bool step_program = true;
  size_t step_program_min_product_bytes = size_t{4} << 20;
  int64_t step_program_min_product_cols = 1024;
};

// Throws Error when the build has no CUDA or the device cannot be opened.
std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options);

// GPUs usable by this build: 0 without CUDA support, without a driver or without a GPU.
int cuda_device_count();

struct CudaMemoryInfo {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
};
// Free and total memory of a device (zeros without CUDA).
CudaMemoryInfo cuda_memory_info(int device);

}  // namespace strata
