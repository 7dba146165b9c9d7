#ifndef ALTS_CONN_SECURE_STREAM_H_
#define ALTS_CONN_SECURE_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/storage_pool.h"

namespace alts {

// SecureStream is a blocking drop-in for code written against blocking
// sockets: Read, Write and Close over a connected socket, ALTS-protected.
// It waits for readability holding no buffer (poll), then borrows one from
// the pool for the read, exactly like the non-blocking connection. Plaintext
// that does not fit the caller's span is kept in storage sized to it.
//
// Threading: one thread may Read while another Writes (the two directions
// share no state); two concurrent Reads or two concurrent Writes are not
// allowed. Errors are sticky per direction; a failed Read closes nothing
// until Close() or destruction.
class SecureStream {
 public:
  // Create takes ownership of `fd` (also on failure). `initial_bytes` are
  // the peer's first frames that arrived behind the handshake. The pools
  // must outlive the stream. kInvalidArgument for bad arguments.
  static absl::StatusOr<std::unique_ptr<SecureStream>> Create(
      int fd, RecordProtector protector, BufferPool* pool, StoragePool* storage,
      absl::Span<const uint8_t> initial_bytes = {});

  ~SecureStream();
  SecureStream(const SecureStream&) = delete;
  SecureStream& operator=(const SecureStream&) = delete;

  // Read blocks until plaintext is available and copies up to out.size()
  // bytes of it into `out`, returning the count; 0 means the peer closed
  // the stream between frames. Errors: kDeadlineExceeded after `timeout`
  // (nothing lost; call again), kDataLoss for a bad tag or EOF inside a
  // frame, kInvalidArgument for a malformed frame, kUnavailable/kInternal
  // for socket errors. kInvalidArgument if `out` is empty.
  absl::StatusOr<size_t> Read(absl::Span<uint8_t> out,
                              absl::Duration timeout = absl::InfiniteDuration());

  // Write seals and sends all of `data`, blocking while the socket is full.
  absl::Status Write(absl::Span<const uint8_t> data);

  // Close shuts the write side down and closes the socket. Idempotent.
  absl::Status Close();

  // HeapBytes returns the heap bytes held now (object, storage, buffers).
  size_t HeapBytes() const;
  int fd() const { return fd_; }

 private:
  SecureStream(int fd, RecordProtector protector, BufferPool* pool, StoragePool* storage);

  // Waits for `events` on the socket until `deadline`.
  absl::Status Wait(short events, absl::Time deadline);
  absl::Status ReadFailed(absl::Status status);
  // Process opens the frames in buf[0, total), keeps an incomplete tail in
  // partial_, copies plaintext into `out` and keeps the rest in surplus_.
  // Returns the bytes copied (possibly 0).
  absl::StatusOr<size_t> Process(uint8_t* buf, size_t total, absl::Span<uint8_t> out);
  // Keeps bytes in storage sized to them (incomplete frame or surplus).
  bool Keep(BufferLease& slot, uint32_t& held, const uint8_t* bytes, size_t size,
            size_t reserve);

  int fd_;
  RecordProtector protector_;
  BufferPool* pool_;
  StoragePool* storage_;
  // Start of an incomplete frame (storage sized to it, or to the frame).
  BufferLease partial_;
  uint32_t partial_held_ = 0;
  uint32_t partial_frame_size_ = 0;
  // Decrypted plaintext the caller has not taken yet.
  BufferLease surplus_;
  uint32_t surplus_begin_ = 0;
  uint32_t surplus_end_ = 0;
  absl::Status read_status_;
  absl::Status write_status_;
  bool eof_ = false;
};

}  // namespace alts

#endif  // ALTS_CONN_SECURE_STREAM_H_
