// Recording a batch-1 decode step's products and attention into the step program
// (step_program.h) and launching it: the backend's side. Everything the program does not
// take is launched as before, after the pending operations (launch_stream()).
#include <algorithm>
#include <utility>

#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/cuda_check.h"

namespace strata::cuda {

ProgramOp& CudaBackend::next_program_op() {
  if (program_->count == kMaxProgramOps) flush_program();
  ProgramOp& op = program_->ops[program_->count++];
  op = ProgramOp{};
  return op;
}

bool CudaBackend::record_gemv(const GemvTarget* targets, int count, const Tensor& x, const GemvNorm& norm,
                              const GemvRope* rope, const WeightRef* up) {
  if (!recording_ || x.size(0) != 1 || count < 1 || count > 3 || (up && count != 1)) return false;
  const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  if (!aligned(x.data<float>()) || (norm.weight && !aligned(norm.weight))) return false;
  for (int i = 0; i < count; ++i)
    if (!program_gemv_supports(targets[i].w) || targets[i].w.cols != targets[0].w.cols ||
        targets[i].w.dtype != targets[0].w.dtype || targets[i].accumulate != targets[0].accumulate)
      return false;
  if (up && (!program_gemv_supports(*up) || up->dtype != targets[0].w.dtype || up->rows != targets[0].w.rows ||
             up->cols != targets[0].w.cols))
    return false;
  // The launch's rows (targets and up) are all of one dtype and length.
  int64_t rows = up ? up->rows : 0;
  for (int i = 0; i < count; ++i) rows += targets[i].w.rows;
  if (!program_takes_rows(targets[0].w, rows)) return false;
  ProgramOp& op = next_program_op();
  op.kind = ProgramOpKind::Gemv;
  op.gemv = make_program_gemv(targets, count, x.data<float>(), norm, rope, up);
  program_shared_ = std::max(program_shared_, program_gemv_shared_bytes(targets[0].w));
  return true;
}

bool CudaBackend::program_takes_rows(const WeightRef& w, int64_t rows) const {
  const auto bytes = static_cast<size_t>(rows * dtype_row_bytes(w.dtype, w.cols));
  return bytes >= program_min_product_bytes_ && w.cols >= program_min_product_cols_;
}

bool CudaBackend::record_attention(Tensor& out, const Tensor& q, const KVLayer& cache,
                                   const BatchTensors& batch, float scale) {
  const int heads = static_cast<int>(q.size(1));
  // Alone between two products of the ordinary kernels (block-quantized weights), the
  // program's launch would cost more than the attention kernel it replaces.
  if (!recording_ || program_->count == 0 || batch.num_tokens != 1 || batch.num_seqs != 1 ||
      !program_attention_supports(cache, heads) || q.stride(2) != 1)
    return false;
  // The tensor-core decode kernel's one block a KV head for a short context is a shorter
  // chain than the program's SIMT attention (+39% for the kernels on the SmolLM2 shape,
  // session 17): the program then ends before attention and goes on after it. Its default
  // was measured this way (bench/RESULTS.md, session 18); its own attention was not
  // measured beside it (STRATA_CUDA_STEP_PROGRAM_ATTENTION=1 for that A/B).
  if (!program_attention_always_ && takes_tensor_core_decode(cache, q, true)) return false;
  ProgramOp& op = next_program_op();
  op.kind = ProgramOpKind::Attention;
  ProgramAttention& a = op.attention;
  a.out = out.data<float>();
  a.q = q.data<float>();
  a.q_head_stride = q.stride(1);
  a.cache = cache;
  a.num_heads = heads;
  a.position = batch.positions.data<int32_t>();
  a.block_table = batch.block_tables.data<int32_t>();
  a.scale = scale;
  a.max_splits = std::max(1, program_blocks_ / cache.kv_heads);
  const size_t floats = static_cast<size_t>(a.max_splits) * static_cast<size_t>(heads) *
                        static_cast<size_t>(cache.head_dim + 2);
  a.partials = static_cast<float*>(program_partials_.get(*allocator_, floats * sizeof(float)));
  a.tickets = static_cast<unsigned*>(program_counters_->data) + 1;
  program_shared_ = std::max(program_shared_, program_shared_bytes(cache, heads));
  return true;
}

void CudaBackend::flush_program() {
  if (!program_ || program_->count == 0) return;
  const size_t shared = std::exchange(program_shared_, 0);
  try {
    launch_step_program(*program_, program_blocks_, shared, stream_);
  } catch (...) {
    program_->count = 0;  // a failed launch leaves nothing pending
    throw;
  }
  program_->count = 0;
}

}  // namespace strata::cuda
