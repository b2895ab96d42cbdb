// The GEMV kernels of launches of up to 8 activation rows (gemv_kernels.cuh).
#include "kernels/cuda/gemv_kernels.cuh"

namespace strata::cuda::gemv_detail {

template void launch_for_rows<8>(const GemvBatch& b, cudaStream_t stream);

}  // namespace strata::cuda::gemv_detail
