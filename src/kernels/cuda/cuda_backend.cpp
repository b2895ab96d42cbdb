// The CUDA backend's memory side: device selection, the stream and cuBLAS handle, tensors
// in device memory, weight upload (repacking quantized blocks), batch upload, the KV cache
// and block copies. The operations are in cuda_backend_ops.cpp and cuda_matmul.cpp.
#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "kernels/cuda/cuda_backend_impl.h"
#include "kernels/cuda/env_switch.h"
#include "kernels/cuda/cublas_api.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/weight_layout.h"
#include "kernels/forward_batch.h"

namespace strata {

namespace cuda {

void* ScratchBuffer::get(DeviceAllocator& allocator, size_t bytes) {
  if (!storage_ || storage_->bytes < bytes) {
    if (storage_) retired_.push_back(std::move(storage_));
    storage_ = allocator.allocate(std::max<size_t>(bytes, 256));
  }
  return storage_->data;
}

int* ZeroedCounters::get(DeviceAllocator& allocator, size_t count, cudaStream_t stream) {
  void* counters = buffer_.get(allocator, count * sizeof(int));
  if (counters != zeroed_) {
    cuda_check(cudaMemsetAsync(counters, 0, std::max<size_t>(count * sizeof(int), 256), stream), "zeroed counters");
    zeroed_ = counters;
  }
  return static_cast<int*>(counters);
}

CudaBackend::CudaBackend(const CudaBackendOptions& options) : device_(options.device) {
  int count = 0;
  if (const cudaError_t status = cudaGetDeviceCount(&count); status != cudaSuccess)
    throw Error(std::string("no usable CUDA GPU: ") + cudaGetErrorString(status) + " (use --device cpu)");
  if (device_ < 0 || device_ >= count)
    throw Error("CUDA device " + std::to_string(device_) + " does not exist (" + std::to_string(count) + " present)");
  cuda_check(cudaSetDevice(device_), "cudaSetDevice");
  cuda_check(cudaGetDeviceProperties(&props_, device_), "cudaGetDeviceProperties");
  cuda_check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  cublas_check(cublas_api().create(&cublas_), "cublasCreate");
  cublas_check(cublas_api().set_stream(cublas_, stream_), "cublasSetStream");
  allocator_ = std::make_shared<DeviceAllocator>(device_);
  // A fixed workspace makes cuBLAS safe to capture in a graph (it allocates nothing then).
  constexpr size_t kCublasWorkspace = size_t{32} << 20;
  cublas_workspace_storage_ = allocator_->allocate(kCublasWorkspace);
  cublas_check(cublas_api().set_workspace(cublas_, cublas_workspace_storage_->data, kCublasWorkspace),
               "cublasSetWorkspace");
  graphs_enabled_ = !switched_off("STRATA_CUDA_GRAPHS");
  using Activations = CudaBackendOptions::QuantizedActivations;
  quantized_activations_ = options.quantized_activations;
  if (const char* gemv = std::getenv("STRATA_CUDA_GEMV")) {
    const std::string mode(gemv);
    if (mode == "int16") quantized_activations_ = Activations::Int16;
    else if (mode == "int8") quantized_activations_ = Activations::Int8;
    else if (mode == "f32") quantized_activations_ = Activations::F32;
    else if (mode == "f16") quantized_activations_ = Activations::F16;
    else throw Error("STRATA_CUDA_GEMV=" + mode + ": expected int16, int8, f32 or f16");
  }
  fuse_products_ = !switched_off("STRATA_CUDA_FUSE");
  rope_epilogue_ = fuse_products_ && !switched_off("STRATA_CUDA_ROPE_EPILOGUE");
  flash_attention_ = !switched_off("STRATA_CUDA_FLASH_ATTENTION");
  const bool plain = options.plain_kernels;
  decode_attention_ = !plain && !switched_off("STRATA_CUDA_DECODE_ATTENTION");
  stack_weights_ = !plain && !switched_off("STRATA_CUDA_STACK_WEIGHTS");
  swiglu_half_input_ = !plain && fuse_products_ && !switched_off("STRATA_CUDA_SWIGLU_HALF");
  vector_norm_ = !plain && !switched_off("STRATA_CUDA_VECTOR_NORM");
  split_decode_tc_ = options.split_decode_on_tensor_cores && !switched_off("STRATA_CUDA_SPLIT_DECODE_TC");
  batch_invariant_ = options.batch_invariant || env_is("STRATA_CUDA_BATCH_INVARIANT", "1");
  if (batch_invariant_)
    fuse_products_ = rope_epilogue_ = flash_attention_ = decode_attention_ = swiglu_half_input_ = false;
  if (env_is("STRATA_CUDA_STEP_PROFILE", "1")) step_profile_ = std::make_unique<StepProfile>(stream_);
  // The step program (CudaBackendOptions::step_program); never in batch-invariant mode (a
  // batch-1 step would round otherwise than a larger one).
  const bool every_product = env_is("STRATA_CUDA_STEP_PROGRAM", "1");
  program_min_product_bytes_ = every_product ? 0 : options.step_program_min_product_bytes;
  program_min_product_cols_ = every_product ? 0 : options.step_program_min_product_cols;
  if ((options.step_program || every_product) && !plain && !switched_off("STRATA_CUDA_STEP_PROGRAM") &&
      fuse_products_ && !batch_invariant_) {
    program_blocks_ = program_blocks(props_.multiProcessorCount);
    program_attention_always_ = env_is("STRATA_CUDA_STEP_PROGRAM_ATTENTION", "1");
    if (program_blocks_ > 0) {
      program_ = std::make_unique<StepProgram>();
      program_counters_ = allocator_->allocate(kProgramCounters * sizeof(unsigned));
      program_->counters = static_cast<unsigned*>(program_counters_->data);
      cuda_check(cudaMemsetAsync(program_counters_->data, 0, kProgramCounters * sizeof(unsigned), stream_),
                 "step program counters");
    }
  }
}

CudaBackend::~CudaBackend() {
  step_profile_.reset();
  // Scratch and cached items go back before the stream and handle they were used on.
  cudaStreamSynchronize(stream_);
  for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (cublas_) cublas_api().destroy(cublas_);
  if (stream_) cudaStreamDestroy(stream_);
}

std::string CudaBackend::name() const {
  return "cuda (" + std::string(props_.name) + ", " + std::to_string(props_.multiProcessorCount) + " SMs, " +
         std::to_string(props_.totalGlobalMem >> 30) + " GiB)";
}

std::shared_ptr<Storage> CudaBackend::device_storage(size_t bytes) { return allocator_->allocate(bytes); }

Tensor CudaBackend::allocate(const Tensor::Shape& shape, DType dtype) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return Tensor::view_of(device_storage(static_cast<size_t>(dtype_row_bytes(dtype, n))), 0, dtype, shape);
}

// Copies go on the backend's stream: a plain cudaMemcpy runs on the legacy default stream,
// which a non-blocking stream does not wait for, so a kernel could read the data before a
// pageable copy has landed. From pageable memory the source is staged before the call
// returns, so temporaries may die right after.
Tensor CudaBackend::upload(const Tensor& host) {
  if (host.device() != Device::CPU) throw Error("upload: " + host.describe() + " is not in host memory");
  const Tensor src = host.contiguous();
  const DType dtype = src.dtype();
  if (!kept_on_device(dtype)) {
    // Formats without a kernel of their own (K-quants, Q5) run as bf16.
    const int64_t cols = src.ndim() ? src.size(-1) : 1;
    const std::vector<uint16_t> bf16 = convert_to_bf16(dtype, src.raw_data(), src.numel() / cols, cols);
    Tensor out = allocate(src.shape(), DType::BF16);
    cuda_check(cudaMemcpyAsync(out.raw_data(), bf16.data(), bf16.size() * 2, cudaMemcpyHostToDevice, launch_stream()),
               "upload (bf16)");
    return out;
  }
  Tensor out = allocate(src.shape(), dtype);
  const size_t bytes = src.nbytes();
  if (is_repacked(dtype)) {
    std::vector<uint8_t> packed(bytes);
    repack_blocks(dtype, static_cast<const uint8_t*>(src.raw_data()), src.numel() / 32, packed.data());
    cuda_check(cudaMemcpyAsync(out.raw_data(), packed.data(), bytes, cudaMemcpyHostToDevice, launch_stream()),
               "upload (repacked)");
  } else if (bytes) {
    cuda_check(cudaMemcpyAsync(out.raw_data(), src.raw_data(), bytes, cudaMemcpyHostToDevice, launch_stream()),
               "upload");
  }
  return out;
}

void CudaBackend::upload_stacked(std::span<Tensor* const> weights) {
  const auto stackable = [&] {
    if (weights.size() < 2) return false;
    const Tensor& first = *weights[0];
    for (const Tensor* w : weights) {
      if (!w->defined() || w->device() != Device::CPU || w->ndim() != 2 || w->dtype() != first.dtype() ||
          w->size(1) != first.size(1))
        return false;
    }
    const DType t = first.dtype();
    return t == DType::F32 || t == DType::F16 || t == DType::BF16;
  };
  if (!stack_weights_ || !stackable()) {
    Backend::upload_stacked(weights);
    return;
  }
  int64_t rows = 0;
  for (const Tensor* w : weights) rows += w->size(0);
  const Tensor stacked = allocate({rows, weights[0]->size(1)}, weights[0]->dtype());
  int64_t first = 0;
  for (Tensor* w : weights) {
    const Tensor src = w->contiguous();
    Tensor view = stacked.slice(0, first, first + src.size(0));
    if (src.nbytes())
      cuda_check(
          cudaMemcpyAsync(view.raw_data(), src.raw_data(), src.nbytes(), cudaMemcpyHostToDevice, launch_stream()),
          "upload_stacked");
    first += src.size(0);
    *w = view;
  }
}

Tensor CudaBackend::download(const Tensor& t) {
  if (t.device() != Device::CUDA) throw Error("download: " + t.describe() + " is not in device memory");
  Tensor host = Tensor::empty(t.shape(), t.dtype());
  if (t.numel() == 0) return host;
  if (step_profile_) step_profile_->download_begins();
  if (t.is_contiguous()) {
    cuda_check(cudaMemcpyAsync(host.raw_data(), t.raw_data(), host.nbytes(), cudaMemcpyDeviceToHost, launch_stream()),
               "download");
  } else if (t.ndim() == 2 && t.stride(1) == 1 && !dtype_info(t.dtype()).quantized) {
    const size_t elem = static_cast<size_t>(dtype_row_bytes(t.dtype(), 1));
    cuda_check(cudaMemcpy2DAsync(host.raw_data(), static_cast<size_t>(t.size(1)) * elem, t.raw_data(),
                                 static_cast<size_t>(t.stride(0)) * elem, static_cast<size_t>(t.size(1)) * elem,
                                 static_cast<size_t>(t.size(0)), cudaMemcpyDeviceToHost, launch_stream()),
               "download (strided)");
  } else {
    throw Error("download: " + t.describe() + " is neither dense nor a 2-D view of dense rows");
  }
  cuda_check(cudaStreamSynchronize(launch_stream()), "download (synchronize)");
  if (step_profile_) step_profile_->download_done();
  if (is_repacked(t.dtype())) {
    std::vector<uint8_t> packed(host.nbytes());
    std::memcpy(packed.data(), host.raw_data(), packed.size());
    unpack_blocks(t.dtype(), packed.data(), t.numel() / 32, static_cast<uint8_t*>(host.raw_data()));
  }
  return host;
}

KVStorage CudaBackend::allocate_kv(const KVCacheLayout& layout) {
  layout.check("allocate_kv");
  KVStorage kv;
  kv.layout = layout;
  const Tensor::Shape shape{layout.num_blocks, layout.block_size, layout.num_kv_heads, layout.head_dim};
  for (int layer = 0; layer < layout.num_layers; ++layer) {
    for (auto* list : {&kv.k, &kv.v}) {
      Tensor t = allocate(shape, layout.dtype);
      // Zeroed like the CPU cache, so that no read of an unwritten slot sees garbage.
      cuda_check(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), launch_stream()), "allocate_kv (memset)");
      list->push_back(std::move(t));
    }
  }
  return kv;
}

