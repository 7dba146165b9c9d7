#include "benchmarks/common/tls_buffered_bio.h"

#include <errno.h>
#include <sys/socket.h>

#include <openssl/bio.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace alts::bench {
namespace {

// BioState is one buffered BIO's state (BIO_get_data).
struct BioState {
  int fd = -1;
  std::unique_ptr<uint8_t[]> in;  // read-ahead buffer, in[in_pos, in_end) unread
  size_t in_cap = 0;
  size_t in_pos = 0;
  size_t in_end = 0;
  bool last_read_short = false;
  std::unique_ptr<uint8_t[]> out;  // out[out_pos, out_end) not yet sent
  size_t out_cap = 0;
  size_t out_pos = 0;
  size_t out_end = 0;
};

BioState* State(BIO* bio) { return static_cast<BioState*>(BIO_get_data(bio)); }

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

// SendSome sends the unsent output once. Returns 1 if something was sent or
// nothing was left, 0 if the socket would block (retry flag set), -1 on an
// error (errno kept).
int SendSome(BIO* bio, BioState* s) {
  if (s->out_pos == s->out_end) return 1;
  ssize_t n;
  do {
    n = send(s->fd, s->out.get() + s->out_pos, s->out_end - s->out_pos, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (WouldBlock(errno)) {
      BIO_set_retry_write(bio);
      return 0;
    }
    return -1;
  }
  s->out_pos += static_cast<size_t>(n);
  if (s->out_pos == s->out_end) s->out_pos = s->out_end = 0;
  return 1;
}

int BioWrite(BIO* bio, const char* data, int len) {
  BIO_clear_retry_flags(bio);
  BioState* s = State(bio);
  if (len <= 0) return 0;
  if (s->out_end == s->out_cap) {
    // Full: send it (as much as the socket takes) and move the rest to the
    // front.
    const int r = SendSome(bio, s);
    if (r <= 0) return -1;
    if (s->out_pos > 0) {
      std::memmove(s->out.get(), s->out.get() + s->out_pos, s->out_end - s->out_pos);
      s->out_end -= s->out_pos;
      s->out_pos = 0;
    }
    if (s->out_end == s->out_cap) {
      BIO_set_retry_write(bio);
      return -1;
    }
  }
  const size_t n = std::min(static_cast<size_t>(len), s->out_cap - s->out_end);
  std::memcpy(s->out.get() + s->out_end, data, n);
  s->out_end += n;
  return static_cast<int>(n);
}

int BioRead(BIO* bio, char* out, int len) {
  BIO_clear_retry_flags(bio);
  BioState* s = State(bio);
  if (len <= 0) return 0;
  if (s->in_pos == s->in_end) {
    ssize_t n;
    do {
      n = recv(s->fd, s->in.get(), s->in_cap, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (WouldBlock(errno)) {
        s->last_read_short = true;
        BIO_set_retry_read(bio);
      }
      return -1;
    }
    if (n == 0) return 0;  // EOF
    s->in_pos = 0;
    s->in_end = static_cast<size_t>(n);
    s->last_read_short = s->in_end < s->in_cap;
  }
  const size_t n = std::min(static_cast<size_t>(len), s->in_end - s->in_pos);
  std::memcpy(out, s->in.get() + s->in_pos, n);
  s->in_pos += n;
  return static_cast<int>(n);
}

long BioCtrl(BIO* bio, int cmd, long larg, void* parg) {
  BioState* s = State(bio);
  switch (cmd) {
    case BIO_CTRL_FLUSH: {
      BIO_clear_retry_flags(bio);
      while (s->out_pos < s->out_end) {
        const int r = SendSome(bio, s);
        if (r <= 0) return r < 0 ? -1 : 0;
      }
      return 1;
    }
    case BIO_CTRL_PENDING:
      return static_cast<long>(s->in_end - s->in_pos);
    case BIO_CTRL_WPENDING:
      return static_cast<long>(s->out_end - s->out_pos);
    case BIO_C_GET_FD:
      if (parg != nullptr) *static_cast<int*>(parg) = s->fd;
      return s->fd;
    default:
      return 0;
  }
}

int BioDestroy(BIO* bio) {
  delete State(bio);
  BIO_set_data(bio, nullptr);
  BIO_set_init(bio, 0);
  return 1;
}

// MethodType is the type of our BIOs: a fresh index, with
// BIO_TYPE_DESCRIPTOR so SSL_get_fd finds the fd through BIO_C_GET_FD.
int MethodType() {
  static const int type = BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR;
  return type;
}

// Method returns the process-wide BIO_METHOD, made once (nullptr if
// BoringSSL failed to make it).
const BIO_METHOD* Method() {
  static const BIO_METHOD* method = []() -> const BIO_METHOD* {
    BIO_METHOD* m = BIO_meth_new(MethodType(), "buffered socket");
    if (m == nullptr || !BIO_meth_set_write(m, BioWrite) || !BIO_meth_set_read(m, BioRead) ||
        !BIO_meth_set_ctrl(m, BioCtrl) || !BIO_meth_set_destroy(m, BioDestroy)) {
      return nullptr;
    }
    return m;
  }();
  return method;
}

// FindState returns the state of `ssl`'s BIO if it is one of ours.
BioState* FindState(const SSL* ssl) {
  BIO* bio = SSL_get_wbio(ssl);
  if (bio == nullptr || BIO_method_type(bio) != MethodType()) return nullptr;
  return State(bio);
}

}  // namespace

absl::Status AttachBufferedBio(SSL* ssl, int fd, const BufferedBioOptions& options) {
  if (fd < 0) return absl::InvalidArgumentError(absl::StrCat("AttachBufferedBio: bad fd ", fd));
  for (size_t size : {options.read_ahead, options.write_coalesce}) {
    if (size == 0 || size > kMaxBufferedBioSize || size > INT_MAX) {
      return absl::InvalidArgumentError(
          absl::StrCat("AttachBufferedBio: buffer size ", size, " outside [1, ",
                       kMaxBufferedBioSize, "]"));
    }
  }
  const BIO_METHOD* method = Method();
  if (method == nullptr) return absl::InternalError("BIO_meth_new failed");
  BIO* bio = BIO_new(method);
  if (bio == nullptr) return absl::InternalError("BIO_new failed");
  auto state = std::make_unique<BioState>();
  state->fd = fd;
  // Uninitialised on purpose: only the pages traffic touches are committed.
  state->in.reset(new uint8_t[options.read_ahead]);
  state->in_cap = options.read_ahead;
  state->out.reset(new uint8_t[options.write_coalesce]);
  state->out_cap = options.write_coalesce;
  BIO_set_data(bio, state.release());
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // one reference, used for both directions
  return absl::OkStatus();
}

TlsResult FlushTls(SSL* ssl) {
  TlsResult result;
  BioState* s = FindState(ssl);
  if (s == nullptr || s->out_pos == s->out_end) {
    result.status = TlsStatus::kDone;
    return result;
  }
  const int r = BIO_flush(SSL_get_wbio(ssl));
  if (r > 0) {
    result.status = TlsStatus::kDone;
  } else if (BIO_should_retry(SSL_get_wbio(ssl))) {
    result.status = TlsStatus::kWantWrite;
  } else {
    result.status = TlsStatus::kError;
    result.error = absl::StrCat("send: ", std::strerror(errno));
  }
  return result;
}

bool TlsReadDrained(const SSL* ssl) {
  if (SSL_pending(ssl) > 0) return false;
  const BioState* s = FindState(ssl);
  if (s == nullptr) return false;
  return s->in_pos == s->in_end && s->last_read_short;
}

}  // namespace alts::bench
