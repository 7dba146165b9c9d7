#ifndef ALTS_RPC_COMPRESSION_H_
#define ALTS_RPC_COMPRESSION_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace alts::rpc {

// kAcceptEncoding is what we announce in grpc-accept-encoding.
inline constexpr absl::string_view kAcceptEncoding = "identity,gzip";

// SupportedEncoding returns true for the message encodings we can decode
// ("identity" and "gzip").
bool SupportedEncoding(absl::string_view encoding);

// GzipCompress compresses `in` (gzip format, as gRPC's "gzip" encoding)
// into per-thread storage and returns a view of it, valid until the next
// call on this thread. kInternal if zlib fails.
absl::StatusOr<absl::Span<const uint8_t>> GzipCompress(absl::Span<const uint8_t> in);

// GzipDecompress decompresses `in` into per-thread storage and returns a
// view of it, valid until the next call on this thread. Stops with
// kResourceExhausted as soon as the output would exceed `max_out` (a small
// compressed message must not inflate without bound), kInternal for corrupt
// or truncated input.
absl::StatusOr<absl::Span<const uint8_t>> GzipDecompress(absl::Span<const uint8_t> in,
                                                         size_t max_out);

}  // namespace alts::rpc

#endif  // ALTS_RPC_COMPRESSION_H_
