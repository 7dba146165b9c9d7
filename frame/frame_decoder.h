#ifndef ALTS_FRAME_FRAME_DECODER_H_
#define ALTS_FRAME_FRAME_DECODER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace alts {

// FrameScan is the non-error outcome of ScanFrame: either a whole frame is at
// the front of the input, or more bytes are needed.
struct FrameScan {
  enum class Kind {
    kComplete,  // a whole frame of `frame_size` bytes starts the input
    kNeedMore,  // the input is a valid prefix; `bytes_needed` more are required
  };
  Kind kind = Kind::kNeedMore;
  // kComplete: the frame's wire size (length field included).
  // kNeedMore: the frame's wire size once the length field is in, else 0.
  size_t frame_size = 0;
  // kNeedMore: bytes still missing. Before the 4 length bytes are in, this is
  // the number needed to complete the length field; after, it is exact.
  size_t bytes_needed = 0;

  // complete reports whether a whole frame is at the front of the input.
  bool complete() const { return kind == Kind::kComplete; }
};

// ScanFrame examines the frame at the front of `input` (a prefix of a byte
// stream that may hold one partial frame or several whole ones). It never
// reads past the first frame and never allocates.
//
// Errors (checked as soon as the bytes that decide them are in):
//   kInvalidArgument  length field > 1 MiB ("frame too large"), length field
//                     < 20 ("frame too short"), type != 6 ("bad frame type").
// Incomplete input is never an error.
absl::StatusOr<FrameScan> ScanFrame(absl::Span<const uint8_t> input);

// CheckEndOfStream is what a reader calls when the peer closes the stream
// with `pending` (the bytes received after the last whole frame) unconsumed.
// Returns OK if `pending` is empty (a clean end); kDataLoss ("truncated
// frame") if it holds part of a frame; the ScanFrame error if it is
// malformed; kFailedPrecondition if it still holds a whole frame, which the
// caller should have opened first.
absl::Status CheckEndOfStream(absl::Span<const uint8_t> pending);

// FramePayload returns the ciphertext of a complete frame (bytes 8 .. size-16).
// `frame` must be exactly one frame that ScanFrame accepted.
inline absl::Span<uint8_t> FramePayload(absl::Span<uint8_t> frame) {
  return frame.subspan(8, frame.size() - 8 - 16);
}

// FrameTag returns the 16-byte tag of a complete frame (its last 16 bytes).
inline absl::Span<uint8_t> FrameTag(absl::Span<uint8_t> frame) {
  return frame.subspan(frame.size() - 16, 16);
}

}  // namespace alts

#endif  // ALTS_FRAME_FRAME_DECODER_H_
