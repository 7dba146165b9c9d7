#ifndef ALTS_ALTS_RECORD_PROTOCOL_H_
#define ALTS_ALTS_RECORD_PROTOCOL_H_

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"

namespace alts {

// RecordProtocol names one of gRPC's ALTS record protocols.
enum class RecordProtocol {
  kAes128Gcm,       // "ALTSRP_GCM_AES128": one 16-byte key, 5-byte overflow
  kAes128GcmRekey,  // "ALTSRP_GCM_AES128_REKEY": 44-byte key, 8-byte overflow
};

// Side is which end of the connection this party is; it fixes the direction
// bit of the nonce counters (server-sent frames have counter[11] = 0x80).
enum class Side { kClient, kServer };

inline constexpr std::string_view kAes128GcmName = "ALTSRP_GCM_AES128";
inline constexpr std::string_view kAes128GcmRekeyName = "ALTSRP_GCM_AES128_REKEY";

// ParseRecordProtocol maps a protocol name to its enum. Returns
// kInvalidArgument naming the protocol if it is not one we implement.
absl::StatusOr<RecordProtocol> ParseRecordProtocol(std::string_view name);

// RecordProtocolName returns the wire name of `protocol` ("unknown" for a
// value outside the enum).
std::string_view RecordProtocolName(RecordProtocol protocol);

// RecordKeySize returns the key material the protocol uses: 16 or 44 bytes.
// Longer key_data from a handshake is truncated to this, as gRPC does.
// Returns 0 for a value outside the enum.
size_t RecordKeySize(RecordProtocol protocol);

// CounterOverflowSize returns how many low counter bytes carry on increment:
// 5 for kAes128Gcm, 8 for kAes128GcmRekey; 0 for a value outside the enum.
size_t CounterOverflowSize(RecordProtocol protocol);

}  // namespace alts

#endif  // ALTS_ALTS_RECORD_PROTOCOL_H_
