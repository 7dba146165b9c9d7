#ifndef ALTS_CONN_STORAGE_POOL_H_
#define ALTS_CONN_STORAGE_POOL_H_

#include <array>
#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "conn/buffer_pool.h"
#include "frame/frame_format.h"

namespace alts {

// StoragePoolOptions configures a StoragePool.
struct StoragePoolOptions {
  // Buffers each thread may cache per size class (large classes cache fewer).
  size_t thread_cache_buffers = 16;
  // Free cached buffers unused for this long (see BufferPoolOptions).
  absl::Duration idle_trim_after = absl::InfiniteDuration();
};

// StoragePool hands out size-classed buffers for bytes a connection must keep
// between reads: the start of a frame that has not fully arrived, or a frame
// larger than a read buffer being assembled. Storage is sized to what is held
// (rounded up to a class, classes grow 4x), so an idle connection with a few
// bytes of a frame parks a few hundred bytes, never a read buffer. Each class
// is a BufferPool, so steady-state traffic takes and returns storage through
// per-thread caches without calling malloc.
class StoragePool {
 public:
  // kClassSizes: 256 B .. the largest frame (1 MiB + 4, rounded up).
  static constexpr std::array<size_t, 7> kClassSizes = {
      256, 1024, 4096, 16384, 65536, 262144, (kMaxFrameSize + 63) / 64 * 64};

  // Create builds the class pools. Returns the first pool's error if any.
  static absl::StatusOr<std::unique_ptr<StoragePool>> Create(
      const StoragePoolOptions& options = {});

  // Acquire returns storage of at least `size` bytes (size <= kMaxFrameSize),
  // or an empty lease if `size` is larger than the largest class.
  BufferLease Acquire(size_t size);

  // ClassFor returns the class size Acquire(size) would return, or 0.
  static size_t ClassFor(size_t size);

  // OutstandingBytes returns the bytes of storage leased out right now.
  size_t OutstandingBytes() const;

  // Trim frees cached storage (depots and the calling thread's caches).
  void Trim();

 private:
  StoragePool() = default;
  std::array<std::unique_ptr<BufferPool>, kClassSizes.size()> pools_;
};

}  // namespace alts

#endif  // ALTS_CONN_STORAGE_POOL_H_
