#ifndef ALTS_TESTS_ALTS_RECORD_TEST_UTIL_H_
#define ALTS_TESTS_ALTS_RECORD_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace alts {
namespace testing_util {

// Bytes parses a hex string.
inline std::vector<uint8_t> Bytes(absl::string_view hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// Text returns the bytes of a string.
inline std::vector<uint8_t> Text(absl::string_view text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

// Hex renders bytes as lowercase hex.
inline std::string Hex(absl::Span<const uint8_t> bytes) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

// Concat joins byte vectors.
inline std::vector<uint8_t> Concat(std::initializer_list<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (const std::vector<uint8_t>& part : parts) out.insert(out.end(), part.begin(), part.end());
  return out;
}

// Spec section 5.2, vector set A: ALTSRP_GCM_AES128.
inline constexpr char kKeyA[] = "1f8b080000096e8802ffe2d24cce4f49";
inline constexpr char kA_Client0[] =
    "22000000060000009773d4c2ceb633af4b1fe08c0cb52e9ef1609948ed363deda1b731a9f188";
inline constexpr char kA_Client1[] =
    "2200000006000000f4c859d714f2c8185de73ba7799676d700ee5b8e0b45d3d52623d2f5d86b";
inline constexpr char kA_Server0[] =
    "22000000060000003cfd6f77a53785449ed08bf49e6f31a9aa1368d34786f91746b3ba4ab555";
inline constexpr char kA_Server1[] =
    "22000000060000005fb081c69191c7798c08159aceead39f8603791d6d196559f7d16b09dfdd";

// Spec section 5.2, vector set B: ALTSRP_GCM_AES128_REKEY, key 00 01 .. 2b,
// plaintext "Hello, ALTS!".
inline std::vector<uint8_t> KeyB() {
  std::vector<uint8_t> key(44);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  return key;
}
inline constexpr char kB_Client0[] =
    "200000000600000017f9b12df8b3b90ae981b8da0735017b695bcc6e4fb959e908b81c17";
inline constexpr char kB_Client1[] =
    "200000000600000079cb68307f9bbf101efa59cb32d437bcddc6733ffd9b82e4f72bde33";
inline constexpr char kB_Client65536[] =
    "2000000006000000f58b83ea628a03c212b4f06dc2d6bb12d0a5804bbc1353805a91c85c";
inline constexpr char kB_Server0[] =
    "2000000006000000fea178bcd2c89aa9b61a32a29ceefa5b6c55b743bf531451bf717dd8";
inline constexpr char kB_Server1[] =
    "200000000600000042fbc3cadb1ac386da86c27d72ac07cf8b8726a41bb69ce71b2321a4";
inline constexpr char kB_Server65536[] =
    "20000000060000002735834b327730cb66c3b4527a8100986b80e653bb473b66dfedad86";
inline constexpr char kB_ClientEmpty0[] = "1400000006000000c8ed3c729b1e1529c689e95019a8d7fb";

}  // namespace testing_util
}  // namespace alts

#endif  // ALTS_TESTS_ALTS_RECORD_TEST_UTIL_H_
