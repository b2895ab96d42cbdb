# Optional instrumented builds (clang). Each applies to every target, project code and
# tests alike, so a report anywhere in the suite fails it.
#   STRATA_SANITIZE: AddressSanitizer + UndefinedBehaviorSanitizer. UB aborts instead of
#     printing and going on, so a test that hits UB fails rather than passing with a log line.
#   STRATA_FUZZ: libFuzzer coverage instrumentation for the libraries, and the fuzz
#     targets of tests/fuzz (implies STRATA_SANITIZE, which is what makes a bug a crash).
option(STRATA_SANITIZE "Build everything with -fsanitize=address,undefined" OFF)
option(STRATA_FUZZ "Build the libFuzzer targets in tests/fuzz (clang)" OFF)

if(STRATA_FUZZ)
  set(STRATA_SANITIZE ON)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "STRATA_FUZZ needs clang: configure with -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
endif()

if(STRATA_SANITIZE)
  # Frame pointers keep ASan's stack traces whole in -O1/-O2 code.
  set(strata_sanitize_flags -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:${strata_sanitize_flags}>")
  add_link_options(${strata_sanitize_flags})
  if(STRATA_FUZZ)
    # Libraries get the coverage hooks; only the fuzz targets link libFuzzer's main.
    add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:-fsanitize=fuzzer-no-link>")
  endif()
endif()
