#include "frame/frame_format.h"

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace alts {
namespace {

// kMaxFramePayloadSize is the largest plaintext (== ciphertext) one frame can
// carry before its length field would exceed kMaxFrameLengthField.
constexpr size_t kMaxFramePayloadSize = kMaxFrameSize - kFrameOverhead;

void StoreLe32(uint32_t value, uint8_t* out) {
  out[0] = static_cast<uint8_t>(value);
  out[1] = static_cast<uint8_t>(value >> 8);
  out[2] = static_cast<uint8_t>(value >> 16);
  out[3] = static_cast<uint8_t>(value >> 24);
}

}  // namespace

absl::Status WriteFrameHeader(size_t payload_size, absl::Span<uint8_t> out) {
  if (out.size() < kFrameHeaderSize) {
    return absl::InvalidArgumentError("frame header needs 8 bytes of output");
  }
  if (payload_size > kMaxFramePayloadSize) {
    return absl::InvalidArgumentError("frame payload exceeds the 1 MiB frame limit");
  }
  StoreLe32(static_cast<uint32_t>(kFrameTypeFieldSize + payload_size + kFrameTagSize),
            out.data());
  StoreLe32(kFrameType, out.data() + kFrameLengthFieldSize);
  return absl::OkStatus();
}

}  // namespace alts
