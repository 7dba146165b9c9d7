#include "alts/record_protocol.h"

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace alts {
namespace {

TEST(RecordProtocolTest, ParsesBothNames) {
  EXPECT_EQ(*ParseRecordProtocol("ALTSRP_GCM_AES128"), RecordProtocol::kAes128Gcm);
  EXPECT_EQ(*ParseRecordProtocol("ALTSRP_GCM_AES128_REKEY"), RecordProtocol::kAes128GcmRekey);
}

TEST(RecordProtocolTest, RejectsOtherNames) {
  for (const char* name : {"", "altsrp_gcm_aes128", "ALTSRP_GCM_AES128_REKEY ",
                           "ALTSRP_GCM_AES256", "ALTSRP_GCM_AES128_REKEY\n"}) {
    EXPECT_EQ(ParseRecordProtocol(name).status().code(), absl::StatusCode::kInvalidArgument)
        << name;
  }
}

TEST(RecordProtocolTest, SizesAndNames) {
  EXPECT_EQ(RecordKeySize(RecordProtocol::kAes128Gcm), 16u);
  EXPECT_EQ(RecordKeySize(RecordProtocol::kAes128GcmRekey), 44u);
  EXPECT_EQ(CounterOverflowSize(RecordProtocol::kAes128Gcm), 5u);
  EXPECT_EQ(CounterOverflowSize(RecordProtocol::kAes128GcmRekey), 8u);
  EXPECT_EQ(RecordProtocolName(RecordProtocol::kAes128Gcm), "ALTSRP_GCM_AES128");
  EXPECT_EQ(RecordProtocolName(RecordProtocol::kAes128GcmRekey), "ALTSRP_GCM_AES128_REKEY");
  EXPECT_EQ(RecordKeySize(static_cast<RecordProtocol>(9)), 0u);
  EXPECT_EQ(CounterOverflowSize(static_cast<RecordProtocol>(9)), 0u);
}

}  // namespace
}  // namespace alts
