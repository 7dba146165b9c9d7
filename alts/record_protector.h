#ifndef ALTS_ALTS_RECORD_PROTECTOR_H_
#define ALTS_ALTS_RECORD_PROTECTOR_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "alts/record_crypter.h"
#include "alts/record_protocol.h"
#include "frame/frame_format.h"

namespace alts {

// kDefaultMaxFrameSize is what we send when nothing else was negotiated: the
// gRPC default and what the spec says to assume when a peer states none.
inline constexpr size_t kDefaultMaxFrameSize = 16 * 1024;
// kMinPayloadRoom: a max frame size must leave at least this much plaintext
// per frame, or sealing would mostly send overhead.
inline constexpr size_t kMinPayloadRoom = 24;
// kMinMaxFrameSize / kMaxMaxFrameSize bound the negotiated send frame size
// (whole frame, length field included).
inline constexpr size_t kMinMaxFrameSize = kFrameOverhead + kMinPayloadRoom;
inline constexpr size_t kMaxMaxFrameSize = 1024 * 1024;

// OpenResult is the non-error outcome of RecordProtector::OpenNext.
struct OpenResult {
  // Bytes of input used by the frame just opened; 0 if more bytes are needed.
  size_t consumed = 0;
  // The frame's plaintext, decrypted in place inside the input span (at
  // offset kFrameHeaderSize). Empty for an empty frame or when consumed == 0.
  absl::Span<uint8_t> plaintext;
  // When consumed == 0: bytes still missing (see FrameScan::bytes_needed).
  size_t bytes_needed = 0;
  // When consumed == 0 and the length field is in: the pending frame's size.
  size_t pending_frame_size = 0;
};

// RecordProtector seals plaintext into ALTS frames and opens frames back into
// plaintext for one end of a connection. It is byte-compatible with gRPC's
// ALTS record layer. Move-only; not thread-safe (one connection, one thread
// at a time). Once constructed it never allocates: sealing writes into a
// caller-provided span and opening decrypts in place.
//
// Errors are sticky per direction: after a failed open (kDataLoss, bad tag)
// or malformed frame (kInvalidArgument) every later OpenNext returns the same
// status; after counter exhaustion (kResourceExhausted) the direction is dead.
class RecordProtector {
 public:
  // Create builds a protector for `side` from the handshake's `key_data`
  // (truncated to RecordKeySize, as gRPC does). `max_frame_size` is the
  // largest frame this side sends (whole frame), within
  // [kMinMaxFrameSize, kMaxMaxFrameSize]. Returns kInvalidArgument for an
  // unknown protocol, short key_data or out-of-range frame size.
  static absl::StatusOr<RecordProtector> Create(
      std::string_view record_protocol, Side side,
      absl::Span<const uint8_t> key_data,
      size_t max_frame_size = kDefaultMaxFrameSize);
  static absl::StatusOr<RecordProtector> Create(
      RecordProtocol record_protocol, Side side,
      absl::Span<const uint8_t> key_data,
      size_t max_frame_size = kDefaultMaxFrameSize);

  RecordProtector(RecordProtector&&) noexcept = default;
  RecordProtector& operator=(RecordProtector&&) noexcept = default;
  RecordProtector(const RecordProtector&) = delete;
  RecordProtector& operator=(const RecordProtector&) = delete;
  ~RecordProtector() = default;  // the crypters wipe their keys

  // max_frame_size returns the largest frame Seal writes.
  size_t max_frame_size() const { return max_frame_size_; }
  // max_plaintext_per_frame returns max_frame_size - kFrameOverhead.
  size_t max_plaintext_per_frame() const { return max_frame_size_ - kFrameOverhead; }

  // SealedSize returns how many bytes Seal writes for `plaintext_size` bytes:
  // ceil(plaintext_size / max_plaintext_per_frame) frames (one empty frame
  // for 0 bytes) plus their overhead.
  size_t SealedSize(size_t plaintext_size) const;

  // Seal encrypts `plaintext` into consecutive frames at the front of `out`
  // and returns the number of bytes written (== SealedSize). `out` must hold
  // SealedSize(plaintext.size()) bytes and must not overlap `plaintext`
  // (kInvalidArgument otherwise, not sticky). Returns kResourceExhausted if
  // the send counter cannot cover every frame of the message; then the
  // direction is dead and nothing was written.
  absl::StatusOr<size_t> Seal(absl::Span<const uint8_t> plaintext,
                              absl::Span<uint8_t> out);

