#ifndef ALTS_HANDSHAKER_HANDSHAKE_MESSAGE_H_
#define ALTS_HANDSHAKER_HANDSHAKE_MESSAGE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "google/protobuf/message_lite.h"
#include "handshaker/handshake_limits.h"
#include "handshaker/proto/alts_handshake.pb.h"

namespace alts {

// Handshake message framing (docs/handshake.md section 2.1):
//   type (1 byte) || length (3 bytes, big-endian) || body (length bytes)

// MessageType is the first byte of a framed handshake message.
enum class MessageType : uint8_t {
  kClientInit = 1,
  kServerInit = 2,
  kServerFinished = 3,
  kClientFinished = 4,
  kServerRetry = 5,
};

// kMessageHeaderSize is the type byte plus the 3-byte length.
inline constexpr size_t kMessageHeaderSize = 4;

// MessageTypeName returns a printable name ("ClientInit", ...).
const char* MessageTypeName(MessageType type);

// AppendMessage frames `body` as a message of `type` at the end of `out`.
// Returns kInternal if the body does not serialize or exceeds
// kMaxHandshakeMessageSize (our own messages never do).
absl::Status AppendMessage(MessageType type, const google::protobuf::MessageLite& body,
                           std::string* out);
// AppendRawMessage frames raw body bytes (Finished MACs, the empty retry).
void AppendRawMessage(MessageType type, absl::Span<const uint8_t> body, std::string* out);

// MessageReader cuts one framed message out of a byte stream that may arrive
// in any number of pieces. It buffers at most one message: the header is
// checked (known type, length <= kMaxHandshakeMessageSize) before anything is
// allocated for the body. When a whole message is in the caller's input it
// is used in place, without copying.
class MessageReader {
 public:
  // Consume takes bytes from the front of `in` up to the end of the current
  // message and returns how many it took (all of `in` if the message is
  // still incomplete). Errors: kInvalidArgument for an unknown type,
  // kResourceExhausted for a length over kMaxHandshakeMessageSize. Call
  // Reset() after handling a ready message before consuming more.
  absl::StatusOr<size_t> Consume(absl::Span<const uint8_t> in);

  // ready returns true when a whole message is available.
  bool ready() const { return ready_; }
  // type / message / body describe the ready message. message() is the
  // framed bytes (for the transcript); both views stay valid until the next
  // Consume or Reset, and only as long as the input passed to Consume.
  MessageType type() const { return type_; }
  absl::Span<const uint8_t> message() const { return message_; }
  absl::Span<const uint8_t> body() const { return message_.subspan(kMessageHeaderSize); }
  // buffered returns how many bytes of an incomplete message are held.
  size_t buffered() const { return buffer_.size(); }

  // Reset forgets the ready message.
  void Reset();

 private:
  std::string buffer_;
  absl::Span<const uint8_t> message_;
  MessageType type_ = MessageType::kClientInit;
  bool ready_ = false;
};

// ParseClientInit parses and checks a ClientInit body (docs/handshake.md
// section 2.2): kInvalidArgument for a malformed message or bad field,
// kResourceExhausted for chains or tickets over their limits.
absl::Status ParseClientInit(absl::Span<const uint8_t> body, handshake::ClientInit* out);

// ParseServerInit parses and checks a ServerInit body; errors as above.
absl::Status ParseServerInit(absl::Span<const uint8_t> body, handshake::ServerInit* out);

}  // namespace alts

#endif  // ALTS_HANDSHAKER_HANDSHAKE_MESSAGE_H_
