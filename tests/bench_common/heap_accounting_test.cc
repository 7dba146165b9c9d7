// alts-test-labels: threads
#include "benchmarks/common/heap_accounting.h"

#include <errno.h>
#include <malloc.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace alts::bench {
namespace {

// Escape keeps the compiler from eliding an allocation whose result is
// otherwise unused (it may remove malloc/free pairs).
void Escape(void* p) { asm volatile("" : : "g"(p) : "memory"); }

// Allocation functions reached through volatile pointers, so the calls
// are real calls into the interposer.
void* (*volatile malloc_fn)(size_t) = &malloc;
void (*volatile free_fn)(void*) = &free;
void* (*volatile calloc_fn)(size_t, size_t) = &calloc;
void* (*volatile realloc_fn)(void*, size_t) = &realloc;

// EarlyProbe allocates during static initialization, before main and
// before gtest exists, to show the counters work that early.
struct EarlyProbe {
  EarlyProbe() {
    ScopedHeapCounter counter;
    void* p = malloc_fn(100);
    Escape(p);
    free_fn(p);
    delta = counter.Delta();
  }
  HeapDelta delta;
};
EarlyProbe early_probe;

TEST(HeapAccountingTest, CountsDuringStaticInitialization) {
  EXPECT_EQ(early_probe.delta.allocations, 1u);
  EXPECT_EQ(early_probe.delta.frees, 1u);
  EXPECT_EQ(early_probe.delta.bytes, 0);
}

TEST(HeapAccountingTest, IsActive) {
  ASSERT_TRUE(HeapAccountingActive());
  EXPECT_GT(TakeHeapSnapshot().total_allocations, 0u);
  EXPECT_GT(TakeHeapSnapshot().live_bytes, 0);
}

TEST(HeapAccountingTest, MallocAndFreeAreCountedWithUsableSize) {
  const HeapSnapshot before = TakeHeapSnapshot();
  void* p = malloc_fn(1000);
  Escape(p);
  const HeapSnapshot during = TakeHeapSnapshot();
  const HeapDelta grown = Diff(before, during);
  EXPECT_EQ(grown.allocations, 1u);
  EXPECT_EQ(grown.frees, 0u);
  EXPECT_EQ(grown.bytes, static_cast<int64_t>(malloc_usable_size(p)));
  EXPECT_GE(grown.bytes, 1000);
  free_fn(p);
  const HeapDelta after = Diff(before, TakeHeapSnapshot());
  EXPECT_EQ(after.allocations, 1u);
  EXPECT_EQ(after.frees, 1u);
  EXPECT_EQ(after.bytes, 0);
}

TEST(HeapAccountingTest, FreeOfNullIsNotCounted) {
  const HeapSnapshot before = TakeHeapSnapshot();
  free_fn(nullptr);
  const HeapDelta delta = Diff(before, TakeHeapSnapshot());
  EXPECT_EQ(delta.frees, 0u);
  EXPECT_EQ(delta.bytes, 0);
}

TEST(HeapAccountingTest, CallocAndReallocAreCounted) {
  ScopedHeapCounter counter;
  char* p = static_cast<char*>(calloc_fn(10, 100));
  ASSERT_NE(p, nullptr);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p[i], 0);
  EXPECT_EQ(counter.Delta().allocations, 1u);
  // Growing far past the block forces a move: one allocation, one free.
  p = static_cast<char*>(realloc_fn(p, 1 << 20));
  ASSERT_NE(p, nullptr);
  Escape(p);
  HeapDelta delta = counter.Delta();
  EXPECT_EQ(delta.allocations, 2u);
  EXPECT_EQ(delta.frees, 1u);
  EXPECT_EQ(delta.bytes, static_cast<int64_t>(malloc_usable_size(p)));
  // realloc(p, 0) frees in glibc.
  EXPECT_EQ(realloc_fn(p, 0), nullptr);
  delta = counter.Delta();
  EXPECT_EQ(delta.frees, 2u);
  EXPECT_EQ(delta.bytes, 0);
  // realloc(nullptr, n) is malloc.
  p = static_cast<char*>(realloc_fn(nullptr, 64));
  Escape(p);
  EXPECT_EQ(counter.Delta().allocations, 3u);
  free_fn(p);
  EXPECT_EQ(counter.Delta().bytes, 0);
}

