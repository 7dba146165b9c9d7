#include "frame/frame_decoder.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/types/span.h"
#include "frame/frame_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace alts {
namespace {

std::vector<uint8_t> FromHex(const std::string& hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

std::vector<uint8_t> Le32(uint32_t v) {
  return {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v >> 16),
          static_cast<uint8_t>(v >> 24)};
}

// A frame header with the given length field and type, followed by `body`
// bytes of 0x5A.
std::vector<uint8_t> RawFrame(uint32_t length, uint32_t type, size_t body) {
  std::vector<uint8_t> out = Le32(length);
  std::vector<uint8_t> t = Le32(type);
  out.insert(out.end(), t.begin(), t.end());
  out.insert(out.end(), body, 0x5A);
  return out;
}

// Spec 5.2, "A client #0 \"Client Message\"": 38 bytes.
const char kSpecFrameA0[] =
    "22000000060000009773d4c2ceb633af4b1fe08c0cb52e9ef1609948ed363deda1b731a9f188";
// Spec 5.2, "B client #0, empty plaintext": 24 bytes.
const char kSpecEmptyFrame[] = "1400000006000000c8ed3c729b1e1529c689e95019a8d7fb";

TEST(FrameDecoderTest, EmptyInputNeedsTheLengthField) {
  absl::StatusOr<FrameScan> scan = ScanFrame({});
  ASSERT_TRUE(scan.ok());
  EXPECT_FALSE(scan->complete());
  EXPECT_EQ(scan->frame_size, 0u);
  EXPECT_EQ(scan->bytes_needed, 4u);
}

TEST(FrameDecoderTest, SpecFrameFedOneByteAtATime) {
  const std::vector<uint8_t> frame = FromHex(kSpecFrameA0);
  ASSERT_EQ(frame.size(), 38u);
  for (size_t n = 0; n < frame.size(); ++n) {
    absl::StatusOr<FrameScan> scan = ScanFrame(absl::MakeConstSpan(frame).first(n));
    ASSERT_TRUE(scan.ok()) << n << ": " << scan.status();
    EXPECT_EQ(scan->kind, FrameScan::Kind::kNeedMore) << n;
    if (n < 4) {
      EXPECT_EQ(scan->frame_size, 0u) << n;
      EXPECT_EQ(scan->bytes_needed, 4 - n) << n;
    } else {
      EXPECT_EQ(scan->frame_size, 38u) << n;
      EXPECT_EQ(scan->bytes_needed, 38 - n) << n;
    }
  }
  absl::StatusOr<FrameScan> scan = ScanFrame(frame);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->complete());
  EXPECT_EQ(scan->frame_size, 38u);
  EXPECT_EQ(scan->bytes_needed, 0u);
}

TEST(FrameDecoderTest, PayloadAndTagOfSpecFrame) {
  std::vector<uint8_t> frame = FromHex(kSpecFrameA0);
  absl::Span<uint8_t> payload = FramePayload(absl::MakeSpan(frame));
  absl::Span<uint8_t> tag = FrameTag(absl::MakeSpan(frame));
  EXPECT_EQ(payload.data(), frame.data() + 8);
  EXPECT_EQ(payload.size(), 14u);
  EXPECT_EQ(tag.data(), frame.data() + 22);
  EXPECT_EQ(tag.size(), 16u);
}

TEST(FrameDecoderTest, EmptyPayloadFrameIsComplete) {
  std::vector<uint8_t> frame = FromHex(kSpecEmptyFrame);
  absl::StatusOr<FrameScan> scan = ScanFrame(frame);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->complete());
  EXPECT_EQ(scan->frame_size, kMinFrameSize);
  EXPECT_TRUE(FramePayload(absl::MakeSpan(frame)).empty());
  EXPECT_EQ(FrameTag(absl::MakeSpan(frame)).size(), 16u);
}

TEST(FrameDecoderTest, ExtraBytesAfterAFrameAreNotRead) {
  std::vector<uint8_t> input = FromHex(kSpecFrameA0);
  input.push_back(0xFF);  // garbage that would be a bad next frame
  absl::StatusOr<FrameScan> scan = ScanFrame(input);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->complete());
  EXPECT_EQ(scan->frame_size, 38u);
}

TEST(FrameDecoderTest, WalksSeveralFramesInOneInput) {
  std::vector<uint8_t> input;
  const std::vector<size_t> bodies = {14, 0, 100, 0, 1};
  for (size_t body : bodies) {
    std::vector<uint8_t> f = RawFrame(static_cast<uint32_t>(4 + body + 16), 6, body + 16);
    input.insert(input.end(), f.begin(), f.end());
  }
  absl::Span<const uint8_t> rest(input);
  for (size_t body : bodies) {
    absl::StatusOr<FrameScan> scan = ScanFrame(rest);
    ASSERT_TRUE(scan.ok());
    ASSERT_TRUE(scan->complete());
    EXPECT_EQ(scan->frame_size, FrameSizeForPayload(body));
    rest.remove_prefix(scan->frame_size);
  }
  EXPECT_TRUE(rest.empty());
  absl::StatusOr<FrameScan> scan = ScanFrame(rest);
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->bytes_needed, 4u);
}

