#pragma once
// The streamed GEMV of block-quantized weights at batch 1 (gemv_stream.cu): the weights come
// through a ring of shared-memory stages filled by the copy engine (cp.async.bulk), so that a
// block keeps ~90 KB of weights in flight without holding them in registers. Opt-in
// (STRATA_CUDA_GEMV_STREAM=1) until measured: bench/cuda/NOTES.md, session 21.
#include <cuda_runtime.h>

#include "kernels/cuda/gemv_kernels.cuh"

namespace strata::cuda::gemv_detail {

// Whether the streamed kernel takes this launch: switched on, one activation row, split
// int16 activations, rows of a multiple of 256 (each stage's scales whole 16-byte pieces).
bool stream_takes(const GemvBatch& b);

// Launches it: the targets' row pairs (SwiGLU: output rows) spread over one block an SM
// (`multiprocessors`); first_block is rewritten to count row pairs.
void launch_stream(GemvBatch b, int multiprocessors, cudaStream_t stream);

}  // namespace strata::cuda::gemv_detail
