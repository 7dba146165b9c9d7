#ifndef ALTS_RPC_H2_TRANSPORT_H_
#define ALTS_RPC_H2_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "conn/reactor.h"
#include "conn/ready_reader.h"
#include "conn/secure_connection.h"
#include "http2/frame_sink.h"
#include "http2/session.h"

namespace alts::rpc {

// kTransportDataHighWater: output queued for the socket above which DATA
// producers wait (OnTransportWritable) instead of adding more; control
// frames still go out. Below the connection's own high-water mark, so DATA
// never makes the connection refuse bytes.
inline constexpr size_t kTransportDataHighWater = 128 * 1024;
// kScratchFlushBytes: output gathered in the per-thread scratch beyond which
// it is handed to the connection at once rather than at the end of the
// dispatch.
inline constexpr size_t kScratchFlushBytes = 64 * 1024;
// kDirectWriteBytes: pieces of output at least this large (DATA payloads)
// skip the scratch buffer and go to the connection directly.
inline constexpr size_t kDirectWriteBytes = 4096;
// kCloseLinger: how long a closing connection waits for the peer's EOF after
// its last bytes (a GOAWAY) went out, before it is aborted.
inline constexpr absl::Duration kCloseLinger = absl::Seconds(2);

// H2Transport runs an http2::Session over a connection (ALTS or plaintext)
// on one reactor thread, keeping the on-demand promise: it holds no buffer
// while idle. Received plaintext goes straight from the connection's leased
// read buffer into the session; the frames the session produces during one
// dispatch are gathered in a per-thread scratch buffer (shared by every
// transport on the thread, never owned by one) and handed to the connection
// in one Write when the dispatch ends. Bytes the connection cannot take yet
// wait in an overflow string, allocated only under back-pressure.
//
// Subclasses (the RPC server and client connections) implement the
// session's events. Every entry from outside (a reactor task, a user call)
// holds a DispatchScope; the outermost one flushes output and re-arms the
// transport's timer. Create, use and destroy on the reactor thread; never
// destroy it from inside its own callbacks (post the deletion). A subclass's
// destructor calls EndSession first, so that no stream event reaches a
// half-destroyed object.
class H2Transport : public ReadyHandler,
                    public http2::FrameSink,
                    public http2::SessionHandler {
 public:
  H2Transport(Reactor& reactor, http2::Role role, const http2::SessionOptions* options);
  ~H2Transport() override;
  H2Transport(const H2Transport&) = delete;
  H2Transport& operator=(const H2Transport&) = delete;

  // Attach takes `connection`, starts reading it and writes the session's
  // preface.
  void Attach(std::unique_ptr<SecureConnection> connection);

  http2::Session& session() { return session_; }
  Reactor& reactor() const { return reactor_; }
  // transport_ended returns true once the connection has ended.
  bool transport_ended() const { return ended_; }
  // connection returns the connection (nullptr before Attach or after the
  // end).
  SecureConnection* connection() const { return conn_.get(); }

  // FrameSink: the session's output.
  void Write(absl::Span<const uint8_t> bytes) override;

  // can_send_data returns true while DATA may be produced without queueing
  // beyond kTransportDataHighWater.
  bool can_send_data() const;

  // Flush hands gathered output to the connection now.
  void Flush();

  // CloseTransport closes gracefully: flush, shut down writing, wait for the
  // peer's EOF (at most kCloseLinger), then close.
  void CloseTransport();

  // AbortTransport closes at once with `reason`.
  void AbortTransport(absl::Status reason);

  // TransportHeapBytes returns the heap held by the connection, the session
  // (tables, streams, partial frames) and this object's queues.
  size_t TransportHeapBytes() const;
  // LeasedBuffers returns the pool buffers the connection holds (0 idle).
  size_t LeasedBuffers() const { return conn_ ? conn_->LeasedBuffers() : 0; }

  // DispatchScope marks an entry into the transport from outside its own
  // callbacks; the outermost scope's end flushes and re-arms the timer.
  class DispatchScope {
   public:
    explicit DispatchScope(H2Transport* t) : t_(t) { ++t_->depth_; }
    ~DispatchScope() {
      if (--t_->depth_ == 0) t_->EndDispatch();
    }
    DispatchScope(const DispatchScope&) = delete;
    DispatchScope& operator=(const DispatchScope&) = delete;

   private:
    H2Transport* t_;
  };

 protected:
  // OnTransportEnd reports the end of the connection, once, after the
  // session closed every stream. Do not destroy the transport inside it.
  virtual void OnTransportEnd(const absl::Status& status) = 0;
  // OnTransportWritable reports that DATA producers may go on (the queue fell
  // below kTransportDataHighWater after can_send_data() said no).
  virtual void OnTransportWritable() {}
  // NextTimer / OnTimer: the subclass's own deadlines (calls, keepalive,
  // idle); the transport keeps one timer for them and the session's.
  virtual absl::Time NextTimer() const { return absl::InfiniteFuture(); }
  virtual void OnTimer(absl::Time now) {}
  // OnSessionEnded reports that the session can carry nothing more (it
  // failed, or GOAWAY and no stream left); the transport closes afterwards.
  virtual void OnSessionEnded() {}
  // OnDispatchEnd runs when the outermost dispatch ends, before the flush:
  // a safe point to finish work deferred from inside callbacks.
  virtual void OnDispatchEnd() {}
  // DeleteLater destroys this transport from a later reactor task (or, if
  // the reactor is shutting down, when the current dispatch ends): the way
  // to delete it from inside its own callbacks.
  void DeleteLater();
  // EndSession closes every stream (their OnStreamClose run now) and stops
  // all output; for subclass destructors.
  void EndSession(const absl::Status& status);

 private:
  // ReadyHandler:
  void OnData(absl::Span<uint8_t> data, BufferLease& lease) override;
  void OnEnd(const absl::Status& status) override;
  void OnWritable() override;
  void OnDrained() override;

  void EndDispatch();
  void UpdateTimer();
  void FireTimer();
  void DrainOverflow();
  void WriteToConnection(absl::Span<const uint8_t> bytes);

  Reactor& reactor_;
  std::unique_ptr<SecureConnection> conn_;
  http2::Session session_;
  // Bytes the connection refused under back-pressure (empty otherwise).
  std::string overflow_;
  std::unique_ptr<ReactorEvent> timer_;
  absl::Time timer_at_ = absl::InfiniteFuture();
  absl::Time linger_until_ = absl::InfiniteFuture();
  uint32_t depth_ = 0;
  bool ended_ = false;
  bool closing_ = false;
  bool data_waiting_ = false;
  bool delete_at_end_ = false;  // DeleteLater could not post: delete in EndDispatch  // can_send_data() said no: OnTransportWritable owed
};

}  // namespace alts::rpc

#endif  // ALTS_RPC_H2_TRANSPORT_H_
