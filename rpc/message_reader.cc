#include "rpc/message_reader.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace alts::rpc {

void MessageReader::Release() {
  if (budget_ != nullptr) budget_->held -= capacity_;
  lease_.Reset();
  heap_.reset();
  capacity_ = 0;
}

void MessageReader::Reset() {
  Release();
  length_ = got_ = 0;
  prefix_held_ = 0;
  assembling_ = false;
}

absl::Status MessageReader::StartMessage(size_t max_message) {
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

absl::Status MessageReader::Reserve(size_t need, StoragePool* storage) {
  if (need <= capacity_) return absl::OkStatus();
  // Double what is held (at least kAssemblyMinStorage), never past the
  // announced length: the copies this costs add up to less than the message.
  const size_t want =
      std::min<size_t>(length_, std::max({need, 2 * capacity_, kAssemblyMinStorage}));
  BufferLease lease;
  if (storage != nullptr) lease = storage->Acquire(want);
  const size_t size = lease ? lease.size() : want;
  if (budget_ != nullptr && budget_->limit != 0 &&
      budget_->held - capacity_ + size > budget_->limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("partial messages would hold ", budget_->held - capacity_ + size,
                     " bytes on this connection, above its limit of ", budget_->limit));
  }
  std::unique_ptr<uint8_t[]> heap;
  if (!lease) heap.reset(new uint8_t[size]);
  uint8_t* dst = lease ? lease.data() : heap.get();
  if (got_ > 0) memcpy(dst, held(), got_);
  if (budget_ != nullptr) {
    budget_->held = budget_->held - capacity_ + size;
    budget_->high_water = std::max(budget_->high_water, budget_->held);
  }
  lease_ = std::move(lease);
  heap_ = std::move(heap);
  capacity_ = size;
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
      absl::Status s = StartMessage(max_message);
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
      if (data.empty()) return absl::OkStatus();  // the prefix ended the delivery
    }
    const size_t n = std::min<size_t>(length_ - got_, data.size());
    absl::Status s = Reserve(got_ + n, storage);
    if (!s.ok()) return s;
    memcpy(held() + got_, data.data(), n);
    got_ += static_cast<uint32_t>(n);
    data.remove_prefix(n);
    if (got_ < length_) return absl::OkStatus();
    assembling_ = false;
    // The message is handed over from storage this frame keeps; the reader
    // holds nothing from here on (the callback may feed it again).
    BufferLease lease = std::move(lease_);
    std::unique_ptr<uint8_t[]> heap = std::move(heap_);
    Release();
    const uint8_t* msg = lease ? lease.data() : heap.get();
    s = on_message(absl::MakeConstSpan(msg, length_), compressed_);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace alts::rpc