  // SealFrameInPlace seals one frame laid out as [8 header bytes][plaintext]
  // [16 tag bytes] in `frame`: writes the header and tag and encrypts the
  // plaintext in place. `frame.size()` must be within
  // [kMinFrameSize, max_frame_size()] (kInvalidArgument otherwise, not
  // sticky). Returns kResourceExhausted (sticky) once the send counter is
  // used up.
  absl::Status SealFrameInPlace(absl::Span<uint8_t> frame);

  // OpenNext opens the frame at the front of `input` (a prefix of the byte
  // stream from the peer) in place. If the frame is incomplete it returns
  // consumed == 0 and how many bytes are missing; this is not an error.
  // Errors: kInvalidArgument for a malformed header (too large, too short,
  // bad type), kDataLoss for a frame that fails authentication (its
  // plaintext is wiped), kResourceExhausted when the receive counter is used
  // up (the frame that used its last value is still delivered; the call
  // after it fails, whatever the input). All are fatal for the receive
  // direction and sticky.
  absl::StatusOr<OpenResult> OpenNext(absl::Span<uint8_t> input);

  // OpenNextInto is OpenNext with the plaintext decrypted into the front of
  // `out` instead of in place: `input` is left as it was (ciphertext), and
  // result.plaintext is out.first(payload size). `out` must hold the frame's
  // plaintext and must not overlap `input` (kInvalidArgument, not sticky,
  // checked once the frame is complete); an incomplete frame needs no room.
  // A reader that coalesces the plaintext of many frames opens each straight
  // to its place this way, instead of moving it there after an in-place
  // open. Other errors and the stickiness are as OpenNext's.
  absl::StatusOr<OpenResult> OpenNextInto(absl::Span<const uint8_t> input,
                                          absl::Span<uint8_t> out);

  // EndOfStream is what the reader calls when the peer closes the stream
  // with `unconsumed` (the bytes OpenNext has not consumed) left over.
  // Returns OK for a clean end (nothing pending, receive direction healthy),
  // the receive direction's sticky error if it has one, kDataLoss
  // ("truncated frame") if the peer stopped inside a frame (then sticky), or
  // kFailedPrecondition if `unconsumed` still holds a whole frame.
  absl::Status EndOfStream(absl::Span<const uint8_t> unconsumed);

  // PinAeadContexts gives each direction an AEAD context of its own (see
  // RecordCrypter::PinAeadContext): about 1.2 KiB held for the protector's
  // life, allocated here once, and no context set-up per call however many
  // other connections share the thread. Without it (the default) contexts
  // are borrowed from the thread's AeadContextCache and an idle protector
  // holds none. Returns kFailedPrecondition on a moved-from protector.
  absl::Status PinAeadContexts();

  // seal_status / open_status return the sticky state of each direction.
  absl::Status seal_status() const { return seal_.status(); }
  absl::Status open_status() const { return open_.status(); }

  // protocol returns the record protocol in use.
  RecordProtocol protocol() const { return protocol_; }
  // side returns which end of the connection this protector is.
  Side side() const { return side_; }

  // Test hooks: the per-direction crypters (e.g. to start a counter near its end).
  RecordCrypter& seal_crypter_for_testing() { return seal_; }
  RecordCrypter& open_crypter_for_testing() { return open_; }

 private:
  RecordProtector(RecordProtocol protocol, Side side, size_t max_frame_size,
                  RecordCrypter seal, RecordCrypter open);
  // ScanNext checks the receive direction and the frame at the front of
  // `input`: returns its size when whole, 0 (with result's bytes_needed and
  // pending_frame_size set) when incomplete, or the sticky error.
  absl::StatusOr<size_t> ScanNext(absl::Span<const uint8_t> input, OpenResult& result);

  RecordCrypter seal_;
  RecordCrypter open_;
  uint32_t max_frame_size_;
  RecordProtocol protocol_;
  Side side_;
};

}  // namespace alts

#endif  // ALTS_ALTS_RECORD_PROTECTOR_H_
