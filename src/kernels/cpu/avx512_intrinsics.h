#pragma once
// <immintrin.h> for the *_avx512.cpp files. GCC 12's AVX-512 headers trip its own
// uninitialised-value warnings (_mm512_undefined_*); they are silenced for the rest of the
// including file (clang has no such warning group).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
