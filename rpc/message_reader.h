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

// AssemblyBudget bounds the bytes that partial messages (ones spanning
// deliveries) hold together, e.g. over all calls of one connection: without
// it a peer could open many streams, announce a large message on each and
// trickle it, making us hold max_concurrent_streams x max_message. Used on
// one thread.
struct AssemblyBudget {
  size_t limit = 0;  // 0 = no limit
  size_t held = 0;   // bytes held now
  size_t high_water = 0;
};

// kAssemblyMinStorage: the least storage a partial message starts with (a
// pool class), so tiny first pieces do not regrow at once.
inline constexpr size_t kAssemblyMinStorage = 4096;

// MessageReader splits a call's DATA bytes into gRPC's length-prefixed
// messages, whatever the split across DATA frames. A message wholly inside
// one delivery is handed over in place, without a copy; one that spans
// deliveries is assembled in storage that grows with what arrived (twice
// as much at each step, from the StoragePool's classes, or the heap above
// its largest class, never beyond the length prefix) and is released once
// delivered. So a peer that announces a large message and trickles it makes
// us hold about what it sent, not what it announced. Between messages it
// holds nothing.
class MessageReader {
 public:
  MessageReader() = default;
  ~MessageReader() { Reset(); }
  MessageReader(const MessageReader&) = delete;
  MessageReader& operator=(const MessageReader&) = delete;

  // set_budget makes the storage this reader holds count against `budget`
  // (borrowed; it must outlive the reader's storage, i.e. until Reset or
  // destruction). Call while at a boundary.
  void set_budget(AssemblyBudget* budget) { budget_ = budget; }

  // Feed consumes `data` and calls `on_message` for each message completed.
  // A message announcing more than `max_message` bytes is refused as soon as
  // its prefix is in, before anything is stored (kResourceExhausted), as is
  // growth past the budget (kResourceExhausted); a prefix flag other than 0
  // or 1 is kInternal (gRPC: malformed). Errors from `on_message` stop the
  // feed and are returned. After an error the reader must not be fed again.
  absl::Status Feed(absl::Span<const uint8_t> data, size_t max_message, StoragePool* storage,
                    MessageCallback on_message);

  // at_boundary returns true if no partial message is held (a stream may end
  // cleanly only here).
  bool at_boundary() const { return prefix_held_ == 0 && !assembling_; }

  // HeapBytes returns the storage held for a partial message.
  size_t HeapBytes() const { return capacity_; }

  // Reset drops any partial message.
  void Reset();

 private:
  absl::Status StartMessage(size_t max_message);
  // Reserve makes room for at least `need` bytes of the message (need <=
  // length_), keeping what arrived.
  absl::Status Reserve(size_t need, StoragePool* storage);
  void Release();
  uint8_t* held() { return lease_ ? lease_.data() : heap_.get(); }

  BufferLease lease_;
  std::unique_ptr<uint8_t[]> heap_;
  AssemblyBudget* budget_ = nullptr;
  size_t capacity_ = 0;
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
