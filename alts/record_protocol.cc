#include "alts/record_protocol.h"

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace alts {
namespace {

// Key material each protocol uses (spec sections 3 and 4).
constexpr size_t kAes128GcmKeySize = 16;
constexpr size_t kAes128GcmRekeyKeySize = 32 + 12;  // kdf_key || nonce_mask
// Counter bytes that carry on increment (spec section 2).
constexpr size_t kAes128GcmOverflowSize = 5;
constexpr size_t kAes128GcmRekeyOverflowSize = 8;

}  // namespace

absl::StatusOr<RecordProtocol> ParseRecordProtocol(std::string_view name) {
  if (name == kAes128GcmRekeyName) return RecordProtocol::kAes128GcmRekey;
  if (name == kAes128GcmName) return RecordProtocol::kAes128Gcm;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported record protocol \"", absl::CHexEscape(absl::string_view(name.data(), name.size())), "\""));
}

std::string_view RecordProtocolName(RecordProtocol protocol) {
  switch (protocol) {
    case RecordProtocol::kAes128Gcm:
      return kAes128GcmName;
    case RecordProtocol::kAes128GcmRekey:
      return kAes128GcmRekeyName;
  }
  return "unknown";
}

size_t RecordKeySize(RecordProtocol protocol) {
  switch (protocol) {
    case RecordProtocol::kAes128Gcm:
      return kAes128GcmKeySize;
    case RecordProtocol::kAes128GcmRekey:
      return kAes128GcmRekeyKeySize;
  }
  return 0;
}

size_t CounterOverflowSize(RecordProtocol protocol) {
  switch (protocol) {
    case RecordProtocol::kAes128Gcm:
      return kAes128GcmOverflowSize;
    case RecordProtocol::kAes128GcmRekey:
      return kAes128GcmRekeyOverflowSize;
  }
  return 0;
}

}  // namespace alts
