#pragma once
// Resident-memory helpers for long-running processes (the server): making lazily mapped
// memory resident up front, and handing freed heap memory back to the OS.
#include <cstddef>
#include <cstdint>

namespace strata {

// Makes [data, data + bytes) resident, so that memory mapped lazily (anonymous mmap)
// counts in the footprint now rather than as it is first used. Contents are kept.
// populate_pages: madvise(MADV_POPULATE_WRITE) (Linux 5.14+), which never writes the
// memory and so may run while other threads write to it; false where unsupported.
bool populate_pages(void* data, size_t bytes);
// touch_pages: writes each page's first byte back to itself (anywhere, but not while
// another thread may write the same memory).
void touch_pages(void* data, size_t bytes);
// populate_pages, else touch_pages.
void prefault_pages(void* data, size_t bytes);

// Asks the kernel to reclaim the whole pages inside [data, data + bytes) (MADV_PAGEOUT):
// clean pages of a file mapping leave the resident set and are read from the file again
// if touched; contents never change, so this is safe on any memory (anonymous memory
// without swap stays as it is). For weights copied out of a mapping and no longer read.
void release_clean_pages(const void* data, size_t bytes);

// Returns the free memory of every malloc arena to the OS (glibc's malloc_trim: whole
// free pages inside the heaps too, not only the top). A no-op where unsupported.
void release_free_heap();

// Makes free() hand memory back to the OS as it goes, for a long-running process whose
// footprint should return to its idle level after a burst: allocations from 256 KiB are
// mapped and unmapped on their own, and a heap's free top is trimmed past 1 MiB. glibc
// otherwise raises both thresholds after freeing a large block (up to 32 and 64 MiB), and
// release_free_heap() never trims the top of a thread's heap, so megabytes a long prompt's
// step freed stayed resident. A no-op where unsupported.
void return_freed_memory_promptly();

// This process's resident set size in bytes (VmRSS), or 0 where unknown.
int64_t resident_bytes();

}  // namespace strata
