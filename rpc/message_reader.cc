#include "rpc/message_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace alts::rpc {

void MessageReader::Reset() {
  lease_.Reset();
  heap_.reset();
  length_ = got_ = 0;
  prefix_held_ = 0;
  assembling_ = false;
}

absl::Status MessageReader::StartMessage(size_t max_message, StoragePool* storage) {
  if (prefix_[0] > 1) {
    return absl::InternalError(absl::StrCat("invalid message prefix flag ", prefix_[0]));
  }
  compressed_ = prefix_[0] == 1;
  length_ = (uint32_t{prefix_[1]} << 24) | (uint32_t{prefix_[2]} << 16) |
            (uint32_t{prefix_[3]} << 8) | prefix_[4];
  if (length_ > max_message || length_ > kMaxMessageSize) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "received message of ", length_, " bytes exceeds the limit of ", max_message));
  }
  got_ = 0;
  return absl::OkStatus();
}

absl::Status MessageReader::Feed(absl::Span<const uint8_t> data, size_t max_message,
                                 StoragePool* storage, MessageCallback on_message) {
  while (!data.empty()) {
    if (!assembling_) {
      if (prefix_held_ == 0 && data.size() >= kMessagePrefixSize) {
        memcpy(prefix_, data.data(), kMessagePrefixSize);
        data.remove_prefix(kMessagePrefixSize);
      } else {
        const size_t n = std::min<size_t>(kMessagePrefixSize - prefix_held_, data.size());
        memcpy(prefix_ + prefix_held_, data.data(), n);
        prefix_held_ = static_cast<uint8_t>(prefix_held_ + n);
        data.remove_prefix(n);
        if (prefix_held_ < kMessagePrefixSize) return absl::OkStatus();
        prefix_held_ = 0;
      }
      absl::Status s = StartMessage(max_message, storage);
      if (!s.ok()) return s;
      if (data.size() >= length_) {
        // Whole in this delivery: handed over in place.
        absl::Span<const uint8_t> message = data.first(length_);
        data.remove_prefix(length_);
        s = on_message(message, compressed_);
        if (!s.ok()) return s;
        continue;
      }
      assembling_ = true;
      if (storage != nullptr) lease_ = storage->Acquire(length_);
      if (!lease_) heap_.reset(new uint8_t[length_]);
    }
    uint8_t* dst = lease_ ? lease_.data() : heap_.get();
    const size_t n = std::min<size_t>(length_ - got_, data.size());
    memcpy(dst + got_, data.data(), n);
    got_ += static_cast<uint32_t>(n);
    data.remove_prefix(n);
    if (got_ < length_) return absl::OkStatus();
    assembling_ = false;
    BufferLease lease = std::move(lease_);
    std::unique_ptr<uint8_t[]> heap = std::move(heap_);
    absl::Status s = on_message(absl::MakeConstSpan(dst, length_), compressed_);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace alts::rpc
