// alts-test-labels: threads
#include "alts/aead_context_cache.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include <openssl/aead.h>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"

namespace alts {
namespace {

std::array<uint8_t, 16> Key(uint8_t seed) {
  std::array<uint8_t, 16> key;
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(seed * 31 + i);
  return key;
}

// SealsLikeAFreshContext checks that `ctx` encrypts exactly as a context
// freshly initialised with `key`.
void ExpectSealsLikeAFreshContext(const EVP_AEAD_CTX* ctx, const std::array<uint8_t, 16>& key) {
  const std::array<uint8_t, 12> nonce = {1, 2, 3};
  const std::array<uint8_t, 5> plaintext = {'h', 'e', 'l', 'l', 'o'};
  std::array<uint8_t, 5 + 16> cached{};
  std::array<uint8_t, 5 + 16> fresh{};
  size_t len = 0;
  ASSERT_EQ(EVP_AEAD_CTX_seal(ctx, cached.data(), &len, cached.size(), nonce.data(), nonce.size(),
                              plaintext.data(), plaintext.size(), nullptr, 0),
            1);
  bssl::ScopedEVP_AEAD_CTX reference;
  ASSERT_EQ(EVP_AEAD_CTX_init(reference.get(), EVP_aead_aes_128_gcm(), key.data(), key.size(),
                              EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr),
            1);
  ASSERT_EQ(EVP_AEAD_CTX_seal(reference.get(), fresh.data(), &len, fresh.size(), nonce.data(),
                              nonce.size(), plaintext.data(), plaintext.size(), nullptr, 0),
            1);
  EXPECT_EQ(cached, fresh);
}

class AeadContextCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { AeadContextCache::Flush(); }
  void TearDown() override { AeadContextCache::Flush(); }
};

TEST_F(AeadContextCacheTest, HitReturnsTheSameContextWithoutInit) {
  const auto key = Key(1);
  const uint64_t inits = AeadContextCache::InitsForTesting();
  absl::StatusOr<const EVP_AEAD_CTX*> first = AeadContextCache::Get(key);
  ASSERT_TRUE(first.ok());
  absl::StatusOr<const EVP_AEAD_CTX*> second = AeadContextCache::Get(key);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + 1);
  ExpectSealsLikeAFreshContext(*second, key);
}

TEST_F(AeadContextCacheTest, HoldsKSlotsKeysAndEvictsTheLeastRecentlyUsed) {
  const uint64_t inits = AeadContextCache::InitsForTesting();
  for (uint8_t k = 0; k < AeadContextCache::kSlots; ++k) {
    ASSERT_TRUE(AeadContextCache::Get(Key(k)).ok());
  }
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + AeadContextCache::kSlots);
  // Touch key 0 so key 1 is now the least recently used.
  ASSERT_TRUE(AeadContextCache::Get(Key(0)).ok());
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + AeadContextCache::kSlots);
  ASSERT_TRUE(AeadContextCache::Get(Key(100)).ok());  // evicts key 1
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + AeadContextCache::kSlots + 1);
  for (uint8_t k : {uint8_t{0}, uint8_t{2}, uint8_t{3}, uint8_t{100}}) {
    absl::StatusOr<const EVP_AEAD_CTX*> ctx = AeadContextCache::Get(Key(k));
    ASSERT_TRUE(ctx.ok());
    ExpectSealsLikeAFreshContext(*ctx, Key(k));
  }
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + AeadContextCache::kSlots + 1);
  ASSERT_TRUE(AeadContextCache::Get(Key(1)).ok());  // was evicted
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + AeadContextCache::kSlots + 2);
}

TEST_F(AeadContextCacheTest, FlushAndForgetDropContexts) {
  const uint64_t live = AeadContextCache::LiveContextsForTesting();
  ASSERT_TRUE(AeadContextCache::Get(Key(1)).ok());
  ASSERT_TRUE(AeadContextCache::Get(Key(2)).ok());
  EXPECT_EQ(AeadContextCache::LiveContextsForTesting(), live + 2);
  AeadContextCache::Forget(Key(1));
  EXPECT_EQ(AeadContextCache::LiveContextsForTesting(), live + 1);
  AeadContextCache::Forget(Key(7));  // not cached: no effect
  EXPECT_EQ(AeadContextCache::LiveContextsForTesting(), live + 1);
  const uint64_t inits = AeadContextCache::InitsForTesting();
  ASSERT_TRUE(AeadContextCache::Get(Key(2)).ok());
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits);
  ASSERT_TRUE(AeadContextCache::Get(Key(1)).ok());
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + 1);
  AeadContextCache::Flush();
  EXPECT_EQ(AeadContextCache::LiveContextsForTesting(), live);
  ASSERT_TRUE(AeadContextCache::Get(Key(2)).ok());
  EXPECT_EQ(AeadContextCache::InitsForTesting(), inits + 2);
}

TEST_F(AeadContextCacheTest, RejectsKeysThatAreNot16Bytes) {
  std::array<uint8_t, 32> long_key{};
  EXPECT_EQ(AeadContextCache::Get(long_key).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AeadContextCache::Get(absl::MakeConstSpan(long_key).first(15)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AeadContextCacheTest, ThreadExitWipesThatThreadsContexts) {
  const uint64_t live = AeadContextCache::LiveContextsForTesting();
  std::atomic<uint64_t> live_inside{0};
  std::thread worker([&] {
    ASSERT_TRUE(AeadContextCache::Get(Key(1)).ok());
    ASSERT_TRUE(AeadContextCache::Get(Key(2)).ok());
    ASSERT_TRUE(AeadContextCache::Get(Key(3)).ok());
    live_inside = AeadContextCache::LiveContextsForTesting();
  });
  worker.join();
  EXPECT_EQ(live_inside.load(), live + 3);
  EXPECT_EQ(AeadContextCache::LiveContextsForTesting(), live);
}

TEST_F(AeadContextCacheTest, EachThreadHasItsOwnContexts) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  const auto key = Key(9);
  absl::StatusOr<const EVP_AEAD_CTX*> mine = AeadContextCache::Get(key);
  ASSERT_TRUE(mine.ok());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::atomic<int> shared_contexts{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        // Alternate among more keys than slots to force evictions.
        const auto k = Key(static_cast<uint8_t>((i + t) % (AeadContextCache::kSlots + 2)));
        absl::StatusOr<const EVP_AEAD_CTX*> ctx = AeadContextCache::Get(k);
        if (!ctx.ok()) {
          ++failures;
          continue;
        }
        if (*ctx == *mine) ++shared_contexts;
        std::array<uint8_t, 12> nonce{};
        std::array<uint8_t, 32> buf{};
        size_t len = 0;
        std::array<uint8_t, 16> in{};
        if (EVP_AEAD_CTX_seal(*ctx, buf.data(), &len, buf.size(), nonce.data(), nonce.size(),
                              in.data(), in.size(), nullptr, 0) != 1) {
          ++failures;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(shared_contexts.load(), 0);
  ExpectSealsLikeAFreshContext(*AeadContextCache::Get(key), key);
}

}  // namespace
}  // namespace alts
