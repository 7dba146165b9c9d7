#include "conn/storage_pool.h"

#include <utility>

namespace alts {

constexpr std::array<size_t, 7> StoragePool::kClassSizes;

absl::StatusOr<std::unique_ptr<StoragePool>> StoragePool::Create(
    const StoragePoolOptions& options) {
  std::unique_ptr<StoragePool> storage(new StoragePool());
  for (size_t i = 0; i < kClassSizes.size(); ++i) {
    BufferPoolOptions o;
    o.buffer_size = kClassSizes[i];
    // Large classes are rare (frames bigger than a read buffer); caching
    // many of them per thread would park megabytes for nothing.
    const size_t cache = kClassSizes[i] >= 256 * 1024 ? 1
                         : kClassSizes[i] >= 64 * 1024 ? 2
                                                       : options.thread_cache_buffers;
    o.thread_cache_buffers = cache;
    o.transfer_batch = cache < 4 ? 1 : cache / 4;
    o.idle_trim_after = options.idle_trim_after;
    absl::StatusOr<std::unique_ptr<BufferPool>> pool = BufferPool::Create(o);
    if (!pool.ok()) return pool.status();
    storage->pools_[i] = std::move(*pool);
  }
  return storage;
}

size_t StoragePool::ClassFor(size_t size) {
  for (size_t c : kClassSizes) {
    if (size <= c) return c;
  }
  return 0;
}

BufferLease StoragePool::Acquire(size_t size) {
  for (size_t i = 0; i < kClassSizes.size(); ++i) {
    if (size <= kClassSizes[i]) return pools_[i]->TryAcquire();
  }
  return BufferLease();
}

size_t StoragePool::OutstandingBytes() const {
  size_t bytes = 0;
  for (size_t i = 0; i < kClassSizes.size(); ++i) {
    bytes += pools_[i]->stats().outstanding * kClassSizes[i];
  }
  return bytes;
}

void StoragePool::Trim() {
  for (auto& pool : pools_) pool->Trim();
}

}  // namespace alts
