#ifndef ALTS_BENCHMARKS_COMMON_HEAP_ACCOUNTING_H_
#define ALTS_BENCHMARKS_COMMON_HEAP_ACCOUNTING_H_

// Process-wide heap accounting for benchmark programs.
//
// heap_accounting.cc defines malloc, free, calloc, realloc, memalign,
// posix_memalign, aligned_alloc, valloc and pvalloc in the executable. The
// dynamic linker resolves every library's calls to those names (BoringSSL,
// libevent, libstdc++, glibc itself) to the executable first, so every
// allocation in the process passes through the counters here before being
// forwarded to glibc (__libc_malloc and friends). operator new/delete are
// replaced too and forward to malloc/free, so C++ allocations are counted
// exactly once.
//
// Blocks stay glibc blocks, so glibc's own malloc_usable_size remains correct
// for them and is deliberately not replaced. Counters are relaxed atomics,
// constant-initialized, so allocations made before main (static
// constructors, the dynamic loader) are counted, and any thread may allocate.
//
// Link this only into benchmark executables (and tests of it): it replaces
// the allocator entry points of the whole process. It is compiled out of
// sanitizer builds, whose runtimes own malloc; HeapAccountingActive() then
// returns false.

#include <cstddef>
#include <cstdint>

namespace alts::bench {

// HeapSnapshot is one reading of the process-wide heap counters.
struct HeapSnapshot {
  // live_bytes is the usable size (malloc_usable_size) of every block
  // allocated and not yet freed since the process started. Usable size
  // includes glibc's rounding, so it is at least what was requested.
  int64_t live_bytes = 0;
  // total_allocations counts successful allocation calls; a realloc that
  // moves or resizes a block counts as one allocation and one free.
  uint64_t total_allocations = 0;
  // total_frees counts frees of non-null blocks.
  uint64_t total_frees = 0;
};

// HeapDelta is the difference between two snapshots.
struct HeapDelta {
  // bytes is the change in live bytes (negative if memory was released).
  int64_t bytes = 0;
  // allocations is the number of allocations in between.
  uint64_t allocations = 0;
  // frees is the number of frees in between.
  uint64_t frees = 0;
};

// TakeHeapSnapshot returns the current counters. Allocation-free.
HeapSnapshot TakeHeapSnapshot();

// Diff returns `after - before`.
HeapDelta Diff(const HeapSnapshot& before, const HeapSnapshot& after);

// HeapAccountingActive returns true if the interposed allocator is in this
// process (false in sanitizer builds), i.e. if snapshots mean anything.
bool HeapAccountingActive();

// ScopedHeapCounter counts the process's allocations between its
// construction (or the last Reset) and each call to Delta. The counters are
// process-wide: allocations by other threads in that window count too.
class ScopedHeapCounter {
 public:
  // ScopedHeapCounter takes the starting snapshot.
  ScopedHeapCounter() : start_(TakeHeapSnapshot()) {}

  // Delta returns what happened since the start.
  HeapDelta Delta() const { return Diff(start_, TakeHeapSnapshot()); }

  // Reset makes now the start.
  void Reset() { start_ = TakeHeapSnapshot(); }

 private:
  HeapSnapshot start_;
};

// CurrentRssBytes returns the resident set size from /proc/self/statm, or 0
// if it cannot be read. Allocation-free.
size_t CurrentRssBytes();

// PeakRssBytes returns the peak resident set size (getrusage ru_maxrss), or
// 0 on failure.
size_t PeakRssBytes();

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_HEAP_ACCOUNTING_H_
