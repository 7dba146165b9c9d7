// Fuzzes ScanFrame over arbitrary bytes, walking frame after frame, and
// checks its invariants: results are consistent with the length field,
// every strict prefix of an accepted frame is "need more", and malformed
// input is kInvalidArgument.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "frame/frame_decoder.h"
#include "frame/frame_format.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

uint32_t LengthField(absl::Span<const uint8_t> in) {
  return in[0] | in[1] << 8 | in[2] << 16 | static_cast<uint32_t>(in[3]) << 24;
}

void CheckNeedMore(absl::Span<const uint8_t> input, const alts::FrameScan& scan) {
  Check(scan.kind == alts::FrameScan::Kind::kNeedMore);
  Check(scan.bytes_needed > 0);
  if (input.size() < alts::kFrameLengthFieldSize) {
    Check(scan.frame_size == 0);
    Check(scan.bytes_needed == alts::kFrameLengthFieldSize - input.size());
  } else {
    Check(scan.frame_size == alts::kFrameLengthFieldSize + LengthField(input));
    Check(scan.frame_size >= alts::kMinFrameSize && scan.frame_size <= alts::kMaxFrameSize);
    Check(scan.frame_size == input.size() + scan.bytes_needed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::Span<const uint8_t> rest(data, size);
  while (true) {
    absl::StatusOr<alts::FrameScan> scan = alts::ScanFrame(rest);
    if (!scan.ok()) {
      Check(scan.status().code() == absl::StatusCode::kInvalidArgument);
      Check(rest.size() >= alts::kFrameLengthFieldSize);
      // The reader's end-of-stream check agrees.
      Check(alts::CheckEndOfStream(rest).code() == absl::StatusCode::kInvalidArgument);
      break;
    }
    if (!scan->complete()) {
      CheckNeedMore(rest, *scan);
      const absl::Status eof = alts::CheckEndOfStream(rest);
      Check(rest.empty() ? eof.ok() : eof.code() == absl::StatusCode::kDataLoss);
      break;
    }
    const size_t frame_size = scan->frame_size;
    Check(frame_size >= alts::kMinFrameSize && frame_size <= alts::kMaxFrameSize);
    Check(frame_size <= rest.size());
    Check(frame_size == alts::kFrameLengthFieldSize + LengthField(rest));
    Check(rest[4] == 6 && rest[5] == 0 && rest[6] == 0 && rest[7] == 0);
    // Every strict prefix is a valid "need more" (check the header bytes and
    // the last one; the middle behaves like the last).
    for (size_t n = 0; n < alts::kFrameHeaderSize; ++n) {
      absl::StatusOr<alts::FrameScan> prefix = alts::ScanFrame(rest.first(n));
      Check(prefix.ok());
      CheckNeedMore(rest.first(n), *prefix);
    }
    absl::StatusOr<alts::FrameScan> almost = alts::ScanFrame(rest.first(frame_size - 1));
    Check(almost.ok() && almost->bytes_needed == 1);
    Check(alts::CheckEndOfStream(rest.first(frame_size)).code() ==
          absl::StatusCode::kFailedPrecondition);
    // The header we would write for this payload is the header we read.
    uint8_t header[alts::kFrameHeaderSize];
    Check(alts::WriteFrameHeader(frame_size - alts::kFrameOverhead, absl::MakeSpan(header)).ok());
    for (size_t i = 0; i < alts::kFrameHeaderSize; ++i) Check(header[i] == rest[i]);
    rest.remove_prefix(frame_size);
  }
  return 0;
}
