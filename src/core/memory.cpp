#include "core/memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older kernels answer EINVAL and we touch pages
#endif

namespace strata {

namespace {
uintptr_t page_size() {
  const long page = sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<uintptr_t>(page) : 4096;
}
}  // namespace

bool populate_pages(void* data, size_t bytes) {
  if (data == nullptr || bytes == 0) return true;
  const uintptr_t page = page_size();
  const auto begin = reinterpret_cast<uintptr_t>(data);
  const uintptr_t aligned = begin / page * page;
  return madvise(reinterpret_cast<void*>(aligned), begin + bytes - aligned, MADV_POPULATE_WRITE) == 0;
}

void touch_pages(void* data, size_t bytes) {
  if (data == nullptr || bytes == 0) return;
  const uintptr_t page = page_size();
  const auto begin = reinterpret_cast<uintptr_t>(data);
  volatile unsigned char* p = static_cast<unsigned char*>(data);
  // The first byte of the range, then the first byte of each following page.
  for (uintptr_t offset = 0; offset < bytes; offset = (begin + offset) / page * page + page - begin) {
    p[offset] = p[offset];
  }
}

void prefault_pages(void* data, size_t bytes) {
  if (!populate_pages(data, bytes)) touch_pages(data, bytes);
}

void release_clean_pages(const void* data, size_t bytes) {
#ifdef MADV_PAGEOUT
  const uintptr_t page = page_size();
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);  // a hint: errors ignored
#endif
}

void release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

void return_freed_memory_promptly() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 10);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
#endif
}

int64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  int64_t kib = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) {
      kib = std::strtoll(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kib * 1024;
}

}  // namespace strata
