#pragma once
// How much slower the code under test runs in this build: tests that bound wall time (a
// runaway template must stop "fast") scale their bound by it, so that the sanitizer build
// (ASan + UBSan + fuzzer coverage, -O1: about 10x slower) checks the same property
// instead of failing on the clock.
namespace strata::testing {

#if defined(__SANITIZE_ADDRESS__)
constexpr double kSanitizerSlowdown = 10.0;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr double kSanitizerSlowdown = 10.0;
#else
constexpr double kSanitizerSlowdown = 1.0;
#endif
#else
constexpr double kSanitizerSlowdown = 1.0;
#endif

}  // namespace strata::testing
