#ifndef ALTS_RPC_MESSAGE_READER_H_
#define ALTS_RPC_MESSAGE_READER_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "conn/buffer_pool.h"
#include "conn/storage_pool.h"
#include "rpc/wire.h"

namespace alts::rpc {

// MessageCallback receives one complete message (valid during the call) and
// whether its compressed flag was set.
using MessageCallback =
    absl::FunctionRef<absl::Status(absl::Span<const uint8_t> message, bool compressed)>;

// MessageReader splits a call's DATA bytes into gRPC's length-prefixed
// messages, whatever the split across DATA frames. A message wholly inside
// one delivery is handed over in place, without a copy; one that spans
// deliveries is assembled in storage sized to its length prefix (from the
// StoragePool, or the heap above its largest class) and released once
// delivered. Between messages it holds nothing.
class MessageReader {
 public:
  MessageReader() = default;
  MessageReader(const MessageReader&) = delete;
  MessageReader& operator=(const MessageReader&) = delete;

  // Feed consumes `data` and calls `on_message` for each message completed.
  // A message announcing more than `max_message` bytes is refused as soon as
  // its prefix is in, before anything is stored (kResourceExhausted); a
  // prefix flag other than 0 or 1 is kInternal (gRPC: malformed). Errors
  // from `on_message` stop the feed and are returned. After an error the
  // reader must not be fed again.
  absl::Status Feed(absl::Span<const uint8_t> data, size_t max_message, StoragePool* storage,
                    MessageCallback on_message);

  // at_boundary returns true if no partial message is held (a stream may end
  // cleanly only here).
  bool at_boundary() const { return prefix_held_ == 0 && !assembling_; }

  // HeapBytes returns the storage held for a partial message.
  size_t HeapBytes() const { return lease_ ? lease_.size() : (heap_ ? length_ : 0); }

  // Reset drops any partial message.
  void Reset();

 private:
  absl::Status StartMessage(size_t max_message, StoragePool* storage);

  BufferLease lease_;
  std::unique_ptr<uint8_t[]> heap_;
  uint32_t length_ = 0;
  uint32_t got_ = 0;
  uint8_t prefix_[kMessagePrefixSize] = {};
  uint8_t prefix_held_ = 0;
  bool compressed_ = false;
  bool assembling_ = false;
};

// WriteMessagePrefix writes the 5-byte prefix of a message of `length`
// bytes.
inline void WriteMessagePrefix(uint8_t* out, bool compressed, uint32_t length) {
  out[0] = compressed ? 1 : 0;
  out[1] = static_cast<uint8_t>(length >> 24);
  out[2] = static_cast<uint8_t>(length >> 16);
  out[3] = static_cast<uint8_t>(length >> 8);
  out[4] = static_cast<uint8_t>(length);
}

}  // namespace alts::rpc

#endif  // ALTS_RPC_MESSAGE_READER_H_
