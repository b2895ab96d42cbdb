// Batch-1 decode's products of the Llama-3.1-8B shape through Strata's own GEMV launchers
// (kernels/cuda/launch.h), BF16 and Q4_0 weights, as the backend launches them: q/k/v in
// one launch with the norm folded in (Q4_0: the input's int16 groups made first by the
// quantization kernel), wo added to the residual, gate/up with the SwiGLU store, down added
// to the residual. Two views, CUDA events on random operands:
//   alone:    each launch (with its quantization kernel, for Q4_0) timed by itself, the
//             median of 25, weights rotated over the layers' copies so no run finds them in L2;
//   pipelined: a layer's launches back to back for `layers` layers of their own weights,
//             captured in a CUDA graph as the backend's decode steps are (dependent launch
//             between the kernels), the median replay divided by the layers; for Q4_0 also
//             with the split rows made once before (the quantization kernels' share) and
//             with f16 activations on the tensor cores (no quantization kernels; each
//             product alone too: STRATA_CUDA_GEMV=f16's kernel, gemv_half_mma.cu), for
//             BF16 also through the step program as batch-1 decode runs them by default (a
//             layer's wo, gate/up, down and q/k/v one program launch: its launch boundaries
//             stand where decode's attention kernel splits the program), and each kind of
//             product alone in a program of that product for every layer (an operation's
//             time between two barriers, without a launch's ramp and tail).
// Each line gives microseconds and the weight bytes over that time, to set against the copy
// rate cuda_roofline measures. No attention or rope: the products' share of a decode step.
// Usage: cuda_gemv_bench [layers [bf16|q4_0]]   (default 8 layers, about 1 GB of Q4_0 and 3.5 GB
// of BF16 weights; both types unless one is named)
#include <cuda_runtime.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "kernels/cpu/matmul_internal.h"
#include "kernels/cpu/quant.h"
#include "kernels/cuda/launch.h"
#include "kernels/cuda/step_program.h"
#include "kernels/cuda/weight_layout.h"

