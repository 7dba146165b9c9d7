#include "alts/nonce_counter.h"

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace alts {
namespace {

// kDirectionByte / kServerDirection: frames the server sends carry 0x80 in
// the counter's last byte, so the two directions never share a nonce.
constexpr size_t kDirectionByte = NonceCounter::kSize - 1;
constexpr uint8_t kServerDirection = 0x80;
// kMaxOverflowSize: low() and SetLowForTesting() hold the frame index in a
// uint64_t, and the direction byte must stay outside the carrying bytes.
constexpr size_t kMaxOverflowSize = 8;

}  // namespace

NonceCounter::NonceCounter(size_t overflow_size, bool server_sent)
    : overflow_size_(static_cast<uint8_t>(overflow_size)) {
  assert(overflow_size >= 1 && overflow_size <= kMaxOverflowSize);
  if (overflow_size_ < 1) overflow_size_ = 1;
  if (overflow_size_ > kMaxOverflowSize) overflow_size_ = kMaxOverflowSize;
  if (server_sent) value_[kDirectionByte] = kServerDirection;
}

absl::Status NonceCounter::Increment() {
  if (exhausted_) {
    return absl::ResourceExhaustedError("frame counter exhausted");
  }
  // Decide before touching the value, so an exhausted counter keeps its
  // last (already used) value rather than wrapping to a reused one.
  bool all_ones = true;
  for (size_t i = 0; i < overflow_size_; ++i) {
    if (value_[i] != 0xFF) {
      all_ones = false;
      break;
    }
  }
  if (all_ones) {
    exhausted_ = true;
    return absl::ResourceExhaustedError("frame counter exhausted");
  }
  for (size_t i = 0; i < overflow_size_; ++i) {
    if (++value_[i] != 0) break;
  }
  return absl::OkStatus();
}

uint64_t NonceCounter::low() const {
  uint64_t low = 0;
  for (size_t i = overflow_size_; i-- > 0;) low = (low << 8) | value_[i];
  return low;
}

bool NonceCounter::HasValues(uint64_t count) const {
  if (count == 0) return true;
  if (exhausted_) return false;
  const uint64_t max_low =
      overflow_size_ >= 8 ? UINT64_MAX : (uint64_t{1} << (8 * overflow_size_)) - 1;
  // Values left, counting the current one: max_low - low() + 1 (may not fit).
  return count - 1 <= max_low - low();
}

void NonceCounter::SetLowForTesting(uint64_t low) {
  for (size_t i = 0; i < overflow_size_; ++i) {
    value_[i] = static_cast<uint8_t>(low);
    low >>= 8;
  }
  assert(low == 0);
  exhausted_ = false;
}

}  // namespace alts
