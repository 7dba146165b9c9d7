#include "alts/record_protector.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "alts/record_crypter.h"
#include "alts/record_protocol.h"
#include "frame/frame_decoder.h"
#include "frame/frame_format.h"

namespace alts {
namespace {

bool Overlap(absl::Span<const uint8_t> a, absl::Span<const uint8_t> b) {
  if (a.empty() || b.empty()) return false;
  return a.data() < b.data() + b.size() && b.data() < a.data() + a.size();
}

}  // namespace

absl::StatusOr<RecordProtector> RecordProtector::Create(std::string_view record_protocol,
                                                        Side side,
                                                        absl::Span<const uint8_t> key_data,
                                                        size_t max_frame_size) {
  absl::StatusOr<RecordProtocol> protocol = ParseRecordProtocol(record_protocol);
  if (!protocol.ok()) return protocol.status();
  return Create(*protocol, side, key_data, max_frame_size);
}

absl::StatusOr<RecordProtector> RecordProtector::Create(RecordProtocol record_protocol,
                                                        Side side,
                                                        absl::Span<const uint8_t> key_data,
                                                        size_t max_frame_size) {
  if (side != Side::kClient && side != Side::kServer) {
    return absl::InvalidArgumentError("unknown side");
  }
  if (max_frame_size < kMinMaxFrameSize || max_frame_size > kMaxMaxFrameSize) {
    return absl::InvalidArgumentError("max frame size " + std::to_string(max_frame_size) +
                                      " outside [" + std::to_string(kMinMaxFrameSize) + ", " +
                                      std::to_string(kMaxMaxFrameSize) + "]");
  }
  const bool server = side == Side::kServer;
  // We seal with our own direction's counter and open with the peer's.
  absl::StatusOr<RecordCrypter> seal = RecordCrypter::Create(record_protocol, key_data, server);
  if (!seal.ok()) return seal.status();
  absl::StatusOr<RecordCrypter> open = RecordCrypter::Create(record_protocol, key_data, !server);
  if (!open.ok()) return open.status();
  return RecordProtector(record_protocol, side, max_frame_size, std::move(*seal),
                         std::move(*open));
}

RecordProtector::RecordProtector(RecordProtocol protocol, Side side, size_t max_frame_size,
                                 RecordCrypter seal, RecordCrypter open)
    : seal_(std::move(seal)),
      open_(std::move(open)),
      max_frame_size_(static_cast<uint32_t>(max_frame_size)),
      protocol_(protocol),
      side_(side) {}

size_t RecordProtector::SealedSize(size_t plaintext_size) const {
  const size_t per_frame = max_plaintext_per_frame();
  const size_t frames = plaintext_size == 0 ? 1 : (plaintext_size - 1) / per_frame + 1;
  return plaintext_size + frames * kFrameOverhead;
}

absl::StatusOr<size_t> RecordProtector::Seal(absl::Span<const uint8_t> plaintext,
                                             absl::Span<uint8_t> out) {
  if (!seal_.ok()) return seal_.status();
  const size_t sealed_size = SealedSize(plaintext.size());
  if (out.size() < sealed_size) {
    return absl::InvalidArgumentError("seal output holds " + std::to_string(out.size()) +
                                      " bytes; " + std::to_string(sealed_size) + " needed");
  }
  out = out.first(sealed_size);
  if (Overlap(plaintext, out)) {
    return absl::InvalidArgumentError("seal output overlaps the plaintext");
  }
  const size_t per_frame = max_plaintext_per_frame();
  const size_t frames = plaintext.empty() ? 1 : (plaintext.size() - 1) / per_frame + 1;
  if (absl::Status capacity = seal_.CheckCapacity(frames); !capacity.ok()) return capacity;

  size_t written = 0;
  do {
    const size_t chunk = plaintext.size() < per_frame ? plaintext.size() : per_frame;
    absl::Span<uint8_t> frame = out.subspan(written, FrameSizeForPayload(chunk));
    if (absl::Status status = WriteFrameHeader(chunk, frame); !status.ok()) return status;
    absl::Status status =
        seal_.Seal(plaintext.first(chunk), FramePayload(frame), FrameTag(frame));
    if (!status.ok()) return status;
    written += frame.size();
    plaintext.remove_prefix(chunk);
  } while (!plaintext.empty());
  return written;
}

absl::Status RecordProtector::SealFrameInPlace(absl::Span<uint8_t> frame) {
  if (!seal_.ok()) return seal_.status();
  if (frame.size() < kMinFrameSize || frame.size() > max_frame_size_) {
    return absl::InvalidArgumentError("frame of " + std::to_string(frame.size()) +
                                      " bytes outside [24, max_frame_size]");
  }
  const size_t payload_size = frame.size() - kFrameOverhead;
  if (absl::Status status = WriteFrameHeader(payload_size, frame); !status.ok()) return status;
  absl::Span<uint8_t> payload = FramePayload(frame);
  return seal_.Seal(payload, payload, FrameTag(frame));
}

absl::StatusOr<size_t> RecordProtector::ScanNext(absl::Span<const uint8_t> input,
                                                 OpenResult& result) {
  if (!open_.ok()) return open_.status();
  absl::StatusOr<FrameScan> scan = ScanFrame(input);
  if (!scan.ok()) {
    open_.Fail(scan.status());
    return scan.status();
  }
  if (!scan->complete()) {
    result.bytes_needed = scan->bytes_needed;
    result.pending_frame_size = scan->frame_size;
    return 0;
  }
  return scan->frame_size;
}

absl::StatusOr<OpenResult> RecordProtector::OpenNext(absl::Span<uint8_t> input) {
  OpenResult result;
  absl::StatusOr<size_t> frame_size = ScanNext(input, result);
  if (!frame_size.ok()) return frame_size.status();
  if (*frame_size == 0) return result;
  absl::Span<uint8_t> frame = input.first(*frame_size);
  absl::Span<uint8_t> payload = FramePayload(frame);
  if (absl::Status status = open_.Open(payload, FrameTag(frame)); !status.ok()) return status;
  result.consumed = frame.size();
  result.plaintext = payload;
  return result;
}

absl::StatusOr<OpenResult> RecordProtector::OpenNextInto(absl::Span<const uint8_t> input,
                                                          absl::Span<uint8_t> out) {
  OpenResult result;
  absl::StatusOr<size_t> frame_size = ScanNext(input, result);
  if (!frame_size.ok()) return frame_size.status();
  if (*frame_size == 0) return result;
  absl::Span<const uint8_t> frame = input.first(*frame_size);
  const size_t payload_size = frame.size() - kFrameOverhead;
  if (out.size() < payload_size || Overlap(out.first(payload_size), frame)) {
    return absl::InvalidArgumentError("open: output must hold the plaintext, apart from the input");
  }
  absl::Span<uint8_t> plaintext = out.first(payload_size);
  if (absl::Status status = open_.Open(frame.subspan(kFrameHeaderSize, payload_size), plaintext,
                                       frame.subspan(kFrameHeaderSize + payload_size));
      !status.ok()) {
    return status;
  }
  result.consumed = frame.size();
  result.plaintext = plaintext;
  return result;
}

absl::Status RecordProtector::PinAeadContexts() {
  if (absl::Status s = seal_.PinAeadContext(); !s.ok()) return s;
  return open_.PinAeadContext();
}

absl::Status RecordProtector::EndOfStream(absl::Span<const uint8_t> unconsumed) {
  if (!open_.ok()) return open_.status();
  absl::Status status = CheckEndOfStream(unconsumed);
  // A whole unopened frame is the caller's mistake, not the peer's.
  if (!status.ok() && !absl::IsFailedPrecondition(status)) open_.Fail(status);
  return status;
}

}  // namespace alts
