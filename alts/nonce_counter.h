#ifndef ALTS_ALTS_NONCE_COUNTER_H_
#define ALTS_ALTS_NONCE_COUNTER_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace alts {

// NonceCounter is the 12-byte little-endian per-direction frame counter of
// the ALTS record protocol. Byte 11 carries the direction (0x80 for frames
// the server sends). Increment carries only through the low `overflow_size`
// bytes; when it would wrap the counter is dead for good (a nonce is never
// reused) and every later Increment or use returns kResourceExhausted.
class NonceCounter {
 public:
  // kSize is the counter (and GCM nonce) size.
  static constexpr size_t kSize = 12;

  // NonceCounter creates a counter at 0 for frames sent by the server (`server_sent`) or
  // the client, carrying through `overflow_size` (1..8) low bytes.
  NonceCounter(size_t overflow_size, bool server_sent);

  // value returns the current 12 bytes.
  const std::array<uint8_t, kSize>& value() const { return value_; }

  // Increment advances to the next value. Returns kResourceExhausted (sticky)
  // if the low `overflow_size` bytes would wrap; the value then stays put and
  // must not be used again.
  absl::Status Increment();

  // exhausted reports whether Increment has refused to wrap.
  bool exhausted() const { return exhausted_; }

  // low returns the low `overflow_size` bytes as an integer (the frame index).
  uint64_t low() const;

  // HasValues reports whether `count` more frames can use this counter (the
  // current value included) without it wrapping. A sender checks this before
  // writing a message of several frames, so it never writes half of one.
  bool HasValues(uint64_t count) const;

  // SetLowForTesting sets the low `overflow_size` bytes to `low` (tests use it
  // to start near the end) and clears the exhausted state. `low` must fit in
  // overflow_size bytes.
  void SetLowForTesting(uint64_t low);

 private:
  std::array<uint8_t, kSize> value_{};
  uint8_t overflow_size_;
  bool exhausted_ = false;
};

}  // namespace alts

#endif  // ALTS_ALTS_NONCE_COUNTER_H_
