#ifndef ALTS_HTTP2_HEADER_VALIDATION_H_
#define ALTS_HTTP2_HEADER_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "http2/hpack/header_field.h"

namespace alts::http2 {

// HeaderBlockKind says what a received header block must be.
enum class HeaderBlockKind : uint8_t {
  kRequest,   // a client's request headers (server side)
  kResponse,  // a server's response headers, informational (1xx) or final
  kTrailers,  // trailers: no pseudo-header fields
};

// PseudoHeaders are a validated block's pseudo-header fields (views into the
// block) and its content-length (-1 when absent).
struct PseudoHeaders {
  absl::string_view method;
  absl::string_view scheme;
  absl::string_view authority;
  absl::string_view path;
  absl::string_view status;
  int64_t content_length = -1;
};

// ValidateHeaderBlock checks a decoded block against RFC 9113 8.2 and 8.3 and
// fills `out`: names lowercase visible ASCII without colons (but for a
// leading one on pseudo-header fields); values without NUL, CR or LF and
// without leading or trailing whitespace; no connection-specific fields
// (connection, keep-alive, proxy-connection, transfer-encoding, upgrade);
// `te` only as "trailers"; pseudo-header fields only those defined for the
// kind, each once, all before the regular fields; requests with :method,
// :scheme and a non-empty :path (CONNECT: :authority only); responses with a
// three-digit :status; content-length digits only, repeated only with the
// same value. Returns kInvalidArgument naming the first violation (the
// stream is malformed: a stream error of type PROTOCOL_ERROR).
absl::Status ValidateHeaderBlock(HeaderBlockKind kind,
                                 absl::Span<const hpack::HeaderField> fields,
                                 PseudoHeaders* out);

// ValidFieldName returns true if `name` is a legal regular field name
// (RFC 9113 8.2.1; pseudo-header names are checked separately).
bool ValidFieldName(absl::string_view name);

// ValidFieldValue returns true if `value` is a legal field value (RFC 9113
// 8.2.1).
bool ValidFieldValue(absl::string_view value);

}  // namespace alts::http2

#endif  // ALTS_HTTP2_HEADER_VALIDATION_H_
