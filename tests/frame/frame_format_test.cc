#include "frame/frame_format.h"

#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace alts {
namespace {

using ::testing::ElementsAre;

TEST(FrameFormatTest, ConstantsMatchTheWireFormat) {
  EXPECT_EQ(kFrameHeaderSize, 8u);
  EXPECT_EQ(kFrameOverhead, 24u);
  EXPECT_EQ(kMinFrameLengthField, 20u);
  EXPECT_EQ(kMaxFrameLengthField, 1048576u);
  EXPECT_EQ(kMinFrameSize, 24u);
  EXPECT_EQ(kMaxFrameSize, 1048580u);
  EXPECT_EQ(FrameSizeForPayload(14), 38u);
  EXPECT_EQ(FrameSizeForPayload(0), kMinFrameSize);
}

TEST(FrameFormatTest, WritesSpecHeaderFor14BytePayload) {
  // Spec section 5: 14 bytes of plaintext -> length 34 (0x22), type 6.
  std::array<uint8_t, 8> out{};
  ASSERT_TRUE(WriteFrameHeader(14, absl::MakeSpan(out)).ok());
  EXPECT_THAT(out, ElementsAre(0x22, 0, 0, 0, 6, 0, 0, 0));
}

TEST(FrameFormatTest, WritesEmptyFrameHeader) {
  std::array<uint8_t, 8> out{};
  ASSERT_TRUE(WriteFrameHeader(0, absl::MakeSpan(out)).ok());
  EXPECT_THAT(out, ElementsAre(0x14, 0, 0, 0, 6, 0, 0, 0));
}

TEST(FrameFormatTest, WritesOnlyTheFirstEightBytes) {
  std::array<uint8_t, 10> out;
  out.fill(0xAA);
  ASSERT_TRUE(WriteFrameHeader(1, absl::MakeSpan(out)).ok());
  EXPECT_THAT(out, ElementsAre(21, 0, 0, 0, 6, 0, 0, 0, 0xAA, 0xAA));
}

TEST(FrameFormatTest, AcceptsTheLargestFrame) {
  std::array<uint8_t, 8> out{};
  ASSERT_TRUE(WriteFrameHeader(kMaxFrameSize - kFrameOverhead, absl::MakeSpan(out)).ok());
  // Length field 1 MiB = 0x00100000.
  EXPECT_THAT(out, ElementsAre(0, 0, 0x10, 0, 6, 0, 0, 0));
}

TEST(FrameFormatTest, RejectsAFrameOneByteOverTheLimit) {
  std::array<uint8_t, 8> out{};
  EXPECT_EQ(WriteFrameHeader(kMaxFrameSize - kFrameOverhead + 1, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteFrameHeader(SIZE_MAX, absl::MakeSpan(out)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FrameFormatTest, RejectsShortOutput) {
  std::array<uint8_t, 7> out{};
  EXPECT_EQ(WriteFrameHeader(1, absl::MakeSpan(out)).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace alts
