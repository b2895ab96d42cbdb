// F32 / F16 / BF16 weights in the AVX-512 family: for now the AVX2 float kernels.
#include "kernels/cpu/matmul_internal.h"

namespace strata::cpu {

void matmul_float_columns_avx512(const MatmulProblem& p, int64_t n_begin, int64_t n_end) {
  matmul_float_columns_avx2(p, n_begin, n_end);
}

}  // namespace strata::cpu
