#ifndef ALTS_RPC_MESSAGE_IO_H_
#define ALTS_RPC_MESSAGE_IO_H_

// The two halves of moving gRPC messages over a call's stream, shared by the
// server and client calls: OutgoingMessage sends one message as flow control
// and the transport allow; DeliverMessages splits received DATA into
// messages, inflating compressed ones.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "conn/storage_pool.h"
#include "rpc/h2_transport.h"
#include "rpc/message_reader.h"

namespace alts::rpc {

// kMaxStagedWrite: bytes of a message copied next to its 5-byte prefix, so
// a small message goes out as one DATA frame; larger messages are sent from
// the caller's buffer after that.
inline constexpr size_t kMaxStagedWrite = 16 * 1024;
// kMaxWriteChunk: a call sends at most this much per turn, so calls on one
// connection interleave and output stays near the transport's mark.
inline constexpr size_t kMaxWriteChunk = 64 * 1024;

// OutgoingMessage is the message a call is writing: its prefix, its bytes
// (the caller's buffer, valid until the write completes, or a compressed
// copy it owns) and how much has gone out.
class OutgoingMessage {
 public:
  // Progress says where Send stopped.
  enum class Progress {
    kDone,              // every byte went out
    kTransportBlocked,  // the transport queue is full: wait for it
    kWindowBlocked,     // flow control: OnWindowAvailable resumes
    kFailed,            // the stream is gone
  };

  // Start takes `message`; with `gzip` it sends a compressed copy instead
  // (uncompressed if compression fails).
  void Start(absl::Span<const uint8_t> message, bool gzip);
  // Send sends what the transport and the windows take on stream `id`;
  // `end_stream` goes with the last byte. `sent` (if given) is set when any
  // byte went out.
  Progress Send(H2Transport& transport, uint32_t id, bool end_stream, bool* sent = nullptr);
  // Rewind starts the message over (a call retried on another stream).
  void Rewind() { offset_ = 0; }
  // Clear drops the message.
  void Clear();

  bool pending() const { return pending_; }

 private:
  uint8_t prefix_[kMessagePrefixSize] = {};
  absl::Span<const uint8_t> message_;
  std::string compressed_;
  size_t offset_ = 0;  // into prefix + message
  bool pending_ = false;
};

// DeliverMessages feeds `bytes` to `reader` and hands each complete message
// to `deliver`, inflating it first when its compressed flag is set (allowed
// only when `gzip` says the stream declared that encoding: kInternal
// otherwise, as gRPC). Stops, returning kCancelled, as soon as `stop()` is
// true before a message. Errors: the reader's (kResourceExhausted for a
// message over `max_message`, kInternal for a bad prefix) and inflation's.
absl::Status DeliverMessages(MessageReader& reader, absl::Span<const uint8_t> bytes,
                             size_t max_message, StoragePool* storage, bool gzip,
                             absl::FunctionRef<bool()> stop,
                             absl::FunctionRef<void(absl::Span<const uint8_t>)> deliver);

}  // namespace alts::rpc

#endif  // ALTS_RPC_MESSAGE_IO_H_
