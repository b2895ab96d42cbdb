// The SIMD dispatch checks must agree with what the kernel reports in /proc/cpuinfo.
// Regression: __builtin_cpu_supports("f16c") does not compile with clang 14, which broke
// the sanitizer build; F16C is now read from CPUID.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/cpu_features.h"

namespace strata {
namespace {

bool cpuinfo_has_flags(std::initializer_list<const char*> flags) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    std::string word, all = " ";
    while (words >> word) all += word + " ";
    for (const char* flag : flags)
      if (all.find(" " + std::string(flag) + " ") == std::string::npos) return false;
    return true;
  }
  return false;
}

TEST(CpuFeatures, MatchProcCpuinfo) {
  if (!std::ifstream("/proc/cpuinfo")) GTEST_SKIP() << "no /proc/cpuinfo";
  EXPECT_EQ(cpu_has_avx2_fma_f16c(), cpuinfo_has_flags({"avx2", "fma", "f16c"}));
  EXPECT_EQ(cpu_has_avx512(), cpuinfo_has_flags({"avx2", "fma", "f16c", "avx512f", "avx512bw",
                                                 "avx512vl", "avx512dq"}));
  EXPECT_EQ(cpu_has_avx512_vnni(), cpuinfo_has_flags({"avx2", "fma", "f16c", "avx512f", "avx512bw",
                                                      "avx512vl", "avx512dq", "avx512_vnni"}));
}

}  // namespace
}  // namespace strata
