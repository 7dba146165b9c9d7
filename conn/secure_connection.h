#ifndef ALTS_CONN_SECURE_CONNECTION_H_
#define ALTS_CONN_SECURE_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/ready_reader.h"
#include "conn/storage_pool.h"
#include "conn/wake_queue.h"

namespace alts {

// ReadBufferPolicy chooses how a connection gets its read buffer.
enum class ReadBufferPolicy {
  // kOnDemand: no buffer while idle; a pool buffer is leased per readiness
  // wakeup and returned before the wakeup ends.
  kOnDemand,
  // kPinned: a pool buffer is leased at creation and held for life (the
  // classic design, kept to measure the difference side by side).
  kPinned,
};

// kDefaultWriteHighWater: pending ciphertext above which Write refuses more
// plaintext, so a slow reader pushes back on the writer instead of growing
// an unbounded queue.
inline constexpr size_t kDefaultWriteHighWater = 256 * 1024;
// kDefaultMaxReadsPerWakeup: reads one readiness wakeup may do before
// yielding to other connections on the reactor (fairness).
inline constexpr size_t kDefaultMaxReadsPerWakeup = 8;
// kMaxInitialBytes: handshake leftovers accepted at creation (several frames
// coalesced behind the last handshake message; more would be a peer trying
// to make us buffer before the connection exists).
inline constexpr size_t kMaxInitialBytes = kMaxFrameSize;

// kAssembleWholeFrameAt: bytes of a frame larger than a read buffer that
// must have arrived before storage for the whole frame is set aside (until
// then storage grows with what arrived; see StashPartial).
inline constexpr size_t kAssembleWholeFrameAt = 64 * 1024;

// ConnectionOptions tunes a SecureConnection.
struct ConnectionOptions {
  ReadBufferPolicy read_policy = ReadBufferPolicy::kOnDemand;
  size_t write_high_water = kDefaultWriteHighWater;
  size_t max_reads_per_wakeup = kDefaultMaxReadsPerWakeup;
  // max_frame_size_in caps the frames this connection accepts (whole frame,
  // length field included; at most kMaxFrameSize, the protocol's limit). A
  // frame announcing more is refused as soon as its length field is in
  // (kResourceExhausted), before anything is allocated for it, so a server
  // can bound what one peer makes it hold for a partial frame.
  size_t max_frame_size_in = kMaxFrameSize;
  // partial_frame_timeout: once a frame has started arriving it must be
  // complete within this time, counted from its first byte (a peer sending
  // one byte a second cannot hold storage forever). kDeadlineExceeded.
  absl::Duration partial_frame_timeout = absl::Seconds(30);
  // idle_timeout closes a connection with no traffic either way for this
  // long (kDeadlineExceeded). Infinite by default: idle connections are
  // cheap here, and many protocols keep them on purpose.
  absl::Duration idle_timeout = absl::InfiniteDuration();
};

// ConnectionResources are shared by many connections and must outlive them.
struct ConnectionResources {
  // read_pool lends read buffers; e.g. 32 KiB each.
  BufferPool* read_pool = nullptr;
  // storage keeps the bytes of frames that have not fully arrived.
  StoragePool* storage = nullptr;
  ConnectionOptions options;
  // write_pool lends the buffers that hold sealed output until the socket
  // takes it; nullptr = read_pool. Required (and distinct from read_pool)
  // when read_pool has a budget: output waiting for a slow peer must never
  // hold the buffers readers need, or readers that would let it drain could
  // wait forever.
  BufferPool* write_pool = nullptr;
};

// SecureConnection is an ALTS record-protected connection over a connected,
// non-blocking socket on one libevent event_base (one reactor thread).
//
// Reads: on readiness it leases a buffer, reads, opens the complete frames in
// place, delivers their plaintext (coalesced, one OnData per read) and
// returns the buffer. The bytes of an incomplete frame are kept in storage
// sized to what is held; a frame larger than a read buffer is assembled in
// storage sized to that frame. An idle connection holds no pool buffer.
//
// Writes: Write seals into leased buffers and writes them (vectored) at once;
// if the socket would block only the unsent ciphertext is kept (inside the
// buffers that hold it) and sending resumes on writability. Above the high-
// water mark Write accepts less (or nothing) and OnWritable follows later.
//
// Errors: the first error is sticky; it closes the socket and is reported
// once through ReadyHandler::OnEnd. Peer EOF between frames is the end of
// the stream (OnEnd(OK)); EOF inside a frame is kDataLoss.
//
// Plaintext mode (CreatePlaintext): the same connection without the record
// layer, for plaintext HTTP/2 (h2c) between local services, tests and the
// handshaker service. Reads are on demand and writes batched exactly as
// above; bytes are delivered and written as they are.
//
// Threading: create, use and destroy on the event_base's thread. The handler
// may destroy the connection from inside any callback.
class SecureConnection final : public ReadyReader, private BufferWaiter, private WakeNode {
 public:
  // Create wraps `fd` (connected; made non-blocking here; owned from now on,
  // also on failure) with `protector`. `initial_bytes` are bytes that arrived
  // behind the handshake (the peer's first frames); they are the first input.
  // `wake` must belong to `base`. Returns kInvalidArgument for bad arguments
  // or too many initial bytes, kResourceExhausted if the pinned policy cannot
  // lease its buffer.
  static absl::StatusOr<std::unique_ptr<SecureConnection>> Create(
      event_base* base, WakeQueue* wake, int fd, RecordProtector protector,
      const ConnectionResources* resources,
      absl::Span<const uint8_t> initial_bytes = {});

