#ifndef ALTS_TESTS_COMMON_ALLOC_COUNTER_H_
#define ALTS_TESTS_COMMON_ALLOC_COUNTER_H_

// Counts every heap allocation in the process, for tests that prove a path
// allocates nothing. Include it in exactly one translation unit of a test
// binary: it interposes malloc/calloc/realloc (operator new uses malloc) in
// a plain build, and installs the sanitizer allocator hooks in a sanitizer
// build, where the sanitizer owns malloc. Allocations() reads the count.

#include <atomic>
#include <cstddef>
#include <cstdint>

#if !defined(ALTS_SANITIZER_BUILD) && defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define ALTS_SANITIZER_BUILD 1
#endif
#endif
#if !defined(ALTS_SANITIZER_BUILD) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define ALTS_SANITIZER_BUILD 1
#endif

namespace alts::testing {
inline std::atomic<uint64_t> g_allocations{0};
// Allocations returns the heap allocations made so far, by every thread.
inline uint64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace alts::testing

#if defined(ALTS_SANITIZER_BUILD)
#include <sanitizer/allocator_interface.h>

namespace alts::testing {
inline void CountMalloc(const volatile void*, size_t) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
}
inline void IgnoreFree(const volatile void*) {}
inline const int kAllocHooksInstalled =
    __sanitizer_install_malloc_and_free_hooks(CountMalloc, IgnoreFree);
}  // namespace alts::testing
#else
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* ptr, size_t size);

void* malloc(size_t size) noexcept {
  alts::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) noexcept {
  alts::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* ptr, size_t size) noexcept {
  alts::testing::g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(ptr, size);
}
}  // extern "C"
#endif

#endif  // ALTS_TESTS_COMMON_ALLOC_COUNTER_H_
