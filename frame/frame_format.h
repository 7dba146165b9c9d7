#ifndef ALTS_FRAME_FRAME_FORMAT_H_
#define ALTS_FRAME_FRAME_FORMAT_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace alts {

// The ALTS frame, byte for byte as gRPC sends it:
//
//   offset  size  field
//   0       4     length  uint32 LE: bytes after this field = 4 + N + 16
//   4       4     type    uint32 LE, always 6
//   8       N     ciphertext (as long as the plaintext)
//   8+N     16    AES-GCM tag
//
// This header only knows the layout; it does no crypto and no I/O.

// kFrameLengthFieldSize / kFrameTypeFieldSize are the two uint32 header fields.
inline constexpr size_t kFrameLengthFieldSize = 4;
inline constexpr size_t kFrameTypeFieldSize = 4;
// kFrameHeaderSize is the length field plus the type field.
inline constexpr size_t kFrameHeaderSize = kFrameLengthFieldSize + kFrameTypeFieldSize;
// kFrameTagSize is the AES-GCM tag that ends every frame.
inline constexpr size_t kFrameTagSize = 16;
// kFrameOverhead is what a frame adds to its plaintext (header + tag).
inline constexpr size_t kFrameOverhead = kFrameHeaderSize + kFrameTagSize;
// kFrameType is the only frame type gRPC's ALTS sends and (in C++ and Java)
// accepts; we compare all 32 bits.
inline constexpr uint32_t kFrameType = 6;
// kMinFrameLengthField: a length field below this cannot hold type + tag.
inline constexpr uint32_t kMinFrameLengthField = kFrameTypeFieldSize + kFrameTagSize;
// kMaxFrameLengthField: every gRPC reader accepts this much; above it, a peer
// could make us allocate without bound, so it is an error as soon as the 4
// length bytes are in.
inline constexpr uint32_t kMaxFrameLengthField = 1u << 20;
// kMaxFrameSize is the largest frame on the wire, length field included.
inline constexpr size_t kMaxFrameSize = kFrameLengthFieldSize + kMaxFrameLengthField;
// kMinFrameSize is an empty-payload frame (24 bytes).
inline constexpr size_t kMinFrameSize = kFrameLengthFieldSize + kMinFrameLengthField;

// WriteFrameHeader writes the 8-byte header of a frame carrying
// `payload_size` bytes of ciphertext (tag excluded) into the first 8 bytes of
// `out`. Returns kInvalidArgument if `out` is shorter than 8 bytes or the
// frame would exceed kMaxFrameSize.
absl::Status WriteFrameHeader(size_t payload_size, absl::Span<uint8_t> out);

// FrameSizeForPayload returns the wire size of a frame with `payload_size`
// bytes of plaintext: payload_size + kFrameOverhead.
constexpr size_t FrameSizeForPayload(size_t payload_size) {
  return payload_size + kFrameOverhead;
}

}  // namespace alts

#endif  // ALTS_FRAME_FRAME_FORMAT_H_
