#include "alts/nonce_counter.h"

#include <cstdint>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace alts {
namespace {

using ::testing::ElementsAre;

TEST(NonceCounterTest, StartsAtZeroWithTheDirectionBit) {
  NonceCounter client(5, /*server_sent=*/false);
  NonceCounter server(5, /*server_sent=*/true);
  EXPECT_THAT(client.value(), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));
  EXPECT_THAT(server.value(), ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80));
  EXPECT_EQ(client.low(), 0u);
  EXPECT_FALSE(client.exhausted());
}

TEST(NonceCounterTest, IncrementsLittleEndianWithCarry) {
  NonceCounter counter(5, /*server_sent=*/true);
  ASSERT_TRUE(counter.Increment().ok());
  EXPECT_THAT(counter.value(), ElementsAre(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80));
  counter.SetLowForTesting(0xFF);
  ASSERT_TRUE(counter.Increment().ok());
  EXPECT_THAT(counter.value(), ElementsAre(0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80));
  counter.SetLowForTesting(0x00FFFFFFFF);
  ASSERT_TRUE(counter.Increment().ok());
  EXPECT_THAT(counter.value(), ElementsAre(0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x80));
  EXPECT_EQ(counter.low(), 0x0100000000u);
}

TEST(NonceCounterTest, FiveByteCounterNeverWraps) {
  NonceCounter counter(5, /*server_sent=*/false);
  counter.SetLowForTesting(0xFFFFFFFFFE);
  ASSERT_TRUE(counter.Increment().ok());
  EXPECT_THAT(counter.value(),
              ElementsAre(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0));
  EXPECT_EQ(counter.Increment().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(counter.exhausted());
  // The value stays at its last (used) value: byte 5 never receives a carry.
  EXPECT_THAT(counter.value(),
              ElementsAre(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0));
  // Sticky.
  EXPECT_EQ(counter.Increment().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(counter.exhausted());
}

TEST(NonceCounterTest, EightByteCounterNeverWraps) {
  NonceCounter counter(8, /*server_sent=*/true);
  counter.SetLowForTesting(UINT64_MAX - 1);
  EXPECT_EQ(counter.low(), UINT64_MAX - 1);
  ASSERT_TRUE(counter.Increment().ok());
  EXPECT_EQ(counter.low(), UINT64_MAX);
  EXPECT_EQ(counter.Increment().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(counter.Increment().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(counter.value(), ElementsAre(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0,
                                           0, 0, 0x80));
}

TEST(NonceCounterTest, CarryIntoByteFiveOnlyWithEightByteOverflow) {
  NonceCounter counter(8, /*server_sent=*/false);
  counter.SetLowForTesting(0xFFFFFFFFFF);
  ASSERT_TRUE(counter.Increment().ok());
  EXPECT_THAT(counter.value(), ElementsAre(0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0));
}

TEST(NonceCounterTest, HasValuesCountsTheCurrentValue) {
  NonceCounter counter(5, /*server_sent=*/false);
  EXPECT_TRUE(counter.HasValues(0));
  EXPECT_TRUE(counter.HasValues(uint64_t{1} << 40));
  EXPECT_FALSE(counter.HasValues((uint64_t{1} << 40) + 1));
  counter.SetLowForTesting(0xFFFFFFFFFE);
  EXPECT_TRUE(counter.HasValues(2));
  EXPECT_FALSE(counter.HasValues(3));
  ASSERT_TRUE(counter.Increment().ok());
  EXPECT_TRUE(counter.HasValues(1));
  EXPECT_FALSE(counter.HasValues(2));
  ASSERT_FALSE(counter.Increment().ok());
  EXPECT_FALSE(counter.HasValues(1));
  EXPECT_TRUE(counter.HasValues(0));

  NonceCounter wide(8, /*server_sent=*/false);
  EXPECT_TRUE(wide.HasValues(UINT64_MAX));
  wide.SetLowForTesting(1);
  EXPECT_TRUE(wide.HasValues(UINT64_MAX));
  wide.SetLowForTesting(2);
  EXPECT_FALSE(wide.HasValues(UINT64_MAX));
}

TEST(NonceCounterTest, SetLowForTestingLeavesTheDirectionBit) {
  NonceCounter counter(8, /*server_sent=*/true);
  counter.SetLowForTesting(0x0807060504030201);
  EXPECT_THAT(counter.value(), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0x80));
  EXPECT_EQ(counter.low(), 0x0807060504030201u);
}

}  // namespace
}  // namespace alts
