#ifndef ALTS_HTTP2_FRAME_SINK_H_
#define ALTS_HTTP2_FRAME_SINK_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/types/span.h"

namespace alts::http2 {

// FrameSink takes the bytes a Session produces, in order: the owner's
// output (e.g. a transport's write queue). The session writes a frame as one
// or two calls (header, then payload), never holding bytes itself.
class FrameSink {
 public:
  virtual ~FrameSink() = default;

  // Write appends `bytes` to the output. It must take all of them (the
  // session bounds what it produces: flow control for DATA, flood limits for
  // replies to the peer's frames).
  virtual void Write(absl::Span<const uint8_t> bytes) = 0;
};

// StringSink collects output in a string (tests, benchmarks, tools).
class StringSink final : public FrameSink {
 public:
  void Write(absl::Span<const uint8_t> bytes) override {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  // Take returns what was written and clears it.
  std::string Take() {
    std::string s;
    s.swap(out);
    return s;
  }

  std::string out;
};

}  // namespace alts::http2

#endif  // ALTS_HTTP2_FRAME_SINK_H_
