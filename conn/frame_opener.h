#ifndef ALTS_CONN_FRAME_OPENER_H_
#define ALTS_CONN_FRAME_OPENER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "alts/record_protector.h"

namespace alts {

// OpenedInput is what OpenFramesInPlace did with a buffer of received bytes.
struct OpenedInput {
  // The plaintext of every frame opened, coalesced at buf[0, plaintext).
  size_t plaintext = 0;
  // Bytes of whole frames consumed; buf[consumed, total) is the start of an
  // incomplete frame (kept by the caller) unless `error` is set.
  size_t consumed = 0;
  // The incomplete frame's wire size once its length field is in, else 0.
  size_t pending_frame_size = 0;
  // The first bad frame's error. The plaintext before it is still valid and
  // should be delivered before the connection fails.
  absl::Status error;
};

namespace frame_opener_internal {

// OpenFrames runs `open_one(consumed, plaintext)` (which returns
// OpenNext's or OpenNextInto's result for the frame at offset `consumed`,
// its plaintext going to offset `plaintext` of the output) until the input
// runs out, a frame is incomplete or one fails; `move_to` (nullptr: none)
// is where a plaintext opened elsewhere is moved to be coalesced.
template <typename OpenOne>
OpenedInput OpenFrames(size_t total, uint8_t* move_to, OpenOne open_one) {
  OpenedInput out;
  while (out.consumed < total) {
    absl::StatusOr<OpenResult> r = open_one(out.consumed, out.plaintext);
    if (!r.ok()) {
      out.error = r.status();
      return out;
    }
    if (r->consumed == 0) {
      out.pending_frame_size = r->pending_frame_size;
      return out;
    }
    if (move_to != nullptr && !r->plaintext.empty() &&
        r->plaintext.data() != move_to + out.plaintext) {
      memmove(move_to + out.plaintext, r->plaintext.data(), r->plaintext.size());
    }
    out.plaintext += r->plaintext.size();
    out.consumed += r->consumed;
  }
  return out;
}

}  // namespace frame_opener_internal

// OpenFramesInPlace opens every complete frame in buf[0, total) and moves
// their plaintext to the front of buf, so the layer above gets one span per
// read. Never allocates.
inline OpenedInput OpenFramesInPlace(RecordProtector& protector, uint8_t* buf, size_t total) {
  return frame_opener_internal::OpenFrames(total, buf, [&](size_t consumed, size_t) {
    return protector.OpenNext(absl::MakeSpan(buf + consumed, total - consumed));
  });
}

// OpenFramesInto opens every complete frame in in[0, total) straight into
// out[0, ...), coalesced: out must hold `total` bytes and not overlap `in`.
// `in` keeps its ciphertext (so the incomplete frame's bytes are still at
// in[consumed, total)). Saves OpenFramesInPlace's move of every plaintext
// byte, at the price of a second buffer. Never allocates.
inline OpenedInput OpenFramesInto(RecordProtector& protector, const uint8_t* in, size_t total,
                                  uint8_t* out_buf) {
  return frame_opener_internal::OpenFrames(
      total, nullptr, [&](size_t consumed, size_t plaintext) {
        return protector.OpenNextInto(absl::MakeConstSpan(in + consumed, total - consumed),
                                      absl::MakeSpan(out_buf + plaintext, total - plaintext));
      });
}

}  // namespace alts

#endif  // ALTS_CONN_FRAME_OPENER_H_
