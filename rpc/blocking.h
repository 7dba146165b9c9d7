#ifndef ALTS_RPC_BLOCKING_H_
#define ALTS_RPC_BLOCKING_H_

// Blocking calls from user threads (not reactor threads) over the callback
// API: unary, client-streaming, server-streaming and bidi.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "rpc/channel.h"

namespace alts::rpc {

// kMaxBlockingReadAhead: response bytes a blocking call queues before it
// stops returning flow-control credit (the server then waits for Read).
inline constexpr size_t kMaxBlockingReadAhead = 1 << 20;

// BlockingCall is one call driven from a user thread. Methods block; they
// must not be called from a reactor thread of the channel's group. Not
// thread-safe (one user thread at a time, except Cancel, which any thread
// may call).
class BlockingCall {
 public:
  // Start starts a call to `method`.
  static std::unique_ptr<BlockingCall> Start(Channel& channel, absl::string_view method,
                                             CallOptions options = {});
  // ~BlockingCall cancels a call that has not finished and waits for it.
  ~BlockingCall();
  BlockingCall(const BlockingCall&) = delete;
  BlockingCall& operator=(const BlockingCall&) = delete;

  // Write sends one message and returns once it went out (the buffer may be
  // reused then); false if the call ended first (Finish gives the status).
  bool Write(absl::Span<const uint8_t> message, bool compress = false);
  // WritesDone half-closes.
  void WritesDone();
  // Read takes the next response message; false once there is none (the
  // call ended: Finish gives the status).
  bool Read(std::string* message);
  // Finish half-closes if needed, waits for the status and returns it.
  // Unread messages are dropped.
  absl::Status Finish();
  // Cancel ends the call with CANCELLED.
  void Cancel();
  // initial_metadata returns the response headers' metadata (after the
  // first Read or Finish).
  const Metadata& initial_metadata() const { return handler_.initial; }
  // trailers returns the trailing metadata (after Finish).
  const Metadata& trailers() const { return handler_.trailers; }

 private:
  struct Handler final : ClientCallHandler {
    void OnInitialMetadata(const Metadata& md) override;
    void OnMessage(absl::Span<const uint8_t> message) override;
    void OnWriteDone(bool ok) override;
    void OnDone(const absl::Status& status, const Metadata& trailers) override;

    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::string> messages;
    size_t queued_bytes = 0;
    bool paused = false;
    bool write_done = false;
    bool write_ok = false;
    bool done = false;
    absl::Status status;
    Metadata initial;
    Metadata trailers;
    ClientCall* call = nullptr;
  };

  BlockingCall() = default;
  friend absl::StatusOr<std::string> BlockingUnaryCall(Channel&, absl::string_view,
                                                       absl::Span<const uint8_t>, CallOptions,
                                                       Metadata*, Metadata*);

  Handler handler_;
  bool writes_done_ = false;
};

// BlockingUnaryCall sends `request` to `method` and waits for the single
// response (kInternal if the server sent none or several). `trailers`, if
// given, receives the trailing metadata; `initial`, the header metadata.
absl::StatusOr<std::string> BlockingUnaryCall(Channel& channel, absl::string_view method,
                                              absl::Span<const uint8_t> request,
                                              CallOptions options = {},
                                              Metadata* initial = nullptr,
                                              Metadata* trailers = nullptr);

}  // namespace alts::rpc

#endif  // ALTS_RPC_BLOCKING_H_
