#ifndef ALTS_HTTP2_FRAME_H_
#define ALTS_HTTP2_FRAME_H_

// HTTP/2 framing (RFC 9113 section 4 and 6): frame types, flags, error codes,
// setting identifiers and the 9-byte frame header. No state, no I/O.

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace alts::http2 {

// kFrameHeaderSize is the fixed frame header: length (24), type, flags,
// reserved bit + stream identifier (31).
inline constexpr size_t kFrameHeaderSize = 9;

// kConnectionPreface is what a client sends first (RFC 9113 3.4).
inline constexpr absl::string_view kConnectionPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// kDefaultMaxFrameSize is SETTINGS_MAX_FRAME_SIZE's initial value, also its
// lowest legal value.
inline constexpr uint32_t kDefaultMaxFrameSize = 16384;
// kMaxMaxFrameSize is the largest legal SETTINGS_MAX_FRAME_SIZE (2^24-1).
inline constexpr uint32_t kMaxMaxFrameSize = (1u << 24) - 1;
// kDefaultInitialWindowSize is SETTINGS_INITIAL_WINDOW_SIZE's initial value
// and the initial connection window (RFC 9113 6.9.2).
inline constexpr uint32_t kDefaultInitialWindowSize = 65535;
// kMaxWindowSize is the largest flow-control window (2^31-1).
inline constexpr int64_t kMaxWindowSize = (int64_t{1} << 31) - 1;
// kMaxStreamId is the largest stream identifier (2^31-1).
inline constexpr uint32_t kMaxStreamId = (1u << 31) - 1;

// FrameType is a frame's type octet. Unknown types are ignored on receipt.
enum class FrameType : uint8_t {
  kData = 0x0,
  kHeaders = 0x1,
  kPriority = 0x2,
  kRstStream = 0x3,
  kSettings = 0x4,
  kPushPromise = 0x5,
  kPing = 0x6,
  kGoaway = 0x7,
  kWindowUpdate = 0x8,
  kContinuation = 0x9,
};

// Frame flags (which apply depends on the type).
inline constexpr uint8_t kFlagEndStream = 0x1;   // DATA, HEADERS
inline constexpr uint8_t kFlagAck = 0x1;         // SETTINGS, PING
inline constexpr uint8_t kFlagEndHeaders = 0x4;  // HEADERS, PUSH_PROMISE, CONTINUATION
inline constexpr uint8_t kFlagPadded = 0x8;      // DATA, HEADERS, PUSH_PROMISE
inline constexpr uint8_t kFlagPriority = 0x20;   // HEADERS

// ErrorCode is an RST_STREAM / GOAWAY error code (RFC 9113 7). Unknown codes
// received are kept as their number.
enum class ErrorCode : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kFlowControlError = 0x3,
  kSettingsTimeout = 0x4,
  kStreamClosed = 0x5,
  kFrameSizeError = 0x6,
  kRefusedStream = 0x7,
  kCancel = 0x8,
  kCompressionError = 0x9,
  kConnectError = 0xa,
  kEnhanceYourCalm = 0xb,
  kInadequateSecurity = 0xc,
  kHttp11Required = 0xd,
};

// ErrorCodeName returns the RFC's name for `code` ("PROTOCOL_ERROR"), or
// "UNKNOWN" for codes it does not define.
absl::string_view ErrorCodeName(ErrorCode code);

// SettingId identifies a SETTINGS parameter (RFC 9113 6.5.2). Unknown
// identifiers are ignored on receipt.
enum class SettingId : uint16_t {
  kHeaderTableSize = 0x1,
  kEnablePush = 0x2,
  kMaxConcurrentStreams = 0x3,
  kInitialWindowSize = 0x4,
  kMaxFrameSize = 0x5,
  kMaxHeaderListSize = 0x6,
};

// FrameHeader is a parsed frame header.
struct FrameHeader {
  uint32_t length = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  uint32_t stream_id = 0;  // the reserved bit is dropped, as RFC 9113 4.1 says

  bool has(uint8_t flag) const { return (flags & flag) != 0; }
};

// ParseFrameHeader reads a header from the first kFrameHeaderSize bytes of
// `in` (which must hold that many).
inline FrameHeader ParseFrameHeader(const uint8_t* in) {
  FrameHeader h;
  h.length = (uint32_t{in[0]} << 16) | (uint32_t{in[1]} << 8) | in[2];
  h.type = in[3];
  h.flags = in[4];
  h.stream_id = ((uint32_t{in[5]} << 24) | (uint32_t{in[6]} << 16) | (uint32_t{in[7]} << 8) |
                 in[8]) &
                kMaxStreamId;
  return h;
}

// WriteFrameHeader writes a header into out[0, kFrameHeaderSize).
inline void WriteFrameHeader(uint8_t* out, uint32_t length, FrameType type, uint8_t flags,
                             uint32_t stream_id) {
  out[0] = static_cast<uint8_t>(length >> 16);
  out[1] = static_cast<uint8_t>(length >> 8);
  out[2] = static_cast<uint8_t>(length);
  out[3] = static_cast<uint8_t>(type);
  out[4] = flags;
  out[5] = static_cast<uint8_t>((stream_id >> 24) & 0x7f);
  out[6] = static_cast<uint8_t>(stream_id >> 16);
  out[7] = static_cast<uint8_t>(stream_id >> 8);
  out[8] = static_cast<uint8_t>(stream_id);
}

// ReadU32 reads a big-endian 32-bit value.
inline uint32_t ReadU32(const uint8_t* in) {
  return (uint32_t{in[0]} << 24) | (uint32_t{in[1]} << 16) | (uint32_t{in[2]} << 8) | in[3];
}

// WriteU32 writes a big-endian 32-bit value.
inline void WriteU32(uint8_t* out, uint32_t v) {
  out[0] = static_cast<uint8_t>(v >> 24);
  out[1] = static_cast<uint8_t>(v >> 16);
  out[2] = static_cast<uint8_t>(v >> 8);
  out[3] = static_cast<uint8_t>(v);
}

}  // namespace alts::http2

#endif  // ALTS_HTTP2_FRAME_H_