TEST(HeapAccountingTest, AlignedAllocationsAreCountedAndAligned) {
  ScopedHeapCounter counter;
  void* a = nullptr;
  ASSERT_EQ(posix_memalign(&a, 256, 1000), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 256, 0u);
  void* b = aligned_alloc(4096, 4096);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 4096, 0u);
  void* c = memalign(64, 100);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c) % 64, 0u);
  void* d = valloc(10);
  ASSERT_NE(d, nullptr);
  void* bad = nullptr;
  EXPECT_EQ(posix_memalign(&bad, 24, 100), EINVAL);  // not a power of two
  EXPECT_EQ(bad, nullptr);
  EXPECT_EQ(counter.Delta().allocations, 4u);
  free(a);
  free(b);
  free(c);
  free(d);
  const HeapDelta delta = counter.Delta();
  EXPECT_EQ(delta.frees, 4u);
  EXPECT_EQ(delta.bytes, 0);
}

TEST(HeapAccountingTest, NewAndDeleteAreCountedOnce) {
  ScopedHeapCounter counter;
  auto* one = new std::string(1000, 'x');
  auto* many = new int[4096];
  Escape(one);
  Escape(many);
  struct alignas(128) Aligned {
    char bytes[128];
  };
  auto* aligned = new Aligned;
  Escape(aligned);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(aligned) % 128, 0u);
  auto* nothrow = new (std::nothrow) char[77];
  Escape(nothrow);
  ASSERT_NE(nothrow, nullptr);
  // std::string(1000) allocates its buffer too.
  EXPECT_EQ(counter.Delta().allocations, 5u);
  EXPECT_GE(counter.Delta().bytes,
            static_cast<int64_t>(1000 + 4096 * sizeof(int) + 128 + 77));
  delete one;
  delete[] many;
  delete aligned;
  delete[] nothrow;
  EXPECT_EQ(counter.Delta().frees, 5u);
  EXPECT_EQ(counter.Delta().bytes, 0);
}

TEST(HeapAccountingTest, SeesAllocationsInsideSharedLibraries) {
  // BoringSSL and glibc are shared objects; their malloc calls resolve to
  // the executable's interposer.
  ScopedHeapCounter counter;
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  ASSERT_NE(ctx, nullptr);
  const HeapDelta with_ctx = counter.Delta();
  EXPECT_GT(with_ctx.allocations, 0u);
  EXPECT_GT(with_ctx.bytes, 0);
  SSL_CTX_free(ctx);
  EXPECT_EQ(counter.Delta().bytes, 0);

  counter.Reset();
  char* copy = strdup("glibc allocates this");
  Escape(copy);
  EXPECT_EQ(counter.Delta().allocations, 1u);
  free(copy);
  EXPECT_EQ(counter.Delta().bytes, 0);
}

TEST(HeapAccountingTest, CountsAllocationsFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  const HeapSnapshot before = TakeHeapSnapshot();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < kPerThread; ++i) {
        void* p = malloc_fn(static_cast<size_t>(16 + i % 512));
        Escape(p);
        free_fn(p);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  const HeapDelta delta = Diff(before, TakeHeapSnapshot());
  // Thread creation allocates a little too (stacks are mmapped, not malloc).
  EXPECT_GE(delta.allocations, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT(delta.allocations,
            static_cast<uint64_t>(kThreads * kPerThread + 1000));
  EXPECT_GE(delta.frees, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_LT(delta.bytes, 64 * 1024);
}

TEST(HeapAccountingTest, RssIsReportedAndGrowsWhenMemoryIsTouched) {
  const size_t rss_before = CurrentRssBytes();
  ASSERT_GT(rss_before, 0u);
  constexpr size_t kBlock = 64 << 20;
  char* block = static_cast<char*>(malloc_fn(kBlock));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBlock);
  Escape(block);
  const size_t rss_during = CurrentRssBytes();
  EXPECT_GE(rss_during, rss_before + kBlock / 2);
  EXPECT_GE(PeakRssBytes(), rss_during - (1 << 20));
  free_fn(block);
}

}  // namespace
}  // namespace alts::bench
