#ifndef ALTS_BENCHMARKS_COMMON_TLS_BUFFERED_BIO_H_
#define ALTS_BENCHMARKS_COMMON_TLS_BUFFERED_BIO_H_

// A buffering socket BIO for the TLS baseline, so that BoringSSL gets the
// same batching of system calls as the ALTS connection it is compared with.
//
// With a plain socket BIO (SSL_set_fd) BoringSSL makes one write() per
// record and two read()s per record (the 5-byte header, then the body): for
// bulk data that is a system call per 8 KiB, where the ALTS connection seals
// a whole buffer of frames and sends it with one sendmsg, and reads a whole
// buffer with one recv. This BIO is what a careful BoringSSL user puts in
// between instead: reads fill a read-ahead buffer with one recv and are
// served from it; writes are copied into a coalescing buffer that goes out
// with one send when it is full or when the caller flushes (BIO_flush, which
// BoringSSL also calls at the end of each handshake flight). The cost is a
// copy of the ciphertext on each side, which is inherent to BoringSSL's
// record API (SSL_read/SSL_write own their record buffers).

#include <openssl/ssl.h>

#include <cstddef>

#include "absl/status/status.h"
#include "benchmarks/common/tls_baseline.h"

namespace alts::bench {

// kMaxBufferedBioSize bounds each of the BIO's buffers: larger ones only
// add memory (a socket takes a few hundred KiB at a time at most).
inline constexpr size_t kMaxBufferedBioSize = 16 * 1024 * 1024;

// BufferedBioOptions sizes the two buffers.
struct BufferedBioOptions {
  // read_ahead: bytes asked of each recv (and held until BoringSSL takes them).
  size_t read_ahead = 256 * 1024;
  // write_coalesce: ciphertext gathered before a send.
  size_t write_coalesce = 256 * 1024;
};

// AttachBufferedBio replaces `ssl`'s BIOs with one buffered BIO over `fd`
// (non-blocking, owned by the caller, returned by SSL_get_fd). Returns
// kInvalidArgument for a negative fd or a buffer size of 0 or above
// kMaxBufferedBioSize, kInternal if BoringSSL fails.
absl::Status AttachBufferedBio(SSL* ssl, int fd, const BufferedBioOptions& options = {});

// FlushTls sends what `ssl`'s buffered BIO holds: kDone when all of it went
// out, kWantWrite if the socket would block (call again once writable),
// kError if the send failed. With any other BIO it returns kDone.
TlsResult FlushTls(SSL* ssl);

// TlsReadDrained returns true if `ssl` holds nothing more to read without a
// new readiness event: no decrypted bytes pending, an empty read-ahead
// buffer, and its last recv came back short of the buffer (so the socket had
// no more). A level-triggered event loop stops reading there, as the ALTS
// connection does after a short read.
bool TlsReadDrained(const SSL* ssl);

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_TLS_BUFFERED_BIO_H_