TEST(FrameDecoderTest, AcceptsLengthFieldOfExactly1MiB) {
  const std::vector<uint8_t> header = RawFrame(kMaxFrameLengthField, 6, 0);
  for (size_t n = 4; n <= header.size(); ++n) {
    absl::StatusOr<FrameScan> scan = ScanFrame(absl::MakeConstSpan(header).first(n));
    ASSERT_TRUE(scan.ok()) << scan.status();
    EXPECT_EQ(scan->kind, FrameScan::Kind::kNeedMore);
    EXPECT_EQ(scan->frame_size, kMaxFrameSize);
    EXPECT_EQ(scan->bytes_needed, kMaxFrameSize - n);
  }
  std::vector<uint8_t> whole = RawFrame(kMaxFrameLengthField, 6, kMaxFrameLengthField - 4);
  absl::StatusOr<FrameScan> scan = ScanFrame(whole);
  ASSERT_TRUE(scan.ok());
  EXPECT_TRUE(scan->complete());
  EXPECT_EQ(scan->frame_size, kMaxFrameSize);
}

TEST(FrameDecoderTest, RejectsOneByteOverTheLimitFromTheLengthFieldAlone) {
  const std::vector<uint8_t> len = Le32(kMaxFrameLengthField + 1);
  for (size_t n = 0; n < 4; ++n) {
    absl::StatusOr<FrameScan> scan = ScanFrame(absl::MakeConstSpan(len).first(n));
    ASSERT_TRUE(scan.ok());
    EXPECT_EQ(scan->bytes_needed, 4 - n);
  }
  absl::StatusOr<FrameScan> scan = ScanFrame(len);
  EXPECT_EQ(scan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(scan.status().message()), ::testing::HasSubstr("too large"));
}

TEST(FrameDecoderTest, RejectsHugeLengthFields) {
  for (uint32_t length : {0x00100001u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu}) {
    EXPECT_EQ(ScanFrame(Le32(length)).status().code(), absl::StatusCode::kInvalidArgument)
        << length;
  }
}

TEST(FrameDecoderTest, RejectsLengthFieldsTooShortForTypeAndTag) {
  for (uint32_t length = 0; length < kMinFrameLengthField; ++length) {
    absl::StatusOr<FrameScan> scan = ScanFrame(Le32(length));
    EXPECT_EQ(scan.status().code(), absl::StatusCode::kInvalidArgument) << length;
    EXPECT_THAT(std::string(scan.status().message()), ::testing::HasSubstr("too short"));
  }
  absl::StatusOr<FrameScan> scan = ScanFrame(Le32(kMinFrameLengthField));
  ASSERT_TRUE(scan.ok());
  EXPECT_EQ(scan->frame_size, kMinFrameSize);
}

TEST(FrameDecoderTest, RejectsAnyTypeOtherThanSixOverAll32Bits) {
  // Go accepts any type whose low byte is 6; the spec says be strict.
  for (uint32_t type : {0u, 5u, 7u, 0x106u, 0x10006u, 0x1000006u, 0x80000006u, 0xFFFFFF06u,
                        0x06000000u, 0xFFFFFFFFu}) {
    std::vector<uint8_t> frame = RawFrame(34, type, 30);
    absl::StatusOr<FrameScan> scan = ScanFrame(frame);
    EXPECT_EQ(scan.status().code(), absl::StatusCode::kInvalidArgument) << type;
    EXPECT_THAT(std::string(scan.status().message()), ::testing::HasSubstr("type"));
  }
}

TEST(FrameDecoderTest, RejectsABadTypeByteAsSoonAsItArrives) {
  for (size_t bad = 0; bad < 4; ++bad) {
    std::vector<uint8_t> frame = RawFrame(34, 6, 30);
    frame[4 + bad] ^= 0x40;
    for (size_t n = 4; n <= 4 + bad; ++n) {
      ASSERT_TRUE(ScanFrame(absl::MakeConstSpan(frame).first(n)).ok()) << bad << " " << n;
    }
    EXPECT_EQ(ScanFrame(absl::MakeConstSpan(frame).first(5 + bad)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(FrameDecoderTest, EndOfStreamCleanWhenNothingPending) {
  EXPECT_TRUE(CheckEndOfStream({}).ok());
}

TEST(FrameDecoderTest, EndOfStreamInsideAFrameIsTruncation) {
  const std::vector<uint8_t> frame = FromHex(kSpecFrameA0);
  for (size_t n = 1; n < frame.size(); ++n) {
    absl::Status status = CheckEndOfStream(absl::MakeConstSpan(frame).first(n));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << n;
    EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("truncated frame"));
  }
}

TEST(FrameDecoderTest, EndOfStreamReportsMalformedPendingBytes) {
  EXPECT_EQ(CheckEndOfStream(Le32(kMaxFrameLengthField + 1)).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FrameDecoderTest, EndOfStreamWithAWholeFrameUnopened) {
  EXPECT_EQ(CheckEndOfStream(FromHex(kSpecFrameA0)).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace alts
