#include "frame/frame_decoder.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "frame/frame_format.h"

namespace alts {
namespace {

uint32_t LoadLe32(const uint8_t* in) {
  return static_cast<uint32_t>(in[0]) | (static_cast<uint32_t>(in[1]) << 8) |
         (static_cast<uint32_t>(in[2]) << 16) | (static_cast<uint32_t>(in[3]) << 24);
}

FrameScan NeedMore(size_t frame_size, size_t bytes_needed) {
  FrameScan scan;
  scan.kind = FrameScan::Kind::kNeedMore;
  scan.frame_size = frame_size;
  scan.bytes_needed = bytes_needed;
  return scan;
}

}  // namespace

absl::StatusOr<FrameScan> ScanFrame(absl::Span<const uint8_t> input) {
  if (input.size() < kFrameLengthFieldSize) {
    return NeedMore(0, kFrameLengthFieldSize - input.size());
  }
  const uint32_t length = LoadLe32(input.data());
  if (length > kMaxFrameLengthField) {
    return absl::InvalidArgumentError("frame too large: length field " +
                                      std::to_string(length) + " > 1048576");
  }
  if (length < kMinFrameLengthField) {
    return absl::InvalidArgumentError("frame too short: length field " +
                                      std::to_string(length) + " < 20");
  }
  // The type is decided byte by byte: a wrong byte is an error as soon as it
  // arrives, without waiting for the rest of the field.
  const size_t type_bytes_in =
      input.size() - kFrameLengthFieldSize < kFrameTypeFieldSize
          ? input.size() - kFrameLengthFieldSize
          : kFrameTypeFieldSize;
  for (size_t i = 0; i < type_bytes_in; ++i) {
    const uint8_t expected = static_cast<uint8_t>(kFrameType >> (8 * i));
    if (input[kFrameLengthFieldSize + i] != expected) {
      return absl::InvalidArgumentError("bad frame type: expected 6");
    }
  }
  const size_t frame_size = kFrameLengthFieldSize + static_cast<size_t>(length);
  if (input.size() < frame_size) {
    return NeedMore(frame_size, frame_size - input.size());
  }
  FrameScan scan;
  scan.kind = FrameScan::Kind::kComplete;
  scan.frame_size = frame_size;
  return scan;
}

absl::Status CheckEndOfStream(absl::Span<const uint8_t> pending) {
  if (pending.empty()) return absl::OkStatus();
  absl::StatusOr<FrameScan> scan = ScanFrame(pending);
  if (!scan.ok()) return scan.status();
  if (scan->complete()) {
    return absl::FailedPreconditionError(
        "stream ended with a complete frame not yet opened");
  }
  if (scan->frame_size == 0) {
    return absl::DataLossError("truncated frame: stream ended inside the length field after " +
                               std::to_string(pending.size()) + " bytes");
  }
  return absl::DataLossError("truncated frame: stream ended after " +
                             std::to_string(pending.size()) + " of " +
                             std::to_string(scan->frame_size) + " bytes");
}

}  // namespace alts