  // Create on a Reactor: the same, with the reactor's base and wake queue.
  // Call on the reactor's thread.
  static absl::StatusOr<std::unique_ptr<SecureConnection>> Create(
      Reactor& reactor, int fd, RecordProtector protector,
      const ConnectionResources* resources, absl::Span<const uint8_t> initial_bytes = {}) {
    return Create(reactor.base(), &reactor.wake_queue(), fd, std::move(protector), resources,
                  initial_bytes);
  }

  // CreatePlaintext wraps `fd` like Create, without record protection:
  // `initial_bytes` are the first input, Write sends bytes as they are.
  // Errors as Create.
  static absl::StatusOr<std::unique_ptr<SecureConnection>> CreatePlaintext(
      event_base* base, WakeQueue* wake, int fd, const ConnectionResources* resources,
      absl::Span<const uint8_t> initial_bytes = {});
  static absl::StatusOr<std::unique_ptr<SecureConnection>> CreatePlaintext(
      Reactor& reactor, int fd, const ConnectionResources* resources,
      absl::Span<const uint8_t> initial_bytes = {}) {
    return CreatePlaintext(reactor.base(), &reactor.wake_queue(), fd, resources, initial_bytes);
  }

  // The destructor closes the socket at once if it is still open (unsent
  // data is dropped: call Close() and wait for OnEnd to flush first).
  ~SecureConnection() override;

  SecureConnection(const SecureConnection&) = delete;
  SecureConnection& operator=(const SecureConnection&) = delete;

  // ReadyReader:
  void Start(ReadyHandler* handler) override;
  void PauseReading() override;
  void ResumeReading() override;
  size_t HeapBytes() const override;
  size_t LeasedBuffers() const override;

  // Write seals and sends `plaintext`, returning how many bytes it accepted:
  // all of them unless pending output is above the high-water mark or the
  // pool has no buffer, in which case OnWritable follows when there is room.
  // Returns the sticky error once the connection has failed, and
  // kFailedPrecondition after Close().
  absl::StatusOr<size_t> Write(absl::Span<const uint8_t> plaintext);

  // Close closes gracefully: it stops accepting writes, flushes pending
  // output, then shuts down the write side; reading goes on until the peer's
  // EOF (OnEnd(OK)), then the socket is closed.
  void Close();

  // Abort closes the socket now, dropping pending output, and reports
  // `reason` (if no error was reported before).
  void Abort(absl::Status reason);

  // pending_write_bytes returns ciphertext waiting for the socket.
  size_t pending_write_bytes() const { return pending_write_; }
  // status returns OK or the sticky error.
  const absl::Status& status() const { return status_; }
  // fd returns the socket, or -1 once closed.
  int fd() const { return fd_; }
  // protector returns the record protector, or nullptr in plaintext mode.
  const RecordProtector* protector() const {
    return protector_.has_value() ? &*protector_ : nullptr;
  }
  // plaintext returns true for a connection made by CreatePlaintext.
  bool plaintext() const { return !protector_.has_value(); }

 private:
  struct WriteChunk;

  SecureConnection(event_base* base, WakeQueue* wake, int fd,
                   std::optional<RecordProtector> protector, const ConnectionResources* resources);
  static absl::StatusOr<std::unique_ptr<SecureConnection>> CreateImpl(
      event_base* base, WakeQueue* wake, int fd, std::optional<RecordProtector> protector,
      const ConnectionResources* resources, absl::Span<const uint8_t> initial_bytes);
  // WritableIn returns how much plaintext fits in `room` bytes of output.
  size_t WritableIn(size_t room) const;

  static void OnEvent(evutil_socket_t fd, short what, void* arg);
  void OnBufferAvailable() override;  // BufferWaiter, any thread
  void OnWake() override;             // WakeNode, reactor thread

