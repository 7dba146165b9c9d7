#ifndef ALTS_HANDSHAKER_CLOCK_H_
#define ALTS_HANDSHAKER_CLOCK_H_

#include "absl/time/time.h"

namespace alts {

// Clock tells the time to everything in the handshake layer that checks a
// deadline or a validity window, so tests can inject a fake one. Now() must
// be safe to call from several threads.
class Clock {
 public:
  virtual ~Clock() = default;
  // Now returns the current time.
  virtual absl::Time Now() const = 0;
};

// SystemClock returns the process-wide wall clock (absl::Now()).
const Clock& SystemClock();

}  // namespace alts

#endif  // ALTS_HANDSHAKER_CLOCK_H_