namespace {

// Every index array of a batch in one host buffer, for one copy (a decode step has little
// else to move): token ids, positions, slots, query starts, context lengths, logit rows,
// block tables padded to `table_width` with -1, then (decode) one attention item a
// sequence. offsets[i] is where array i starts, in 32-bit words.
struct PackedBatch {
  std::vector<int32_t> words;
  std::vector<size_t> offsets;
};

PackedBatch pack_batch(const ForwardBatch& batch, int table_width, bool decode) {
  PackedBatch p;
  for (const auto* a : {&batch.token_ids, &batch.positions, &batch.slot_mapping, &batch.query_start,
                        &batch.context_lens, &batch.logit_rows}) {
    p.offsets.push_back(p.words.size());
    p.words.insert(p.words.end(), a->begin(), a->end());
  }
  p.offsets.push_back(p.words.size());
  p.words.resize(p.words.size() + static_cast<size_t>(std::max(batch.num_seqs(), 1)) * table_width, -1);
  for (size_t s = 0; s < batch.block_tables.size(); ++s)
    std::copy(batch.block_tables[s].begin(), batch.block_tables[s].end(),
              p.words.begin() + static_cast<std::ptrdiff_t>(p.offsets[6] + s * table_width));
  p.offsets.push_back(p.words.size());
  if (decode)
    for (int s = 0; s < batch.num_seqs(); ++s) {
      // (sequence, first token, count, last position)
      const AttentionItem item{s, batch.query_start[static_cast<size_t>(s)], 1,
                               batch.context_lens[static_cast<size_t>(s)] - 1};
      const auto* words = reinterpret_cast<const int32_t*>(&item);
      p.words.insert(p.words.end(), words, words + sizeof(AttentionItem) / sizeof(int32_t));
    }
  return p;
}

}  // namespace

