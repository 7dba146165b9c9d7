#include "rpc/compression.h"

#include <zlib.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace alts::rpc {
namespace {

// kGzipWindowBits selects the gzip wrapper (15 window bits + 16).
constexpr int kGzipWindowBits = 15 + 16;

std::vector<uint8_t>& Scratch() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

}  // namespace

bool SupportedEncoding(absl::string_view encoding) {
  return encoding == "identity" || encoding == "gzip";
}

absl::StatusOr<absl::Span<const uint8_t>> GzipCompress(absl::Span<const uint8_t> in) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("gzip: deflateInit2 failed");
  }
  std::vector<uint8_t>& out = Scratch();
  out.resize(deflateBound(&zs, in.size()));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  const size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrCat("gzip: deflate failed (", rc, ")"));
  return absl::MakeConstSpan(out.data(), produced);
}

absl::StatusOr<absl::Span<const uint8_t>> GzipDecompress(absl::Span<const uint8_t> in,
                                                         size_t max_out) {
  z_stream zs{};
  if (inflateInit2(&zs, kGzipWindowBits) != Z_OK) {
    return absl::InternalError("gzip: inflateInit2 failed");
  }
  std::vector<uint8_t>& out = Scratch();
  if (out.size() < 4096) out.resize(4096);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  size_t produced = 0;
  int rc = Z_OK;
  while (true) {
    if (produced == out.size()) {
      if (out.size() > max_out) break;
      out.resize(std::min(out.size() * 2, max_out + 1));
    }
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(out.size() - produced);
    rc = inflate(&zs, Z_NO_FLUSH);
    produced = zs.total_out;
    if (rc == Z_STREAM_END) break;
    if (rc != Z_OK && rc != Z_BUF_ERROR) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // truncated
    if (produced > max_out) break;
  }
  inflateEnd(&zs);
  if (produced > max_out) {
    return absl::ResourceExhaustedError(
        absl::StrCat("decompressed message exceeds the limit of ", max_out, " bytes"));
  }
  if (rc != Z_STREAM_END) {
    return absl::InternalError(absl::StrCat("gzip: corrupt or truncated message (", rc, ")"));
  }
  return absl::MakeConstSpan(out.data(), produced);
}

}  // namespace alts::rpc
