// The rule for how much of each row of the step program's next product the decode attention
// kernel asks L2 for (cuda_weight_prefetch.cpp): host arithmetic only, so it runs without a GPU.
#include <gtest/gtest.h>

#include "kernels/cuda/launch.h"

namespace strata::cuda {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(CudaWeightPrefetch, TheMeasuredShapesGetTheLeadsTheirFiguresAreFor) {
  // Llama-3.1-8B wo in BF16: 4,096 rows of 8 KB; 12 MB is 3 KB a row (bench/RESULTS.md, session 20).
  EXPECT_EQ(prefetch_lead_bytes(8192, 4096, 12 * kMiB), 3072);
  // Llama-3.2-1B wo in F16: 2,048 rows of 4 KB; the 3/8 cap gives 1.5 KB, not the whole row.
  EXPECT_EQ(prefetch_lead_bytes(4096, 2048, 12 * kMiB), 1536);
}

TEST(CudaWeightPrefetch, LeadsAreWholePiecesWithinTheBudgetAndTheCap) {
  for (const int64_t row_bytes : {1152, 4096, 8192, 28672})
    for (const int64_t rows : {576, 2048, 4096, 14336})
      for (const int64_t budget : {int64_t{0}, kMiB, 12 * kMiB, 64 * kMiB}) {
        const int64_t lead = prefetch_lead_bytes(row_bytes, rows, budget);
        EXPECT_GE(lead, 0);
        EXPECT_EQ(lead % 512, 0) << row_bytes << " " << rows << " " << budget;
        EXPECT_LE(lead * rows, budget);
        EXPECT_LE(lead * 8, row_bytes * 3);
      }
  EXPECT_EQ(prefetch_lead_bytes(8192, 4096, 0), 0);
  EXPECT_EQ(prefetch_lead_bytes(8192, 4096, kMiB), 0);  // under 512 bytes a row: none
  EXPECT_EQ(prefetch_lead_bytes(8192, 0, 12 * kMiB), 0);
}

}  // namespace
}  // namespace strata::cuda