BatchTensors CudaBackend::upload_batch(const ForwardBatch& batch) {
  if (step_profile_) step_profile_->batch_uploaded(batch.num_tokens() == batch.num_seqs(), batch.num_tokens());
  abandon_capture();  // a forward pass that threw mid-capture left the stream capturing
  BatchTensors out;
  out.num_tokens = batch.num_tokens();
  out.num_seqs = batch.num_seqs();
  out.host_query_start = batch.query_start;
  out.host_context_lens = batch.context_lens;
  for (const auto& table : batch.block_tables)
    out.max_blocks_per_seq = std::max(out.max_blocks_per_seq, static_cast<int>(table.size()));
  out.max_blocks_per_seq = std::max(out.max_blocks_per_seq, 1);
  for (size_t s = 0; s + 1 < batch.query_start.size(); ++s)
    out.max_query_len = std::max(out.max_query_len, batch.query_start[s + 1] - batch.query_start[s]);
  for (int32_t len : batch.context_lens) out.max_context_len = std::max(out.max_context_len, len);

  // A decode step (one new token per sequence) may be captured: its table width is padded
  // to a power of two so that steps of growing contexts share a shape, and its arrays go to
  // one buffer per shape (so a decode BatchTensors is valid until the next upload of the
  // same shape; the engine runs one step at a time).
  const bool decode = out.max_query_len == 1 && out.num_tokens == out.num_seqs && out.num_seqs > 0;
  if (decode)
    out.max_blocks_per_seq =
        static_cast<int>(std::bit_ceil(static_cast<unsigned>(std::max(out.max_blocks_per_seq, 8))));

  const PackedBatch packed = pack_batch(batch, out.max_blocks_per_seq, decode);
  std::shared_ptr<Storage> storage;
  const size_t bytes = packed.words.size() * sizeof(int32_t);
  if (decode && graphs_enabled_) {
    const StepShape shape{out.num_seqs, out.max_blocks_per_seq, batch.num_logit_rows()};
    auto& buffer = step_buffers_[shape];
    if (!buffer) buffer = device_storage(bytes);
    storage = buffer;
  } else {
    storage = device_storage(bytes);
  }
  cuda_check(cudaMemcpyAsync(storage->data, packed.words.data(), bytes, cudaMemcpyHostToDevice, launch_stream()),
             "upload_batch");
  // No wait: a copy from pageable memory is staged before cudaMemcpyAsync returns, so the
  // host buffer may die now, and the host runs on to queue the layers. A reused step
  // buffer is rewritten only after the previous step's kernels (one stream).
  const auto view = [&](size_t index, int64_t n) {
    return Tensor::view_of(storage, packed.offsets[index] * sizeof(int32_t), DType::I32, {n});
  };
  out.token_ids = view(0, out.num_tokens);
  out.positions = view(1, out.num_tokens);
  out.slot_mapping = view(2, out.num_tokens);
  out.query_start = view(3, out.num_seqs + 1);
  out.context_lens = view(4, out.num_seqs);
  out.logit_rows = view(5, batch.num_logit_rows());
  out.block_tables = Tensor::view_of(storage, packed.offsets[6] * sizeof(int32_t), DType::I32,
                                     {std::max(out.num_seqs, 1), out.max_blocks_per_seq});
  if (decode) {
    const auto* words = static_cast<const int32_t*>(storage->data);
    remember_decode_items(out, storage, reinterpret_cast<const AttentionItem*>(words + packed.offsets[7]));
  }
  return out;
}

