// Fuzzes a server Session: the input (after a config and a seed byte, see
// http2_session_fuzz_common.h) is what a client sends after its preface
// (the magic and an empty SETTINGS, which the fuzzer adds), delivered in
// input-chosen pieces to a handler that answers, streams, resets, pings and
// goes away as the input says. Aborts on any broken invariant.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/fuzz/http2_session_fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string preface =
      absl::StrCat(alts::http2::kConnectionPreface, std::string("\0\0\0\x04\0\0\0\0\0", 9));
  alts::http2::fuzz::Run(alts::http2::Role::kServer, data, size, preface);
  return 0;
}
