#include "handshaker/ticket_key_manager.h"

#include <array>
#include <cstring>
#include <new>

#include "gtest/gtest.h"
#include "handshaker/session_cache.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

TicketContents Contents(absl::Time expiry) {
  TicketContents c;
  for (size_t i = 0; i < 32; ++i) c.resumption_secret.data()[i] = static_cast<uint8_t>(i);
  c.client_identity = Identity{"client@test", {{"k", "v"}}};
  c.expiry = expiry;
  c.client_not_after = expiry + absl::Hours(1);
  c.server_identity = Identity{"server@test", {{"pool", "a"}}};
  c.client_root_key_id = {1, 2, 3, 4, 5, 6, 7, 8};
  return c;
}

class TicketTest : public ::testing::Test {
 protected:
  TicketTest() {
    TicketKeyManager::Options options;
    options.clock = &clock_;
    manager_ = *TicketKeyManager::Create(options);
  }
  FakeClock clock_;
  std::shared_ptr<TicketKeyManager> manager_;
};

TEST_F(TicketTest, SealOpenRoundTrip) {
  absl::StatusOr<std::string> ticket = manager_->Seal(Contents(clock_.Now() + absl::Hours(1)));
  ASSERT_TRUE(ticket.ok());
  absl::StatusOr<TicketContents> opened = manager_->Open(AsBytes(*ticket));
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->client_identity.service_account, "client@test");
  EXPECT_EQ(opened->client_identity.attributes.at("k"), "v");
  EXPECT_EQ(opened->resumption_secret.data()[31], 31);
  EXPECT_EQ(opened->client_not_after, clock_.Now() + absl::Hours(2));
  EXPECT_EQ(opened->server_identity, (Identity{"server@test", {{"pool", "a"}}}));
  EXPECT_EQ(opened->client_root_key_id, (KeyId{1, 2, 3, 4, 5, 6, 7, 8}));
  // Two seals of the same contents differ (random nonce).
  EXPECT_NE(*ticket, *manager_->Seal(Contents(clock_.Now() + absl::Hours(1))));
}

TEST_F(TicketTest, TamperedExpiredUnknownAndMalformed) {
  std::string ticket = *manager_->Seal(Contents(clock_.Now() + absl::Minutes(30)));
  for (size_t i = 8; i < ticket.size(); ++i) {  // past the key id: authentication fails
    std::string t = ticket;
    t[i] ^= 0x01;
    EXPECT_EQ(manager_->Open(AsBytes(t)).status().code(), absl::StatusCode::kDataLoss) << i;
  }
  std::string unknown = ticket;
  unknown[0] ^= 0x01;
  EXPECT_EQ(manager_->Open(AsBytes(unknown)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Open(AsBytes("short")).status().code(),
            absl::StatusCode::kInvalidArgument);
  clock_.Advance(absl::Minutes(31));
  EXPECT_EQ(manager_->Open(AsBytes(ticket)).status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(TicketTest, RotationKeepsThePreviousKeyOnly) {
  const std::string ticket = *manager_->Seal(Contents(clock_.Now() + absl::Hours(10)));
  manager_->Rotate();
  EXPECT_TRUE(manager_->Open(AsBytes(ticket)).ok());
  manager_->Rotate();
  EXPECT_EQ(manager_->Open(AsBytes(ticket)).status().code(), absl::StatusCode::kNotFound);
  // Rotation also happens by the clock.
  const std::string later = *manager_->Seal(Contents(clock_.Now() + absl::Hours(10)));
  clock_.Advance(kDefaultTicketKeyRotationPeriod);
  EXPECT_TRUE(manager_->Open(AsBytes(later)).ok());  // now the previous key
  clock_.Advance(kDefaultTicketKeyRotationPeriod);
  EXPECT_EQ(manager_->Open(AsBytes(later)).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(TicketTest, LifetimeMustNotExceedRotationPeriod) {
  TicketKeyManager::Options options;
  options.ticket_lifetime = options.rotation_period + absl::Seconds(1);
  EXPECT_EQ(TicketKeyManager::Create(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// BoringSSL's EVP_AEAD_CTX_cleanup does not wipe an AES-GCM context, whose
// expanded key schedule lives inside it: a dead TicketKey must leave no
// trace of its key.
TEST(TicketKeyTest, DestructionWipesTheKeySchedule) {
  alignas(TicketKey) unsigned char storage[sizeof(TicketKey)];
  std::memset(storage, 0, sizeof(storage));
  auto* key = new (storage) TicketKey();
  std::array<uint8_t, kTicketKeySize> secret;
  secret.fill(0x5c);
  ASSERT_TRUE(key->Init(secret, {1, 2, 3, 4, 5, 6, 7, 8}, absl::UnixEpoch()).ok());
  EXPECT_EQ(key->Init(secret, {1}, absl::UnixEpoch()).code(),
            absl::StatusCode::kFailedPrecondition);
  auto nonzero = [&] {
    size_t n = 0;
    for (unsigned char b : storage) n += b != 0;
    return n;
  };
  ASSERT_GT(nonzero(), 64u);  // the schedule is in there
  key->~TicketKey();
  EXPECT_EQ(nonzero(), 0u) << "the key schedule survived its key";
}

TEST(TicketKeyTest, RejectsBadSizes) {
  TicketKey key;
  EXPECT_EQ(key.Init(absl::Span<const uint8_t>(), {}, absl::UnixEpoch()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(TicketKey::Generate(absl::UnixEpoch()), nullptr);
}

TEST(SessionCacheTest, SingleUseBoundedAndExpiring) {
  auto cache = SessionCache::Create(2);
  const absl::Time now = absl::FromUnixSeconds(1000);
  auto session = [&](absl::Duration ttl) {
    ClientSession s;
    s.ticket = "t";
    s.expiry = now + ttl;
    return s;
  };
  cache->Put("a", session(absl::Hours(1)));
  cache->Put("b", session(absl::Hours(1)));
  cache->Put("c", session(absl::Hours(1)));
  EXPECT_EQ(cache->size(), 2u);
  EXPECT_FALSE(cache->Take("a", now).has_value());  // evicted
  EXPECT_TRUE(cache->Take("b", now).has_value());
  EXPECT_FALSE(cache->Take("b", now).has_value());  // single use
  cache->Put("d", session(absl::Seconds(1)));
  EXPECT_FALSE(cache->Take("d", now + absl::Seconds(1)).has_value());  // expired
  EXPECT_EQ(cache->size(), 1u);
}

}  // namespace
}  // namespace alts::testing