  bool WantRead() const;
  void UpdateInterest();
  void HandleReadable();
  // ReadOnce does one read; returns true if another read may find more.
  bool ReadOnce();
  bool ReadIntoAssembly();
  // ProcessInput opens the frames in buf[0, total), keeps the incomplete
  // tail and delivers the plaintext: in place in buf (with `lease`), or, if
  // `plaintext_lease` is set, decrypted into that buffer (at least `total`
  // bytes) and delivered with it. `in_pinned` says buf is pinned_. Returns
  // false if the connection failed or was destroyed.
  bool ProcessInput(uint8_t* buf, size_t total, BufferLease& lease, bool in_pinned,
                    BufferLease* plaintext_lease = nullptr);
  bool StashPartial(const uint8_t* bytes, size_t size, size_t frame_size);
  bool Deliver(absl::Span<uint8_t> data, BufferLease& lease);
  // Runs at the end of every top-level dispatch: reports the end if due.
  void FinishDispatch();
  void HandleWritable();
  // Flush writes as much pending output as the socket takes.
  void Flush();
  WriteChunk* NewChunk();
  void FreeChunk(WriteChunk* chunk);
  void MaybeFinishClose();
  // HandleTimeout fails the connection if its partial-frame deadline or
  // idle timeout has passed.
  void HandleTimeout();
  // Fail records the first error, closes the socket and frees buffers; the
  // handler hears of it (OnEnd) from the next top-level dispatch.
  void Fail(absl::Status status);
  void CloseFd();
  void ReleaseBuffers();
  size_t read_buffer_size() const;

  // WriteWaiter waits on the write pool for its connection, which can wait
  // for a read buffer and a write buffer at the same time.
  class WriteWaiter final : public BufferWaiter {
   public:
    explicit WriteWaiter(SecureConnection* conn) : conn_(conn) {}
    void OnBufferAvailable() override { conn_->wake_->Wake(conn_); }

   private:
    SecureConnection* conn_;
  };

  BufferPool* write_pool() const {
    return resources_->write_pool != nullptr ? resources_->write_pool : resources_->read_pool;
  }

  const ConnectionResources* resources_;
  WakeQueue* wake_;
  WriteWaiter write_waiter_{this};
  ReadyHandler* handler_ = nullptr;
  // Points at a flag on the stack of the innermost callback dispatch, so the
  // dispatcher learns when the handler destroyed the connection.
  bool* alive_ = nullptr;
  // Empty in plaintext mode.
  std::optional<RecordProtector> protector_;
  struct event event_;
  // Storage (from resources_->storage) holding the start of an incomplete
  // frame; sized to the bytes held, or to the frame if it is larger than a
  // read buffer. In kPinned mode an incomplete frame that fits a buffer
  // stays at the front of pinned_ instead.
  BufferLease partial_;
  // kPinned: the buffer leased at creation and held for life.
  BufferLease pinned_;
  uint32_t partial_held_ = 0;
  // Wire size of the incomplete frame once its length field is in, else 0.
  uint32_t partial_frame_size_ = 0;
  // When the incomplete frame must be complete (partial_frame_timeout after
  // its first byte); absl::InfiniteFuture() when no frame is incomplete.
  absl::Time partial_deadline_ = absl::InfiniteFuture();
  // The timeout the event is armed with (to re-arm only on change).
  absl::Time armed_deadline_ = absl::InfiniteFuture();
  WriteChunk* write_head_ = nullptr;
  WriteChunk* write_tail_ = nullptr;
  size_t pending_write_ = 0;
  // Count AcquireOrWait calls per pool, so OnWake can tell whether it used
  // the claim a wakeup carries.
  uint32_t read_acquires_ = 0;
  uint32_t write_acquires_ = 0;
  absl::Status status_;
  int fd_;
  short registered_events_ = 0;
  bool started_ = false;
  // On-demand reads open frames into a second pool buffer (see ReadOnce):
  // record protection on, read pool without a budget.
  bool open_into_second_buffer_ = false;
  bool unprocessed_input_ = false;     // handshake leftovers not yet opened
  bool paused_ = false;
  // Waiting on read_pool for a read buffer (as this BufferWaiter); only this
  // stops reading. A pinned connection never waits for one.
  bool waiting_for_read_buffer_ = false;
  // Waiting on the write pool for a write buffer (as write_waiter_).
  bool waiting_for_write_buffer_ = false;
  bool write_blocked_notify_ = false;  // a Write fell short: OnWritable owed
  bool drain_owed_ = false;            // output waited for the socket: OnDrained owed
  bool read_ended_ = false;            // peer EOF seen
  bool write_closing_ = false;         // Close() called
  bool write_closed_ = false;          // shutdown(SHUT_WR) done
  bool end_reported_ = false;
  // Inside the handler's OnData: a failure then keeps pinned_, whose bytes
  // the handler may still be reading.
  bool delivering_ = false;
};

}  // namespace alts

#endif  // ALTS_CONN_SECURE_CONNECTION_H_
