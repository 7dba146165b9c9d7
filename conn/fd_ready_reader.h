#ifndef ALTS_CONN_FD_READY_READER_H_
#define ALTS_CONN_FD_READY_READER_H_

#include <memory>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "conn/buffer_pool.h"
#include "conn/ready_reader.h"
#include "conn/wake_queue.h"

namespace alts {

// FdReadyReader is the plain ReadyReader: when a non-blocking fd is readable
// it leases a pool buffer, reads into it and hands the lease and the bytes
// to the handler; while waiting it holds nothing. No decryption: it is the
// building block for protocols without a record layer, and the reference
// the secure connection is measured against.
//
// Threading: create, use and destroy on the event_base's thread; the
// handler may destroy the reader inside a callback.
class FdReadyReader final : public ReadyReader, private BufferWaiter, private WakeNode {
 public:
  // Create watches `fd` (made non-blocking; owned, closed on destruction,
  // also on failure). The pool and wake queue must outlive the reader.
  static absl::StatusOr<std::unique_ptr<FdReadyReader>> Create(event_base* base,
                                                              WakeQueue* wake, int fd,
                                                              BufferPool* pool);
  ~FdReadyReader() override;

  void Start(ReadyHandler* handler) override;
  void PauseReading() override;
  void ResumeReading() override;
  size_t HeapBytes() const override { return sizeof(*this); }
  size_t LeasedBuffers() const override { return 0; }

  int fd() const { return fd_; }

 private:
  FdReadyReader(event_base* base, WakeQueue* wake, int fd, BufferPool* pool);
  static void OnEvent(evutil_socket_t fd, short what, void* arg);
  void OnBufferAvailable() override;
  void OnWake() override;
  void Update();
  // ReadOnce reads once; returns true to read again.
  bool ReadOnce(bool* alive);
  void End(absl::Status status, bool* alive);

  WakeQueue* wake_;
  BufferPool* pool_;
  ReadyHandler* handler_ = nullptr;
  bool* alive_ = nullptr;
  struct event event_;
  int fd_;
  bool registered_ = false;
  bool paused_ = false;
  bool waiting_ = false;
  bool ended_ = false;
};

}  // namespace alts

#endif  // ALTS_CONN_FD_READY_READER_H_
