#include "rpc/message_io.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "rpc/compression.h"

namespace alts::rpc {
namespace {

std::vector<uint8_t>& StagingBuffer() {
  thread_local std::vector<uint8_t> buf(kMessagePrefixSize + kMaxStagedWrite);
  return buf;
}

}  // namespace

void OutgoingMessage::Start(absl::Span<const uint8_t> message, bool gzip) {
  bool compressed = false;
  if (gzip) {
    absl::StatusOr<absl::Span<const uint8_t>> z = GzipCompress(message);
    if (z.ok()) {
      compressed_.assign(reinterpret_cast<const char*>(z->data()), z->size());
      message = absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(compressed_.data()),
                                    compressed_.size());
      compressed = true;
    }
  }
  WriteMessagePrefix(prefix_, compressed, static_cast<uint32_t>(message.size()));
  message_ = message;
  offset_ = 0;
  pending_ = true;
}

void OutgoingMessage::Clear() {
  pending_ = false;
  message_ = {};
  offset_ = 0;
}

OutgoingMessage::Progress OutgoingMessage::Send(H2Transport& transport, uint32_t id,
                                                bool end_stream, bool* sent) {
  const size_t total = kMessagePrefixSize + message_.size();
  while (pending_) {
    if (!transport.can_send_data()) return Progress::kTransportBlocked;
    absl::Span<const uint8_t> piece;
    if (offset_ < kMessagePrefixSize) {
      // The prefix travels with the start of the message.
      std::vector<uint8_t>& stage = StagingBuffer();
      const size_t pre = kMessagePrefixSize - offset_;
      memcpy(stage.data(), prefix_ + offset_, pre);
      const size_t body = std::min(message_.size(), kMaxStagedWrite);
      if (body > 0) memcpy(stage.data() + pre, message_.data(), body);
      piece = absl::MakeConstSpan(stage.data(), pre + body);
    } else {
      const size_t off = offset_ - kMessagePrefixSize;
      piece = message_.subspan(off, std::min(kMaxWriteChunk, message_.size() - off));
    }
    const bool last = offset_ + piece.size() == total;
    absl::StatusOr<size_t> n = transport.session().SendData(id, piece, end_stream && last);
    if (!n.ok()) return Progress::kFailed;
    if (*n > 0 && sent != nullptr) *sent = true;
    offset_ += *n;
    if (*n < piece.size()) return Progress::kWindowBlocked;
    if (offset_ == total) Clear();
  }
  return Progress::kDone;
}

absl::Status DeliverMessages(MessageReader& reader, absl::Span<const uint8_t> bytes,
                             size_t max_message, StoragePool* storage, bool gzip,
                             absl::FunctionRef<bool()> stop,
                             absl::FunctionRef<void(absl::Span<const uint8_t>)> deliver) {
  return reader.Feed(bytes, max_message, storage,
                     [&](absl::Span<const uint8_t> msg, bool compressed) -> absl::Status {
                       if (stop()) return absl::CancelledError("call over");
                       if (!compressed) {
                         deliver(msg);
                         return absl::OkStatus();
                       }
                       if (!gzip) {
                         return absl::InternalError(
                             "compressed message without a grpc-encoding to inflate it");
                       }
                       absl::StatusOr<absl::Span<const uint8_t>> raw =
                           GzipDecompress(msg, max_message);
                       if (!raw.ok()) return raw.status();
                       deliver(*raw);
                       return absl::OkStatus();
                     });
}

}  // namespace alts::rpc
