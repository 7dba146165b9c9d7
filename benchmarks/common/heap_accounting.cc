#include "benchmarks/common/heap_accounting.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>

// Interposing is only possible on glibc, and must stay out of sanitizer
// builds, whose runtimes define malloc themselves.
#if defined(ALTS_SANITIZER_BUILD) || defined(ALTS_FUZZ_BUILD) || \
    defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ALTS_HEAP_INTERPOSE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define ALTS_HEAP_INTERPOSE 0
#endif
#endif
#if !defined(ALTS_HEAP_INTERPOSE)
#if defined(__GLIBC__)
#define ALTS_HEAP_INTERPOSE 1
#else
#define ALTS_HEAP_INTERPOSE 0
#endif
#endif

namespace alts::bench {
namespace {

// Counters are constant-initialized (zero before any code runs), so the
// allocator may be entered before main and before any static constructor.
// They share one cache line: every malloc updates two of them anyway.
struct alignas(64) Counters {
  std::atomic<int64_t> live_bytes{0};
  std::atomic<uint64_t> allocations{0};
  std::atomic<uint64_t> frees{0};
};
constinit Counters counters;

}  // namespace

#if ALTS_HEAP_INTERPOSE
namespace {

inline void CountAlloc(void* block) {
  if (block == nullptr) return;
  counters.live_bytes.fetch_add(static_cast<int64_t>(malloc_usable_size(block)),
                                std::memory_order_relaxed);
  counters.allocations.fetch_add(1, std::memory_order_relaxed);
}

inline void CountFree(size_t usable) {
  counters.live_bytes.fetch_sub(static_cast<int64_t>(usable),
                                std::memory_order_relaxed);
  counters.frees.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace
#endif  // ALTS_HEAP_INTERPOSE

HeapSnapshot TakeHeapSnapshot() {
  HeapSnapshot snapshot;
  snapshot.live_bytes = counters.live_bytes.load(std::memory_order_relaxed);
  snapshot.total_allocations =
      counters.allocations.load(std::memory_order_relaxed);
  snapshot.total_frees = counters.frees.load(std::memory_order_relaxed);
  return snapshot;
}

HeapDelta Diff(const HeapSnapshot& before, const HeapSnapshot& after) {
  HeapDelta delta;
  delta.bytes = after.live_bytes - before.live_bytes;
  delta.allocations = after.total_allocations - before.total_allocations;
  delta.frees = after.total_frees - before.total_frees;
  return delta;
}

bool HeapAccountingActive() {
  // Static initialization always allocates (iostreams, the loader), so an
  // active interposer has counted something by the time anyone asks.
  return ALTS_HEAP_INTERPOSE &&
         counters.allocations.load(std::memory_order_relaxed) > 0;
}

size_t CurrentRssBytes() {
  // open/read rather than stdio: no allocation, so measuring does not
  // disturb the heap counters.
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // Fields: size resident shared text lib data dt (in pages).
  const char* p = buf;
  while (*p != '\0' && *p != ' ') ++p;
  if (*p != ' ') return 0;
  ++p;
  size_t pages = 0;
  while (*p >= '0' && *p <= '9') pages = pages * 10 + (*p++ - '0');
  const long page_size = sysconf(_SC_PAGESIZE);
  return page_size > 0 ? pages * static_cast<size_t>(page_size) : 0;
}

size_t PeakRssBytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<size_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is KiB
}

}  // namespace alts::bench

#if ALTS_HEAP_INTERPOSE

// glibc's allocator under its internal names; they do not route back here.
extern "C" {
void* __libc_malloc(size_t size);
void __libc_free(void* block);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* block, size_t size);
void* __libc_memalign(size_t alignment, size_t size);
void* __libc_valloc(size_t size);
void* __libc_pvalloc(size_t size);
}

using alts::bench::CountAlloc;
using alts::bench::CountFree;

