#ifndef ALTS_BENCHMARKS_COMMON_TLS_DRIVE_H_
#define ALTS_BENCHMARKS_COMMON_TLS_DRIVE_H_

// Driving the TLS baseline's non-blocking SSL objects (tls_baseline.h) to
// the end of a handshake or of one record, waiting on their fds (SSL_get_fd)
// whenever they would block. Every wait is bounded by a stall timeout, so a
// stuck peer fails the run instead of hanging it. Nothing here allocates
// except to describe an error.

#include <openssl/ssl.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace alts::bench {

// DriveTlsHandshake runs one end's handshake to completion; the peer runs
// elsewhere (another thread). Returns kUnavailable if the peer closes
// first, kInternal for a TLS error, kDeadlineExceeded after `stall_timeout`
// without progress.
absl::Status DriveTlsHandshake(SSL* ssl, absl::Duration stall_timeout);

// DriveTlsHandshakes runs both ends' handshakes in this thread, stepping
// each in turn and waiting on both fds only when neither can move. Returns
// kInternal naming the side for a TLS error or close, kDeadlineExceeded
// after `stall_timeout` without progress.
absl::Status DriveTlsHandshakes(SSL* client, SSL* server, absl::Duration stall_timeout);

// ExchangeTlsRecord writes `plaintext` with `from` and reads it with `to`,
// both in this thread (it must fit the socket buffers), and checks that it
// arrived unchanged. Returns kDataLoss if it differs, kInternal for a TLS
// error or close, kDeadlineExceeded after `stall_timeout` without progress.
absl::Status ExchangeTlsRecord(SSL* from, SSL* to, absl::Span<const uint8_t> plaintext,
                               absl::Duration stall_timeout);

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_TLS_DRIVE_H_