void CudaBackend::copy_blocks(KVStorage& dst, const KVStorage& src,
                              std::span<const std::pair<int32_t, int32_t>> src_dst) {
  const auto &a = src.layout, &b = dst.layout;
  if (a.num_layers != b.num_layers || a.block_size != b.block_size || a.num_kv_heads != b.num_kv_heads ||
      a.head_dim != b.head_dim || a.dtype != b.dtype)
    throw Error("copy_blocks: the two KV storages have different layouts");
  const size_t block_bytes =
      static_cast<size_t>(dtype_row_bytes(a.dtype, int64_t{a.block_size} * a.num_kv_heads * a.head_dim));
  for (const auto& [from, to] : src_dst) {
    if (from < 0 || from >= a.num_blocks || to < 0 || to >= b.num_blocks)
      throw Error("copy_blocks: block pair (" + std::to_string(from) + ", " + std::to_string(to) + ") out of range");
    for (size_t layer = 0; layer < static_cast<size_t>(a.num_layers); ++layer) {
      // cudaMemcpyDefault: either side may be host memory (swap) or device memory.
      cuda_check(
          cudaMemcpyAsync(static_cast<char*>(dst.k[layer].raw_data()) + static_cast<size_t>(to) * block_bytes,
                          static_cast<const char*>(src.k[layer].raw_data()) + static_cast<size_t>(from) * block_bytes,
                          block_bytes, cudaMemcpyDefault, launch_stream()),
          "copy_blocks (k)");
      cuda_check(
          cudaMemcpyAsync(static_cast<char*>(dst.v[layer].raw_data()) + static_cast<size_t>(to) * block_bytes,
                          static_cast<const char*>(src.v[layer].raw_data()) + static_cast<size_t>(from) * block_bytes,
                          block_bytes, cudaMemcpyDefault, launch_stream()),
          "copy_blocks (v)");
    }
  }
  // Host-side storage may be read or reused by the caller right after the call.
  if (!src_dst.empty() && (src.k.front().device() == Device::CPU || dst.k.front().device() == Device::CPU))
    cuda_check(cudaStreamSynchronize(launch_stream()), "copy_blocks (synchronize)");
}

void CudaBackend::synchronize() {
  cuda_check(cudaStreamSynchronize(launch_stream()), "synchronize");
}

}  // namespace cuda

std::unique_ptr<Backend> make_cuda_backend(const CudaBackendOptions& options) {
  return std::make_unique<cuda::CudaBackend>(options);
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no GPU: not an error for this question
    return 0;
  }
  return count;
}

CudaMemoryInfo cuda_memory_info(int device) {
  CudaMemoryInfo info;
  if (cuda_device_count() <= device) return info;
  cuda::cuda_check(cudaSetDevice(device), "cudaSetDevice");
  cuda::cuda_check(cudaMemGetInfo(&info.free_bytes, &info.total_bytes), "cudaMemGetInfo");
  return info;
}

}  // namespace strata
