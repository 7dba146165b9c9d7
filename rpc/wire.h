#ifndef ALTS_RPC_WIRE_H_
#define ALTS_RPC_WIRE_H_

// gRPC's wire conventions over HTTP/2 (gRPC's PROTOCOL-HTTP2 document):
// status codes, grpc-message percent-encoding, grpc-timeout, the HTTP and
// HTTP/2 error mappings, and custom metadata. No I/O.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "http2/frame.h"

namespace alts::rpc {

// kGrpcContentType is the content-type of every gRPC request and response;
// "application/grpc+proto" and other "application/grpc+..." are accepted.
inline constexpr absl::string_view kGrpcContentType = "application/grpc";

// kDefaultMaxReceiveMessageSize is gRPC's default limit on a received
// message (4 MiB); a larger one ends the call with RESOURCE_EXHAUSTED.
inline constexpr size_t kDefaultMaxReceiveMessageSize = 4 * 1024 * 1024;
// kDefaultMaxPartialMessageBytesPerConnection bounds what partially received
// messages hold on one server connection: four messages of the default
// limit in assembly at once (received DATA is never held anywhere else).
inline constexpr size_t kDefaultMaxPartialMessageBytesPerConnection = 16 * 1024 * 1024;
// kMaxMessageSize is the largest message the 5-byte prefix can describe
// that we ever accept (2^32-1 would let one call make us allocate 4 GiB).
inline constexpr size_t kMaxMessageSize = 1u << 30;
// kMessagePrefixSize is the compressed flag plus the 4-byte length.
inline constexpr size_t kMessagePrefixSize = 5;

// GrpcCode returns the gRPC status code number of `code` (the same numbers:
// absl::StatusCode follows gRPC's codes 0-16).
inline int GrpcCode(absl::StatusCode code) { return static_cast<int>(code); }

// StatusCodeFromGrpc maps a gRPC status code number to absl::StatusCode
// (unknown numbers: kUnknown, as gRPC does).
absl::StatusCode StatusCodeFromGrpc(int64_t code);

// ParseGrpcStatus parses a grpc-status value ("0".."16"); kUnknown for
// anything else.
absl::StatusCode ParseGrpcStatus(absl::string_view value);

// StatusCodeFromHttp maps a non-200 HTTP status of a response without
// grpc-status to a gRPC code (gRPC's http-grpc-status-mapping).
absl::StatusCode StatusCodeFromHttp(int http_status);

// StatusCodeFromHttp2Error maps an RST_STREAM / GOAWAY error code received
// before the call's status to a gRPC code (as gRPC's HTTP/2 transports do).
absl::StatusCode StatusCodeFromHttp2Error(http2::ErrorCode code);

// PercentEncode encodes a grpc-message value: bytes outside 0x20-0x7e and
// '%' become %XX.
std::string PercentEncode(absl::string_view message);
// PercentDecode decodes a grpc-message value; malformed escapes are kept as
// they are (gRPC: never fail a call over its message).
std::string PercentDecode(absl::string_view encoded);

// EncodeTimeout formats a grpc-timeout value for `timeout` (at most 8
// digits, in the finest unit that fits, rounded up; non-positive: "1n").
std::string EncodeTimeout(absl::Duration timeout);
// ParseTimeout parses a grpc-timeout value; nullopt if malformed.
std::optional<absl::Duration> ParseTimeout(absl::string_view value);

// IsReservedHeader returns true for header names the transport owns, which
// custom metadata must not carry: pseudo-headers, content-type, te,
// user-agent, the grpc- names gRPC reserves, and connection-specific ones.
bool IsReservedHeader(absl::string_view name);

// IsBinaryHeader returns true for "-bin" keys, whose values are binary and
// travel base64-encoded.
inline bool IsBinaryHeader(absl::string_view name) {
  return name.size() > 4 && name.substr(name.size() - 4) == "-bin";
}

// Metadata is a call's custom metadata: an ordered list of key/value pairs
// (keys lowercase; values of "-bin" keys are raw bytes, encoded on the wire
// by the transport). Copyable; owns its strings.
class Metadata {
 public:
  using Entry = std::pair<std::string, std::string>;

  // Add appends an entry (duplicates keep their order).
  void Add(std::string key, std::string value) {
    entries_.emplace_back(std::move(key), std::move(value));
  }
  // Get returns the first value for `key`, or nullopt.
  std::optional<absl::string_view> Get(absl::string_view key) const;
  // GetAll returns every value for `key` in order.
  std::vector<absl::string_view> GetAll(absl::string_view key) const;
  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  void Clear() { entries_.clear(); }

 private:
  std::vector<Entry> entries_;
};

// ValidateMetadata checks custom metadata before it is sent: keys non-empty,
// lowercase, of [0-9a-z_.-]; not reserved (IsReservedHeader); values of
// non-binary keys printable ASCII (0x20-0x7e) without leading or trailing
// spaces. Returns kInternal naming the first bad entry (gRPC fails such a
// call with INTERNAL).
absl::Status ValidateMetadata(const Metadata& metadata);

// Base64 helpers for "-bin" values: encoding is unpadded (as gRPC sends),
// decoding accepts padded and unpadded values; nullopt if malformed.
std::string EncodeBinaryHeader(absl::string_view raw);
std::optional<std::string> DecodeBinaryHeader(absl::string_view encoded);

}  // namespace alts::rpc

#endif  // ALTS_RPC_WIRE_H_
