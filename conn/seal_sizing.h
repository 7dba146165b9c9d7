#ifndef ALTS_CONN_SEAL_SIZING_H_
#define ALTS_CONN_SEAL_SIZING_H_

#include <cstddef>

#include "alts/record_protector.h"
#include "frame/frame_format.h"

namespace alts {

// PlaintextFitting returns how much plaintext `protector` can seal into
// `room` bytes of output: whole max-size frames plus one shorter frame in
// what is left (if it has room for more than the overhead).
inline size_t PlaintextFitting(const RecordProtector& protector, size_t room) {
  const size_t max_frame = protector.max_frame_size();
  const size_t rest = room % max_frame;
  return room / max_frame * protector.max_plaintext_per_frame() +
         (rest > kFrameOverhead ? rest - kFrameOverhead : 0);
}

}  // namespace alts

#endif  // ALTS_CONN_SEAL_SIZING_H_