namespace {

using strata::DType;
using strata::bench::check;
using strata::cuda::GemvNorm;
using strata::cuda::GemvTarget;
using strata::cuda::SplitRows;
using strata::cuda::WeightRef;

constexpr int64_t kHidden = 4096, kKv = 1024, kFfn = 14336;

// One weight's bytes as the device keeps them: random values in [-0.05, 0.05] written in
// `dtype` by the CPU quantizer, block formats then repacked (weight_layout.h).
std::vector<uint8_t> weight_bytes_on_device(DType dtype, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (auto& v : values) v = dist(rng);
  std::vector<uint8_t> bytes(static_cast<size_t>(strata::dtype_row_bytes(dtype, rows * cols)));
  strata::cpu::quantize_row(dtype, values.data(), bytes.data(), rows * cols);
  if (!strata::cuda::is_repacked(dtype)) return bytes;
  std::vector<uint8_t> packed(bytes.size());
  strata::cuda::repack_blocks(dtype, bytes.data(), rows * cols / 32, packed.data());
  return packed;
}

WeightRef upload(const std::vector<uint8_t>& bytes, DType dtype, int64_t rows, int64_t cols) {
  void* device = nullptr;
  check(cudaMalloc(&device, bytes.size()), "cudaMalloc");
  check(cudaMemcpy(device, bytes.data(), bytes.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
  return WeightRef{device, dtype, rows, cols};
}

float* random_floats(int64_t count, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> host(static_cast<size_t>(count));
  for (auto& v : host) v = dist(rng);
  float* device = nullptr;
  check(cudaMalloc(&device, host.size() * 4), "cudaMalloc");
  check(cudaMemcpy(device, host.data(), host.size() * 4, cudaMemcpyHostToDevice), "cudaMemcpy");
  return device;
}

size_t weight_bytes(const WeightRef& w) { return static_cast<size_t>(strata::dtype_row_bytes(w.dtype, w.rows * w.cols)); }

struct Layer {
  WeightRef q, k, v, wo, gate, up, down;
};

// The activations and outputs one layer's products read and write (shared by all layers:
// the values do not matter, the bytes streamed do).
struct Buffers {
  float *x, *attn, *residual, *q, *k, *v, *act;
  float *attn_norm, *ffn_norm;
  SplitRows split_hidden, split_ffn;
};

// The launches of one product as the backend makes them at batch 1.
struct Product {
  std::string name;
  std::function<size_t(const Layer&)> bytes;
  std::function<void(const Layer&, cudaStream_t)> launch;
};

// quantize_inputs false (Q4_0): the products read split rows made once, so that the
// quantization kernels' share of the pipelined layer shows. half (Q4_0): the products read
// x on the tensor cores, rounding it to f16 themselves (gemv_half_mma.cu), norms folded.
std::vector<Product> products(DType dtype, const Buffers& b, bool quantize_inputs = true, bool half = false) {
  const bool split = dtype != DType::BF16 && !half;
  const int levels = strata::cpu::activation_levels(dtype);
  const GemvNorm attn_norm{b.attn_norm, 1e-5f}, ffn_norm{b.ffn_norm, 1e-5f};
  // Q4_0: the input quantized (normalized first where the norm folds), then the product
  // reads the split rows; BF16: the product reads x and folds the norm itself.
  const auto input = [=](const float* x, const GemvNorm& norm, const SplitRows& rows, cudaStream_t s) {
    if (split && quantize_inputs) strata::cuda::launch_split_rows(x, rows.cols, norm, levels, rows, s);
  };
  std::vector<Product> out;
  out.push_back({"q/k/v", [](const Layer& l) { return weight_bytes(l.q) + weight_bytes(l.k) + weight_bytes(l.v); },
                 [=](const Layer& l, cudaStream_t s) {
                   input(b.x, attn_norm, b.split_hidden, s);
                   const GemvTarget t[] = {{b.q, kHidden, l.q, false}, {b.k, kKv, l.k, false}, {b.v, kKv, l.v, false}};
                   strata::cuda::launch_gemv_many(t, 3, b.x, kHidden, 1, s, split ? GemvNorm{} : attn_norm,
                                                  split ? &b.split_hidden : nullptr, nullptr, half);
                 }});
  out.push_back({"wo", [](const Layer& l) { return weight_bytes(l.wo); }, [=](const Layer& l, cudaStream_t s) {
                   input(b.attn, GemvNorm{}, b.split_hidden, s);
                   const GemvTarget t{b.residual, kHidden, l.wo, true};
                   strata::cuda::launch_gemv_many(&t, 1, b.attn, kHidden, 1, s, GemvNorm{},
                                                  split ? &b.split_hidden : nullptr, nullptr, half);
                 }});
  out.push_back({"gate/up (SwiGLU)", [](const Layer& l) { return weight_bytes(l.gate) + weight_bytes(l.up); },
                 [=](const Layer& l, cudaStream_t s) {
                   input(b.residual, ffn_norm, b.split_hidden, s);
                   strata::cuda::launch_gemv_swiglu(b.act, kFfn, b.residual, kHidden, 1, l.gate, l.up, s,
                                                    split ? GemvNorm{} : ffn_norm, split ? &b.split_hidden : nullptr,
                                                    half);
                 }});
  out.push_back({"down", [](const Layer& l) { return weight_bytes(l.down); }, [=](const Layer& l, cudaStream_t s) {
                   input(b.act, GemvNorm{}, b.split_ffn, s);
                   const GemvTarget t{b.residual, kHidden, l.down, true};
                   strata::cuda::launch_gemv_many(&t, 1, b.act, kFfn, 1, s, GemvNorm{}, split ? &b.split_ffn : nullptr,
                                                  nullptr, half);
                 }});
  return out;
}

void row(const char* dtype, const std::string& what, double us, double bytes) {
  std::printf("| %s | %s | %.1f | %.1f | %.0f |\n", dtype, what.c_str(), us, bytes / 1e6, bytes / (us * 1e-6) / 1e9);
}

// One layer's products as the step program's operations (BF16): wo into the residual,
// gate/up with the norm folded and the SwiGLU store, down into the residual, then q/k/v with
// the norm folded (no rope: no cache), made as the backend records them (make_program_gemv).
std::array<strata::cuda::ProgramGemv, 4> program_ops(const Layer& l, const Buffers& b) {
  using strata::cuda::make_program_gemv;
  const GemvNorm attn_norm{b.attn_norm, 1e-5f}, ffn_norm{b.ffn_norm, 1e-5f};
  const GemvTarget wo{b.residual, kHidden, l.wo, true}, gate{b.act, kFfn, l.gate, false},
      down{b.residual, kHidden, l.down, true};
  const GemvTarget qkv[] = {{b.q, kHidden, l.q, false}, {b.k, kKv, l.k, false}, {b.v, kKv, l.v, false}};
  return {make_program_gemv(&wo, 1, b.attn, GemvNorm{}, nullptr, nullptr),
          make_program_gemv(&gate, 1, b.residual, ffn_norm, nullptr, &l.up),
          make_program_gemv(&down, 1, b.act, GemvNorm{}, nullptr, nullptr),
          make_program_gemv(qkv, 3, b.x, attn_norm, nullptr, nullptr)};
}
constexpr const char* kProgramOpNames[4] = {"wo", "gate/up (SwiGLU)", "down", "q/k/v"};

// One layer's products as one step program.
strata::cuda::StepProgram layer_program(const Layer& l, const Buffers& b, unsigned* counters) {
  strata::cuda::StepProgram p;
  p.counters = counters;
  for (const auto& op : program_ops(l, b)) p.ops[p.count++].gemv = op;
  return p;
}

// One kind of product (program_ops' index) of every layer in turn, as one step program: its
// time a layer is the operation's inside a program (its barrier included), without the
// launch's ramp and tail.
strata::cuda::StepProgram one_product_program(const std::vector<Layer>& layers, int kind, const Buffers& b,
                                              unsigned* counters) {
  strata::cuda::StepProgram p;
  p.counters = counters;
  for (const Layer& l : layers)
    if (p.count < strata::cuda::kMaxProgramOps) p.ops[p.count++].gemv = program_ops(l, b)[static_cast<size_t>(kind)];
  return p;
}

// A layer's launches for each layer, captured once and replayed as a decode step is: the
// median replay's microseconds a layer.
double pipelined_us(const std::vector<Layer>& layers, const std::vector<Product>& ps, cudaStream_t stream) {
  cudaGraph_t graph;
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  for (const Layer& l : layers)
    for (const Product& p : ps) p.launch(l, stream);
  check(cudaStreamEndCapture(stream, &graph), "cudaStreamEndCapture");
  cudaGraphExec_t exec;
  check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
  const double step_us = 1e3 * strata::bench::median_ms(15, [&](int) {
    check(cudaGraphLaunch(exec, stream), "cudaGraphLaunch");
  });
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return step_us / static_cast<double>(layers.size());
}

}  // namespace

int main(int argc, char** argv) {
  const int layers = argc > 1 ? std::atoi(argv[1]) : 8;
  const std::string only = argc > 2 ? argv[2] : "";
  if (layers < 1 || (!only.empty() && only != "bf16" && only != "q4_0")) {
    std::fprintf(stderr, "usage: cuda_gemv_bench [layers >= 1 [bf16|q4_0]]\n");
    return 2;
  }
  cudaDeviceProp props{};
  check(cudaGetDeviceProperties(&props, 0), "cudaGetDeviceProperties");
  std::printf("gpu: %s, %d SMs; Llama-3.1-8B products at batch 1, %d layers of weights\n", props.name,
              props.multiProcessorCount, layers);
  std::mt19937 rng(11);
  Buffers b{};
  b.x = random_floats(kHidden, -1.f, 1.f, rng);
  b.attn = random_floats(kHidden, -1.f, 1.f, rng);
  b.residual = random_floats(kHidden, -1.f, 1.f, rng);
  b.act = random_floats(kFfn, -1.f, 1.f, rng);
  b.q = random_floats(kHidden, -1.f, 1.f, rng);
  b.k = random_floats(kKv, -1.f, 1.f, rng);
  b.v = random_floats(kKv, -1.f, 1.f, rng);
  b.attn_norm = random_floats(kHidden, 0.5f, 1.5f, rng);
  b.ffn_norm = random_floats(kHidden, 0.5f, 1.5f, rng);
  void* split_buffers[2] = {};
  check(cudaMalloc(&split_buffers[0], strata::cuda::split_rows_bytes(1, kHidden)), "cudaMalloc");
  check(cudaMalloc(&split_buffers[1], strata::cuda::split_rows_bytes(1, kFfn)), "cudaMalloc");
  b.split_hidden = strata::cuda::split_rows_view(split_buffers[0], 1, kHidden);
  b.split_ffn = strata::cuda::split_rows_view(split_buffers[1], 1, kFfn);
  // The step program's barrier and ticket counters: zero before a launch, and again after.
  unsigned* program_counters = nullptr;
  check(cudaMalloc(&program_counters, strata::cuda::kProgramCounters * sizeof(unsigned)), "cudaMalloc");
  check(cudaMemset(program_counters, 0, strata::cuda::kProgramCounters * sizeof(unsigned)), "cudaMemset");
  // A blocking stream: median_ms's events on the legacy default stream order with it.
  cudaStream_t stream;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");

  std::printf("| weights | launch | us | weight MB | GB/s |\n| --- | --- | --- | --- | --- |\n");
  for (const DType dtype : {DType::BF16, DType::Q4_0}) {
    const char* name = dtype == DType::BF16 ? "BF16" : "Q4_0";
    if (!only.empty() && only != (dtype == DType::BF16 ? "bf16" : "q4_0")) continue;
    // One set of values, a copy of it for each layer: the bytes streamed are what matter, and
    // each layer's own addresses keep them out of L2.
    const auto q = weight_bytes_on_device(dtype, kHidden, kHidden, rng);
    const auto kv = weight_bytes_on_device(dtype, kKv, kHidden, rng);
    const auto ffn_in = weight_bytes_on_device(dtype, kFfn, kHidden, rng);
    const auto ffn_out = weight_bytes_on_device(dtype, kHidden, kFfn, rng);
    std::vector<Layer> ls;
    for (int l = 0; l < layers; ++l)
      ls.push_back({upload(q, dtype, kHidden, kHidden), upload(kv, dtype, kKv, kHidden), upload(kv, dtype, kKv, kHidden),
                    upload(q, dtype, kHidden, kHidden), upload(ffn_in, dtype, kFfn, kHidden),
                    upload(ffn_in, dtype, kFfn, kHidden), upload(ffn_out, dtype, kHidden, kFfn)});
    const std::vector<Product> ps = products(dtype, b);
    size_t layer_bytes = 0;
    for (const Product& p : ps) {
      const double us = 1e3 * strata::bench::median_ms(25, [&](int i) {
        p.launch(ls[static_cast<size_t>(i % layers)], stream);
      });
      row(name, p.name + " alone", us, static_cast<double>(p.bytes(ls[0])));
      layer_bytes += p.bytes(ls[0]);
    }
    row(name, "a layer's products, pipelined", pipelined_us(ls, ps, stream), static_cast<double>(layer_bytes));
    if (dtype != DType::BF16) {
      row(name, "a layer's products without quantizing their inputs, pipelined",
          pipelined_us(ls, products(dtype, b, false), stream), static_cast<double>(layer_bytes));
      const std::vector<Product> half = products(dtype, b, true, true);
      for (const Product& p : half) {
        const double us = 1e3 * strata::bench::median_ms(25, [&](int i) {
          p.launch(ls[static_cast<size_t>(i % layers)], stream);
        });
        row(name, p.name + " alone, f16 activations on the tensor cores", us, static_cast<double>(p.bytes(ls[0])));
      }
      row(name, "a layer's products, f16 activations on the tensor cores, pipelined", pipelined_us(ls, half, stream),
          static_cast<double>(layer_bytes));
    }
    const int program_blocks = strata::cuda::program_blocks(props.multiProcessorCount);
    if (dtype == DType::BF16 && program_blocks > 0) {
      const size_t shared = strata::cuda::program_gemv_shared_bytes(ls[0].down);  // the longest rows
      const Product program{"step program", {}, [&](const Layer& l, cudaStream_t s) {
                              strata::cuda::launch_step_program(layer_program(l, b, program_counters),
                                                                program_blocks, shared, s);
                            }};
      row(name, "a layer's products in the step program, pipelined", pipelined_us(ls, {program}, stream),
          static_cast<double>(layer_bytes));
      // Each product's operation in a program of that product only (one launch for all layers).
      for (int kind = 0; kind < 4; ++kind) {
        const strata::cuda::StepProgram one = one_product_program(ls, kind, b, program_counters);
        const double us = 1e3 * strata::bench::median_ms(15, [&](int) {
          strata::cuda::launch_step_program(one, program_blocks, shared, stream);
        }) / static_cast<double>(one.count);
        const strata::cuda::ProgramGemv& g = one.ops[0].gemv;
        size_t bytes = g.swiglu ? weight_bytes(g.up) : 0;
        for (int t = 0; t < g.count; ++t) bytes += weight_bytes(g.w[t]);
        row(name, std::string(kProgramOpNames[kind]) + " in a program of " + std::to_string(one.count) + " of them",
            us, static_cast<double>(bytes));
      }
    }
    for (const Layer& l : ls)
      for (const WeightRef* w : {&l.q, &l.k, &l.v, &l.wo, &l.gate, &l.up, &l.down})
        cudaFree(const_cast<void*>(w->data));
  }
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  return 0;
}
