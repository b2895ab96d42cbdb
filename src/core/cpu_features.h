#pragma once
// Runtime CPU feature checks for the SIMD dispatch. One place, because
// __builtin_cpu_supports differs between compilers: clang 14 rejects "f16c", so F16C is
// read from CPUID directly.
namespace strata {

// AVX2 + FMA + F16C: what the *_avx2.cpp kernels are compiled for.
bool cpu_has_avx2_fma_f16c();
// The above plus AVX-512 F/BW/VL/DQ.
bool cpu_has_avx512();
// The above plus AVX-512 VNNI (integer dot products: the *_avx512.cpp matmul kernels).
bool cpu_has_avx512_vnni();

}  // namespace strata
