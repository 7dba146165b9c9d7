#ifndef ALTS_CONN_READY_READER_H_
#define ALTS_CONN_READY_READER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "conn/buffer_pool.h"

namespace alts {

// ReadyHandler receives what a ReadyReader reads. It is registered once
// (ReadyReader::Start) and called on the reader's reactor thread; nothing is
// allocated per call.
class ReadyHandler {
 public:
  virtual ~ReadyHandler() = default;

  // OnData delivers bytes that arrived. `data` is valid only during the call.
  // If `lease` is non-empty, `data` lies inside it and the handler may take
  // the lease (std::move) to keep the bytes without copying; otherwise the
  // bytes live in reader-owned storage and must be copied to be kept.
  // The handler may call the reader (write, pause, close) and may destroy it.
  virtual void OnData(absl::Span<uint8_t> data, BufferLease& lease) = 0;

  // OnEnd is called exactly once, last: OkStatus at a clean end of stream
  // (peer EOF between frames, or after a graceful close), otherwise the
  // first error, which also stays sticky on the reader.
  virtual void OnEnd(const absl::Status& status) = 0;

  // OnWritable is called after a write was refused or cut short by
  // back-pressure, once pending output has drained below the low-water mark.
  virtual void OnWritable() {}

  // OnDrained is called when output that had to wait for the socket has all
  // been sent (pending output reached zero). Writers that must know their
  // bytes left the process (before closing, or to pace themselves) use it.
  virtual void OnDrained() {}
};

// ReadyReader wraps a non-blocking fd on a reactor: when the fd is readable
// it borrows a buffer from a pool, reads into it, hands the bytes over and
// gives the buffer back. While waiting for readiness it holds no buffer.
// This is the counterpart of gRPC-Go's ReadOnReady(bufSize, pool).
//
// Threading: every call happens on the reader's reactor thread (the
// exceptions are documented on implementations).
class ReadyReader {
 public:
  virtual ~ReadyReader() = default;

  // Start registers `handler` (which must outlive the reader or the
  // reader's OnEnd call) and starts watching the fd. Call once.
  virtual void Start(ReadyHandler* handler) = 0;

  // PauseReading stops reading until ResumeReading (flow control from the
  // layer above); no buffer is held while paused.
  virtual void PauseReading() = 0;
  virtual void ResumeReading() = 0;

  // HeapBytes returns the heap bytes this reader holds right now: its own
  // object, any storage for partial input, and pool buffers it holds.
  virtual size_t HeapBytes() const = 0;

  // LeasedBuffers returns how many pool buffers the reader holds now
  // (0 while idle in the on-demand design).
  virtual size_t LeasedBuffers() const = 0;
};

}  // namespace alts

#endif  // ALTS_CONN_READY_READER_H_
