#include "alts/record_crypter.h"

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <openssl/err.h>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "alts/aead_context_cache.h"
#include "alts/record_protocol.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/alts/record_test_util.h"

namespace alts {
namespace {

using ::alts::testing_util::Bytes;
using ::alts::testing_util::Hex;
using ::alts::testing_util::KeyB;
using ::alts::testing_util::Text;
using ::testing::Each;

// Spec section 5.1: the REKEY construction with an explicit pre-mask nonce.
struct AeadVector {
  const char* name;
  const char* key;
  const char* nonce;
  const char* aad;
  const char* plaintext;
  const char* output;  // ciphertext || tag
};

constexpr char kKey1[] =
    "0000000000000000000000000000000001010101010101010101010101010101020202020202020202020202";
constexpr char kKey2[] =
    "feffe9928665731c6d6a8f9467308308fffee8938764721d6c6b8e9566318209fcfdeb908467711e6f688d96";
constexpr char kAad2[] = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
constexpr char kPt2[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
    "49a6b525b16aedf5aa0de657ba637b39";

const AeadVector kAeadVectors[] = {
    {"empty", kKey1, "000000000000000000000000", "", "", "85e873e002f6ebdc4060954eb8675508"},
    {"one_block", kKey1, "000000000000000000000000", "", "00000000000000000000000000000000",
     "51e9a8cb23ca2512c8256afff8e72d681aca19a1148ac115e83df4888cc00d11"},
    {"aad", kKey2, "cafebabefacedbaddecaf888", kAad2, kPt2,
     "1018ed5a1402a86516d6576d70b2ffccca261b94df88b58f53b64dfba435d18b2f6e3b7869f9353d4ac8cf09af"
     "b1663daa7b4017e6fc2c177c0c087c4764565d077e9124001ddb27fc0848c5"},
    {"new_epoch", kKey2, "cafebbbefacedbaddecaf888", kAad2, kPt2,
     "c0121e6c954d0767f96630c33450999791b2da2ad05c4190169ccad9ac86ff1c721e3d82f2ad22ab463bab4a07"
     "54b7dd68ca4de7ea2531b625eda01f89312b2ab957d5c7f8568dd95fcdcd1f"},
    {"same_epoch", kKey2, "ca7ebabefacedbaddecaf888", kAad2, kPt2,
     "e650d3c0fb879327f2d03287fa93cd07342b136215adbca00c3bd5099ec41832b1d18e0423ed26bb12c6cd09de"
     "bb29230a94c0cee15903656f85edb6fc509b1b28216382172ecbcc31e1e9b1"},
};

class AeadVectorTest : public ::testing::TestWithParam<AeadVector> {};

TEST_P(AeadVectorTest, Seals) {
  const AeadVector& v = GetParam();
  const std::vector<uint8_t> pt = Bytes(v.plaintext);
  std::vector<uint8_t> out(pt.size());
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(RecordCrypter::SealWithNonce(RecordProtocol::kAes128GcmRekey, Bytes(v.key),
                                           Bytes(v.nonce), Bytes(v.aad), pt,
                                           absl::MakeSpan(out), absl::MakeSpan(tag))
                  .ok());
  EXPECT_EQ(Hex(out) + Hex(tag), v.output);
}

TEST_P(AeadVectorTest, SealsInPlace) {
  const AeadVector& v = GetParam();
  std::vector<uint8_t> buf = Bytes(v.plaintext);
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(RecordCrypter::SealWithNonce(RecordProtocol::kAes128GcmRekey, Bytes(v.key),
                                           Bytes(v.nonce), Bytes(v.aad), buf,
                                           absl::MakeSpan(buf), absl::MakeSpan(tag))
                  .ok());
  EXPECT_EQ(Hex(buf) + Hex(tag), v.output);
}

TEST_P(AeadVectorTest, Opens) {
  const AeadVector& v = GetParam();
  std::vector<uint8_t> out = Bytes(v.output);
  const std::vector<uint8_t> tag(out.end() - 16, out.end());
  out.resize(out.size() - 16);
  ASSERT_TRUE(RecordCrypter::OpenWithNonce(RecordProtocol::kAes128GcmRekey, Bytes(v.key),
                                           Bytes(v.nonce), Bytes(v.aad), absl::MakeSpan(out), tag)
                  .ok());
  EXPECT_EQ(Hex(out), v.plaintext);
}

TEST_P(AeadVectorTest, RejectsEveryAlteredByteAndWipes) {
  const AeadVector& v = GetParam();
  const std::vector<uint8_t> sealed = Bytes(v.output);
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::vector<uint8_t> out = sealed;
    out[i] ^= 0x01;
    const std::vector<uint8_t> tag(out.end() - 16, out.end());
    out.resize(out.size() - 16);
    EXPECT_EQ(RecordCrypter::OpenWithNonce(RecordProtocol::kAes128GcmRekey, Bytes(v.key),
                                           Bytes(v.nonce), Bytes(v.aad), absl::MakeSpan(out),
                                           tag)
                  .code(),
              absl::StatusCode::kDataLoss)
        << i;
    EXPECT_THAT(out, Each(0)) << i;
  }
}

TEST_P(AeadVectorTest, RejectsAWrongNonceOrAad) {
  const AeadVector& v = GetParam();
  std::vector<uint8_t> out = Bytes(v.output);
  const std::vector<uint8_t> tag(out.end() - 16, out.end());
  out.resize(out.size() - 16);
  std::vector<uint8_t> nonce = Bytes(v.nonce);
  nonce[11] ^= 0x80;  // the other direction
  std::vector<uint8_t> copy = out;
  EXPECT_EQ(RecordCrypter::OpenWithNonce(RecordProtocol::kAes128GcmRekey, Bytes(v.key), nonce,
                                         Bytes(v.aad), absl::MakeSpan(copy), tag)
                .code(),
            absl::StatusCode::kDataLoss);
  copy = out;
  std::vector<uint8_t> aad = Bytes(v.aad);
  aad.push_back(0);
  EXPECT_EQ(RecordCrypter::OpenWithNonce(RecordProtocol::kAes128GcmRekey, Bytes(v.key),
                                         Bytes(v.nonce), aad, absl::MakeSpan(copy), tag)
                .code(),
            absl::StatusCode::kDataLoss);
}

INSTANTIATE_TEST_SUITE_P(Spec51, AeadVectorTest, ::testing::ValuesIn(kAeadVectors),
                         [](const ::testing::TestParamInfo<AeadVector>& info) {
                           return std::string(info.param.name);
                         });

TEST(RecordCrypterTest, ExplicitNonceRejectsBadSizes) {
  const std::vector<uint8_t> key = KeyB();
  std::array<uint8_t, 12> nonce{};
  std::array<uint8_t, 4> in{};
  std::array<uint8_t, 4> out{};
  std::array<uint8_t, 16> tag{};
  EXPECT_EQ(RecordCrypter::SealWithNonce(RecordProtocol::kAes128GcmRekey,
                                         absl::MakeConstSpan(key).first(43), nonce, {}, in,
                                         absl::MakeSpan(out), absl::MakeSpan(tag))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordCrypter::SealWithNonce(RecordProtocol::kAes128GcmRekey, key,
                                         absl::MakeConstSpan(nonce).first(11), {}, in,
                                         absl::MakeSpan(out), absl::MakeSpan(tag))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordCrypter::SealWithNonce(RecordProtocol::kAes128GcmRekey, key, nonce, {}, in,
                                         absl::MakeSpan(out).first(3), absl::MakeSpan(tag))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RecordCrypter::OpenWithNonce(RecordProtocol::kAes128GcmRekey, key, nonce, {},
                                         absl::MakeSpan(out), absl::MakeConstSpan(tag).first(15))
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// A sender/receiver pair for one direction.
struct Pair {
  RecordCrypter sender;
  RecordCrypter receiver;
};

std::vector<uint8_t> KeyFor(RecordProtocol protocol) {
  return protocol == RecordProtocol::kAes128Gcm ? Bytes(testing_util::kKeyA) : KeyB();
}

Pair MakePair(RecordProtocol protocol, bool server_sent) {
  std::vector<uint8_t> key = KeyFor(protocol);
  absl::StatusOr<RecordCrypter> sender = RecordCrypter::Create(protocol, key, server_sent);
  absl::StatusOr<RecordCrypter> receiver = RecordCrypter::Create(protocol, key, server_sent);
  EXPECT_TRUE(sender.ok() && receiver.ok());
  return Pair{std::move(*sender), std::move(*receiver)};
}

class RecordCrypterTest : public ::testing::TestWithParam<RecordProtocol> {};

TEST_P(RecordCrypterTest, CreateRejectsShortKeys) {
  const size_t need = RecordKeySize(GetParam());
  std::vector<uint8_t> key(need - 1);
  EXPECT_EQ(RecordCrypter::Create(GetParam(), key, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  key.resize(need);
  EXPECT_TRUE(RecordCrypter::Create(GetParam(), key, false).ok());
  key.resize(need + 20);
  EXPECT_TRUE(RecordCrypter::Create(GetParam(), key, false).ok());
}

TEST(RecordCrypterCreateTest, RejectsUnknownProtocol) {
  std::vector<uint8_t> key(64);
  EXPECT_EQ(RecordCrypter::Create(static_cast<RecordProtocol>(7), key, false).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(RecordCrypterTest, RoundTripsInPlaceAndOutOfPlace) {
  for (bool server_sent : {false, true}) {
    Pair p = MakePair(GetParam(), server_sent);
    for (size_t size : {0u, 1u, 15u, 16u, 17u, 1000u}) {
      std::vector<uint8_t> pt(size);
      for (size_t i = 0; i < size; ++i) pt[i] = static_cast<uint8_t>(i * 7);
      std::vector<uint8_t> ct(size);
      std::array<uint8_t, 16> tag{};
      ASSERT_TRUE(p.sender.Seal(pt, absl::MakeSpan(ct), absl::MakeSpan(tag)).ok());
      if (size > 0) {
        EXPECT_NE(ct, pt);
      }
      ASSERT_TRUE(p.receiver.Open(absl::MakeSpan(ct), tag).ok());
      EXPECT_EQ(ct, pt);

      std::vector<uint8_t> buf = pt;
      ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
      ASSERT_TRUE(p.receiver.Open(absl::MakeSpan(buf), tag).ok());
      EXPECT_EQ(buf, pt);
    }
  }
}

TEST_P(RecordCrypterTest, OpensOutOfPlaceIntoAnotherBuffer) {
  Pair p = MakePair(GetParam(), false);
  const std::vector<uint8_t> pt = Text("opened into another buffer");
  std::vector<uint8_t> ct(pt.size());
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(p.sender.Seal(pt, absl::MakeSpan(ct), absl::MakeSpan(tag)).ok());
  const std::vector<uint8_t> sealed = ct;
  std::vector<uint8_t> out(pt.size());
  ASSERT_TRUE(p.receiver.Open(ct, absl::MakeSpan(out), tag).ok());
  EXPECT_EQ(out, pt);
  EXPECT_EQ(ct, sealed);  // the input is untouched
  EXPECT_EQ(p.receiver.counter_for_testing().low(), 1u);
}

TEST_P(RecordCrypterTest, OutOfPlaceOpenRejectsBadLayoutsWithoutDying) {
  Pair p = MakePair(GetParam(), false);
  std::vector<uint8_t> buf(64);
  std::array<uint8_t, 16> tag{};
  // Sizes differ.
  EXPECT_EQ(p.receiver.Open(absl::MakeConstSpan(buf).first(10), absl::MakeSpan(buf).subspan(20, 9),
                            tag)
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Output partially overlaps the input, or the tag.
  EXPECT_EQ(p.receiver.Open(absl::MakeConstSpan(buf).first(10), absl::MakeSpan(buf).subspan(4, 10),
                            tag)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.receiver.Open(absl::MakeConstSpan(buf).first(10), absl::MakeSpan(buf).subspan(20, 10),
                            absl::MakeConstSpan(buf).subspan(25, 16))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(p.receiver.status().ok());
  EXPECT_EQ(p.receiver.counter_for_testing().low(), 0u);
}

TEST_P(RecordCrypterTest, OutOfPlaceOpenWipesTheOutputOnABadTag) {
  Pair p = MakePair(GetParam(), false);
  const std::vector<uint8_t> pt = Text("never seen unauthenticated");
  std::vector<uint8_t> ct(pt.size());
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(p.sender.Seal(pt, absl::MakeSpan(ct), absl::MakeSpan(tag)).ok());
  tag[0] ^= 1;
  std::vector<uint8_t> out(pt.size(), 0xAA);
  EXPECT_EQ(p.receiver.Open(ct, absl::MakeSpan(out), tag).code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(out, Each(0));
  tag[0] ^= 1;  // sticky even for the genuine frame
  EXPECT_EQ(p.receiver.Open(ct, absl::MakeSpan(out), tag).code(), absl::StatusCode::kDataLoss);
}

TEST_P(RecordCrypterTest, DirectionsDoNotOpenEachOther) {
  Pair client = MakePair(GetParam(), false);
  Pair server = MakePair(GetParam(), true);
  std::vector<uint8_t> buf = Text("reflect me");
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(client.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  EXPECT_EQ(server.receiver.Open(absl::MakeSpan(buf), tag).code(), absl::StatusCode::kDataLoss);
}

TEST_P(RecordCrypterTest, RejectsBadSizesWithoutDying) {
  Pair p = MakePair(GetParam(), false);
  std::vector<uint8_t> buf(32);
  std::array<uint8_t, 16> tag{};
  EXPECT_EQ(p.sender.Seal(absl::MakeConstSpan(buf).first(10), absl::MakeSpan(buf).subspan(0, 9),
                          absl::MakeSpan(tag))
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Partially overlapping input and output.
  EXPECT_EQ(p.sender.Seal(absl::MakeConstSpan(buf).first(10), absl::MakeSpan(buf).subspan(5, 10),
                          absl::MakeSpan(tag))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.sender.Seal(absl::MakeConstSpan(buf).first(10), absl::MakeSpan(buf).first(10),
                          absl::MakeSpan(tag).first(12))
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.receiver.Open(absl::MakeSpan(buf), absl::MakeConstSpan(tag).first(15)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(p.sender.status().ok());
  EXPECT_TRUE(p.receiver.status().ok());
  EXPECT_EQ(p.sender.counter_for_testing().low(), 0u);
}

TEST_P(RecordCrypterTest, FailedOpenWipesAndIsSticky) {
  Pair p = MakePair(GetParam(), true);
  std::vector<uint8_t> first = Text("first frame");
  std::vector<uint8_t> second = Text("second frame");
  std::array<uint8_t, 16> tag1{};
  std::array<uint8_t, 16> tag2{};
  ASSERT_TRUE(p.sender.Seal(first, absl::MakeSpan(first), absl::MakeSpan(tag1)).ok());
  ASSERT_TRUE(p.sender.Seal(second, absl::MakeSpan(second), absl::MakeSpan(tag2)).ok());
  std::vector<uint8_t> altered = first;
  altered[3] ^= 0x10;
  EXPECT_EQ(p.receiver.Open(absl::MakeSpan(altered), tag1).code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(altered, Each(0));
  EXPECT_EQ(p.receiver.status().code(), absl::StatusCode::kDataLoss);
  // The genuine frame no longer opens: the direction is dead.
  std::vector<uint8_t> genuine = first;
  EXPECT_EQ(p.receiver.Open(absl::MakeSpan(genuine), tag1).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(genuine, first);  // not touched
  EXPECT_EQ(p.receiver.counter_for_testing().low(), 0u);
}

TEST_P(RecordCrypterTest, FailedOpenLeavesNoBoringSslError) {
  Pair p = MakePair(GetParam(), false);
  std::vector<uint8_t> buf = Text("frame");
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  tag[0] ^= 1;
  ERR_clear_error();
  EXPECT_EQ(p.receiver.Open(absl::MakeSpan(buf), tag).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ERR_peek_error(), 0u);
  std::vector<uint8_t> out(16);
  EXPECT_EQ(RecordCrypter::OpenWithNonce(GetParam(), KeyFor(GetParam()),
                                         std::vector<uint8_t>(12), {}, absl::MakeSpan(out), tag)
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST_P(RecordCrypterTest, CounterOverflowOnSealAndOpen) {
  Pair p = MakePair(GetParam(), false);
  const size_t overflow = CounterOverflowSize(GetParam());
  const uint64_t last = overflow == 8 ? UINT64_MAX : (uint64_t{1} << (8 * overflow)) - 1;
  p.sender.counter_for_testing().SetLowForTesting(last - 1);
  p.receiver.counter_for_testing().SetLowForTesting(last - 1);
  for (int i = 0; i < 2; ++i) {
    std::vector<uint8_t> buf = Text("near the end");
    std::array<uint8_t, 16> tag{};
    ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok()) << i;
    ASSERT_TRUE(p.receiver.Open(absl::MakeSpan(buf), tag).ok()) << i;
    EXPECT_EQ(buf, Text("near the end"));
  }
  // Both counters used their last value: nothing more can go either way.
  EXPECT_EQ(p.sender.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(p.receiver.status().code(), absl::StatusCode::kResourceExhausted);
  std::vector<uint8_t> buf = Text("one too many");
  std::array<uint8_t, 16> tag{};
  EXPECT_EQ(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(buf, Text("one too many"));  // nothing written
  EXPECT_EQ(p.receiver.Open(absl::MakeSpan(buf), tag).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(p.sender.counter_for_testing().low(), last);
  EXPECT_EQ(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_P(RecordCrypterTest, CheckCapacityIsStickyWhenShort) {
  Pair p = MakePair(GetParam(), false);
  const size_t overflow = CounterOverflowSize(GetParam());
  const uint64_t last = overflow == 8 ? UINT64_MAX : (uint64_t{1} << (8 * overflow)) - 1;
  p.sender.counter_for_testing().SetLowForTesting(last - 2);
  EXPECT_TRUE(p.sender.CheckCapacity(3).ok());
  EXPECT_EQ(p.sender.CheckCapacity(4).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(p.sender.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(p.sender.CheckCapacity(1).code(), absl::StatusCode::kResourceExhausted);
}

TEST_P(RecordCrypterTest, MovedFromCrypterRefusesAndMovedToWorks) {
  Pair p = MakePair(GetParam(), false);
  RecordCrypter moved = std::move(p.sender);
  std::vector<uint8_t> buf = Text("payload");
  std::array<uint8_t, 16> tag{};
  EXPECT_EQ(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(buf, Text("payload"));
  ASSERT_TRUE(moved.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  RecordCrypter receiver = MakePair(GetParam(), true).receiver;
  receiver = std::move(p.receiver);
  ASSERT_TRUE(receiver.Open(absl::MakeSpan(buf), tag).ok());
  EXPECT_EQ(buf, Text("payload"));
}

TEST_P(RecordCrypterTest, FailMakesAnErrorSticky) {
  Pair p = MakePair(GetParam(), false);
  p.receiver.Fail(absl::InvalidArgumentError("bad frame type"));
  p.receiver.Fail(absl::DataLossError("later"));  // the first error wins
  EXPECT_EQ(p.receiver.status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> buf = Text("x");
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  EXPECT_EQ(p.receiver.Open(absl::MakeSpan(buf), tag).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RecordCrypterRekeyTest, DerivesTheAeadKeyOncePerEpoch) {
  Pair p = MakePair(RecordProtocol::kAes128GcmRekey, true);
  const uint64_t inits_before = AeadContextCache::InitsForTesting();
  std::array<uint8_t, 16> tag{};
  std::array<uint8_t, 64> buf{};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
    ASSERT_TRUE(p.receiver.Open(absl::MakeSpan(buf), tag).ok());
  }
  EXPECT_EQ(p.sender.epoch_derivations_for_testing(), 1u);
  EXPECT_EQ(p.receiver.epoch_derivations_for_testing(), 1u);
  // Both ends of the direction share the epoch key and so its context.
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits_before + 1);

  // Still epoch 0 at 0xFFFE; crossing into epoch 1 derives exactly once more.
  p.sender.counter_for_testing().SetLowForTesting(0xFFFE);
  p.receiver.counter_for_testing().SetLowForTesting(0xFFFE);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
    ASSERT_TRUE(p.receiver.Open(absl::MakeSpan(buf), tag).ok());
  }
  EXPECT_EQ(p.sender.epoch_derivations_for_testing(), 2u);
  EXPECT_EQ(p.receiver.epoch_derivations_for_testing(), 2u);
  EXPECT_EQ(p.sender.counter_for_testing().low(), 0x10002u);
}

TEST(RecordCrypterRekeyTest, BothDirectionsShareEachEpochKey) {
  // Spec section 4: C[11] is not in the KDF input.
  Pair client = MakePair(RecordProtocol::kAes128GcmRekey, false);
  Pair server = MakePair(RecordProtocol::kAes128GcmRekey, true);
  std::array<uint8_t, 16> tag{};
  std::array<uint8_t, 16> buf{};
  ASSERT_TRUE(client.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  const uint64_t inits = AeadContextCache::InitsForTesting();
  ASSERT_TRUE(server.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits);
}

TEST_P(RecordCrypterTest, PinnedContextsWorkWithoutTheCache) {
  Pair p = MakePair(GetParam(), false);
  ASSERT_TRUE(p.sender.PinAeadContext().ok());
  ASSERT_TRUE(p.sender.PinAeadContext().ok());  // idempotent
  EXPECT_TRUE(p.sender.aead_context_pinned());
  EXPECT_FALSE(p.receiver.aead_context_pinned());
  ASSERT_TRUE(p.receiver.PinAeadContext().ok());
  AeadContextCache::Flush();
  const uint64_t inits = AeadContextCache::InitsForTesting();
  const uint64_t live = AeadContextCache::LiveContextsForTesting();
  for (int i = 0; i < 100; ++i) {
    std::vector<uint8_t> buf = Text("pinned and sealed");
    std::array<uint8_t, 16> tag{};
    ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok()) << i;
    std::vector<uint8_t> out(buf.size());
    ASSERT_TRUE(p.receiver.Open(buf, absl::MakeSpan(out), tag).ok()) << i;
    EXPECT_EQ(out, Text("pinned and sealed"));
  }
  // Nothing was borrowed from this thread's cache.
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits);
  EXPECT_EQ(AeadContextCache::LiveContextsForTesting(), live);
  // A pinned crypter still rejects a forged frame.
  std::vector<uint8_t> buf = Text("forged");
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(p.sender.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  buf[0] ^= 1;
  EXPECT_EQ(p.receiver.Open(absl::MakeSpan(buf), tag).code(), absl::StatusCode::kDataLoss);
}

TEST_P(RecordCrypterTest, PinnedAndCachedEndsInteroperateAndMovesKeepThePin) {
  Pair p = MakePair(GetParam(), true);
  ASSERT_TRUE(p.sender.PinAeadContext().ok());
  RecordCrypter moved = std::move(p.sender);
  EXPECT_TRUE(moved.aead_context_pinned());
  EXPECT_FALSE(p.sender.aead_context_pinned());
  EXPECT_EQ(p.sender.PinAeadContext().code(), absl::StatusCode::kFailedPrecondition);
  std::vector<uint8_t> buf = Text("pinned to cached");
  std::array<uint8_t, 16> tag{};
  ASSERT_TRUE(moved.Seal(buf, absl::MakeSpan(buf), absl::MakeSpan(tag)).ok());
  ASSERT_TRUE(p.receiver.Open(absl::MakeSpan(buf), tag).ok());  // not pinned
  EXPECT_EQ(buf, Text("pinned to cached"));
}

TEST(RecordCrypterRekeyTest, PinnedContextReKeysOncePerEpoch) {
  Pair p = MakePair(RecordProtocol::kAes128GcmRekey, true);
  ASSERT_TRUE(p.sender.PinAeadContext().ok());
  std::array<uint8_t, 16> tag{};
  std::array<uint8_t, 64> buf{};
  p.sender.counter_for_testing().SetLowForTesting(0xFFFE);
  p.receiver.counter_for_testing().SetLowForTesting(0xFFFE);
  for (int i = 0; i < 4; ++i) {
    std::array<uint8_t, 64> sealed = buf;
    ASSERT_TRUE(p.sender.Seal(sealed, absl::MakeSpan(sealed), absl::MakeSpan(tag)).ok()) << i;
    ASSERT_TRUE(p.receiver.Open(absl::MakeSpan(sealed), tag).ok()) << i;
    EXPECT_EQ(sealed, buf);
  }
  EXPECT_EQ(p.sender.epoch_derivations_for_testing(), 2u);
}

INSTANTIATE_TEST_SUITE_P(BothProtocols, RecordCrypterTest,
                         ::testing::Values(RecordProtocol::kAes128Gcm,
                                           RecordProtocol::kAes128GcmRekey),
                         [](const ::testing::TestParamInfo<RecordProtocol>& info) {
                           return info.param == RecordProtocol::kAes128Gcm ? "Gcm" : "GcmRekey";
                         });

}  // namespace
}  // namespace alts