extern "C" {

void* malloc(size_t size) noexcept {
  void* block = __libc_malloc(size);
  CountAlloc(block);
  return block;
}

void free(void* block) noexcept {
  if (block == nullptr) return;
  CountFree(malloc_usable_size(block));
  __libc_free(block);
}

void* calloc(size_t count, size_t size) noexcept {
  void* block = __libc_calloc(count, size);
  CountAlloc(block);
  return block;
}

void* realloc(void* block, size_t size) noexcept {
  if (block == nullptr) return malloc(size);
  const size_t old_usable = malloc_usable_size(block);
  void* moved = __libc_realloc(block, size);
  if (moved == nullptr) {
    // glibc frees the block for size 0; otherwise the old block survives.
    if (size == 0) CountFree(old_usable);
    return nullptr;
  }
  CountFree(old_usable);
  CountAlloc(moved);
  return moved;
}

void* memalign(size_t alignment, size_t size) noexcept {
  void* block = __libc_memalign(alignment, size);
  CountAlloc(block);
  return block;
}

void* aligned_alloc(size_t alignment, size_t size) noexcept {
  return memalign(alignment, size);
}

int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  // POSIX: a power of two and a multiple of sizeof(void*).
  if (alignment == 0 || (alignment & (alignment - 1)) != 0 ||
      alignment % sizeof(void*) != 0) {
    return EINVAL;
  }
  void* block = memalign(alignment, size);
  if (block == nullptr) return ENOMEM;
  *out = block;
  return 0;
}

void* valloc(size_t size) noexcept {
  void* block = __libc_valloc(size);
  CountAlloc(block);
  return block;
}

void* pvalloc(size_t size) noexcept {
  void* block = __libc_pvalloc(size);
  CountAlloc(block);
  return block;
}

}  // extern "C"

// operator new/delete: forwarded to the functions above so each C++
// allocation is counted once, whatever libstdc++ would have done.
namespace {

void* NewOrNull(size_t size) noexcept {
  return malloc(size == 0 ? 1 : size);
}

void* NewAlignedOrNull(size_t size, std::align_val_t alignment) noexcept {
  return memalign(static_cast<size_t>(alignment), size == 0 ? 1 : size);
}

// NewOrHandle implements the throwing forms: retry through the installed
// new_handler, as the standard requires, and fail with std::bad_alloc.
template <typename Allocate>
void* NewOrHandle(Allocate allocate) {
  for (;;) {
    if (void* block = allocate()) return block;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
#if defined(__cpp_exceptions)
      throw std::bad_alloc();
#else
      std::abort();
#endif
    }
    handler();
  }
}

// NewOrHandleNothrow implements the nothrow forms on top of the throwing
// ones, as the standard specifies.
template <typename Allocate>
void* NewOrHandleNothrow(Allocate allocate) noexcept {
#if defined(__cpp_exceptions)
  try {
    return NewOrHandle(allocate);
  } catch (...) {
    return nullptr;
  }
#else
  return allocate();
#endif
}

}  // namespace

void* operator new(size_t size) {
  return NewOrHandle([size] { return NewOrNull(size); });
}
void* operator new[](size_t size) {
  return NewOrHandle([size] { return NewOrNull(size); });
}
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return NewOrHandleNothrow([size] { return NewOrNull(size); });
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return NewOrHandleNothrow([size] { return NewOrNull(size); });
}
void* operator new(size_t size, std::align_val_t alignment) {
  return NewOrHandle([=] { return NewAlignedOrNull(size, alignment); });
}
void* operator new[](size_t size, std::align_val_t alignment) {
  return NewOrHandle([=] { return NewAlignedOrNull(size, alignment); });
}
void* operator new(size_t size, std::align_val_t alignment,
                   const std::nothrow_t&) noexcept {
  return NewOrHandleNothrow([=] { return NewAlignedOrNull(size, alignment); });
}
void* operator new[](size_t size, std::align_val_t alignment,
                     const std::nothrow_t&) noexcept {
  return NewOrHandleNothrow([=] { return NewAlignedOrNull(size, alignment); });
}

void operator delete(void* block) noexcept { free(block); }
void operator delete[](void* block) noexcept { free(block); }
void operator delete(void* block, size_t) noexcept { free(block); }
void operator delete[](void* block, size_t) noexcept { free(block); }
void operator delete(void* block, const std::nothrow_t&) noexcept {
  free(block);
}
void operator delete[](void* block, const std::nothrow_t&) noexcept {
  free(block);
}
void operator delete(void* block, std::align_val_t) noexcept { free(block); }
void operator delete[](void* block, std::align_val_t) noexcept { free(block); }
void operator delete(void* block, size_t, std::align_val_t) noexcept {
  free(block);
}
void operator delete[](void* block, size_t, std::align_val_t) noexcept {
  free(block);
}
void operator delete(void* block, std::align_val_t,
                     const std::nothrow_t&) noexcept {
  free(block);
}
void operator delete[](void* block, std::align_val_t,
                       const std::nothrow_t&) noexcept {
  free(block);
}

#endif  // ALTS_HEAP_INTERPOSE
