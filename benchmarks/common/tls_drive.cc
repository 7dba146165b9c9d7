#include "benchmarks/common/tls_drive.h"

#include <poll.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/tls_baseline.h"

namespace alts::bench {
namespace {

// kCheckChunk: bytes read (onto the stack) per TlsRead while checking a
// record; records checked here are small, and larger ones take more reads.
constexpr size_t kCheckChunk = 256;

// EventsFor returns the poll events a would-block result waits for.
short EventsFor(const TlsResult& r) { return r.status == TlsStatus::kWantRead ? POLLIN : POLLOUT; }

}  // namespace

absl::Status DriveTlsHandshake(SSL* ssl, absl::Duration stall_timeout) {
  for (;;) {
    TlsResult r = TlsHandshakeStep(ssl);
    if (r.status == TlsStatus::kDone) return absl::OkStatus();
    if (r.status == TlsStatus::kClosed) {
      return absl::UnavailableError("peer closed during the TLS handshake");
    }
    if (!r.would_block()) return absl::InternalError(absl::StrCat("TLS handshake: ", r.error));
    if (absl::Status s = WaitFd(SSL_get_fd(ssl), EventsFor(r), stall_timeout); !s.ok()) {
      return s;
    }
  }
}

absl::Status DriveTlsHandshakes(SSL* client, SSL* server, absl::Duration stall_timeout) {
  SSL* const ssl[2] = {client, server};
  bool done[2] = {false, false};
  TlsResult last[2];
  while (!done[0] || !done[1]) {
    for (int i = 0; i < 2; ++i) {
      if (done[i]) continue;
      last[i] = TlsHandshakeStep(ssl[i]);
      if (last[i].status == TlsStatus::kDone) {
        done[i] = true;
      } else if (!last[i].would_block()) {
        return absl::InternalError(
            absl::StrCat(i == 0 ? "client" : "server", " TLS handshake: ", last[i].error));
      }
    }
    if (done[0] && done[1]) break;
    pollfd p[2];
    size_t count = 0;
    for (int i = 0; i < 2; ++i) {
      if (done[i]) continue;
      p[count++] = pollfd{SSL_get_fd(ssl[i]), EventsFor(last[i]), 0};
    }
    if (absl::Status s = WaitFds(absl::MakeSpan(p, count), stall_timeout); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ExchangeTlsRecord(SSL* from, SSL* to, absl::Span<const uint8_t> plaintext,
                               absl::Duration stall_timeout) {
  for (absl::Span<const uint8_t> rest = plaintext; !rest.empty();) {
    TlsResult w = TlsWrite(from, rest);
    if (w.status == TlsStatus::kDone) {
      rest.remove_prefix(w.bytes);
      continue;
    }
    if (!w.would_block()) return absl::InternalError(absl::StrCat("SSL_write: ", w.error));
    if (absl::Status s = WaitFd(SSL_get_fd(from), EventsFor(w), stall_timeout); !s.ok()) {
      return s;
    }
  }
  uint8_t chunk[kCheckChunk];
  bool same = true;
  for (size_t have = 0; have < plaintext.size();) {
    const size_t want = std::min(sizeof(chunk), plaintext.size() - have);
    TlsResult r = TlsRead(to, absl::MakeSpan(chunk, want));
    if (r.status == TlsStatus::kDone) {
      same = same && memcmp(chunk, plaintext.data() + have, r.bytes) == 0;
      have += r.bytes;
      continue;
    }
    if (!r.would_block()) return absl::InternalError(absl::StrCat("SSL_read: ", r.error));
    if (absl::Status s = WaitFd(SSL_get_fd(to), EventsFor(r), stall_timeout); !s.ok()) {
      return s;
    }
  }
  if (!same) return absl::DataLossError("the record's plaintext differs from what was sent");
  return absl::OkStatus();
}

}  // namespace alts::bench
