// Fuzzes a client Session: the input (after a config and a seed byte, see
// http2_session_fuzz_common.h) is what a server sends after its first
// SETTINGS (empty, added by the fuzzer), with requests 1, 3 and 5 already
// submitted. Delivered in input-chosen pieces to a handler that sends,
// resets, opens more streams, pings and goes away as the input says.
// Aborts on any broken invariant.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/http2_session_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string preface("\0\0\0\x04\0\0\0\0\0", 9);
  alts::http2::fuzz::Run(alts::http2::Role::kClient, data, size, preface);
  return 0;
}
