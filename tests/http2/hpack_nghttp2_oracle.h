#ifndef ALTS_TESTS_HTTP2_HPACK_NGHTTP2_ORACLE_H_
#define ALTS_TESTS_HTTP2_HPACK_NGHTTP2_ORACLE_H_

// nghttp2's HPACK inflater as an oracle: decodes a block into a header list,
// for the tests and fuzzers that check our encoder's output against an
// independent decoder.

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"

namespace alts::hpack::testing {

// NghttpInflater owns one nghttp2 inflater (one connection direction).
class NghttpInflater {
 public:
  NghttpInflater() { nghttp2_hd_inflate_new(&inflater_); }
  ~NghttpInflater() { nghttp2_hd_inflate_del(inflater_); }
  NghttpInflater(const NghttpInflater&) = delete;
  NghttpInflater& operator=(const NghttpInflater&) = delete;

  // SetMaxTableSize acknowledges our SETTINGS_HEADER_TABLE_SIZE.
  void SetMaxTableSize(uint32_t size) { nghttp2_hd_inflate_change_table_size(inflater_, size); }

  // Inflate decodes one whole block, appending its fields to *out. Returns
  // kInvalidArgument with nghttp2's error text if nghttp2 refuses it.
  absl::Status Inflate(absl::Span<const uint8_t> block,
                       std::vector<std::pair<std::string, std::string>>* out) {
    const uint8_t* p = block.data();
    size_t left = block.size();
    for (;;) {
      nghttp2_nv nv;
      int flags = 0;
      const ssize_t rv = nghttp2_hd_inflate_hd2(inflater_, &nv, &flags, p, left, /*in_final=*/1);
      if (rv < 0) {
        return absl::InvalidArgumentError(absl::StrCat("nghttp2: ", nghttp2_strerror(static_cast<int>(rv))));
      }
      p += rv;
      left -= static_cast<size_t>(rv);
      if (flags & NGHTTP2_HD_INFLATE_EMIT) {
        out->emplace_back(std::string(reinterpret_cast<const char*>(nv.name), nv.namelen),
                          std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen));
      }
      if (flags & NGHTTP2_HD_INFLATE_FINAL) {
        nghttp2_hd_inflate_end_headers(inflater_);
        return absl::OkStatus();
      }
      if (rv == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) {
        return absl::InternalError("nghttp2: inflater made no progress");
      }
    }
  }

 private:
  nghttp2_hd_inflater* inflater_ = nullptr;
};

}  // namespace alts::hpack::testing

#endif  // ALTS_TESTS_HTTP2_HPACK_NGHTTP2_ORACLE_H_
