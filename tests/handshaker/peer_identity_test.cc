// alts-test-labels: threads
#include "handshaker/peer_identity.h"

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "handshaker/handshake_result.h"

namespace alts {
namespace {

PeerIdentity Make(const std::string& account, std::map<std::string, std::string> attributes = {}) {
  return PeerIdentity(Identity{account, std::move(attributes)}, Identity{"server@test", {}},
                      "grpc", RecordProtocol::kAes128GcmRekey, kDefaultRpcVersions);
}

TEST(PeerIdentityTest, AccessorsAndAltsContext) {
  const PeerIdentity peer = Make("client@test", {{"env", "prod"}, {"zone", "a"}});
  EXPECT_EQ(peer.service_account(), "client@test");
  EXPECT_EQ(peer.attributes().size(), 2u);
  EXPECT_EQ(peer.attribute("env"), "prod");
  EXPECT_FALSE(peer.attribute("missing").has_value());
  EXPECT_EQ(peer.record_protocol(), RecordProtocol::kAes128GcmRekey);
  EXPECT_EQ(peer.record_protocol_name(), "ALTSRP_GCM_AES128_REKEY");
  EXPECT_EQ(peer.application_protocol(), "grpc");
  EXPECT_EQ(peer.local_service_account(), "server@test");
  EXPECT_EQ(peer.peer_rpc_versions(), kDefaultRpcVersions);
  EXPECT_TRUE(peer.Matches(Identity{"client@test", {{"env", "prod"}}}));
  EXPECT_FALSE(peer.Matches(Identity{"client@test", {{"env", "dev"}}}));
  EXPECT_FALSE(peer.Matches(Identity{"other@test", {}}));

  const grpc::gcp::AltsContext context = peer.ToAltsContext();
  EXPECT_EQ(context.peer_service_account(), "client@test");
  EXPECT_EQ(context.local_service_account(), "server@test");
  EXPECT_EQ(context.record_protocol(), "ALTSRP_GCM_AES128_REKEY");
  EXPECT_EQ(context.application_protocol(), "grpc");
  EXPECT_EQ(context.security_level(), grpc::gcp::INTEGRITY_AND_PRIVACY);
  EXPECT_EQ(context.peer_attributes().at("zone"), "a");
  EXPECT_EQ(context.peer_rpc_versions().max_rpc_version().major(), 2u);
}

TEST(PeerIdentityTest, FromResultMatchesMakeAltsContext) {
  HandshakeResult result;
  result.peer_identity = Identity{"client@test", {{"k", "v"}}};
  result.local_identity = Identity{"server@test", {}};
  result.application_protocol = "grpc";
  result.record_protocol = RecordProtocol::kAes128Gcm;
  result.peer_rpc_versions = {{3, 0}, {2, 1}};
  const PeerIdentity peer = PeerIdentity::FromResult(result);
  EXPECT_EQ(peer.ToAltsContext().SerializeAsString(), MakeAltsContext(result).SerializeAsString());
  EXPECT_EQ(peer.record_protocol_name(), "ALTSRP_GCM_AES128");
}

TEST(PeerIdentityTableTest, EqualIdentitiesShareOneObjectThatDiesWithItsLastHolder) {
  auto table = PeerIdentityTable::Create();
  std::shared_ptr<const PeerIdentity> a = table->Intern(Make("client@test", {{"env", "prod"}}));
  std::shared_ptr<const PeerIdentity> b = table->Intern(Make("client@test", {{"env", "prod"}}));
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(table->size(), 1u);
  // Any differing field is another identity.
  std::shared_ptr<const PeerIdentity> c = table->Intern(Make("client@test", {{"env", "dev"}}));
  PeerIdentity other_protocol(Identity{"client@test", {{"env", "prod"}}},
                              Identity{"server@test", {}}, "grpc", RecordProtocol::kAes128Gcm,
                              kDefaultRpcVersions);
  std::shared_ptr<const PeerIdentity> d = table->Intern(std::move(other_protocol));
  EXPECT_NE(c.get(), a.get());
  EXPECT_NE(d.get(), a.get());
  EXPECT_EQ(table->size(), 3u);
  a.reset();
  EXPECT_EQ(table->size(), 3u);  // b still holds it
  b.reset();
  EXPECT_EQ(table->size(), 2u);
  c.reset();
  d.reset();
  EXPECT_EQ(table->size(), 0u);
  // A fresh intern after the last holder left makes a new object.
  EXPECT_NE(table->Intern(Make("client@test")), nullptr);
}

TEST(PeerIdentityTableTest, BoundedAndIdentitiesOutliveTheTable) {
  auto table = PeerIdentityTable::Create(2);
  auto a = table->Intern(Make("a@test"));
  auto b = table->Intern(Make("b@test"));
  auto c = table->Intern(Make("c@test"));  // past capacity: handed out unshared
  auto c2 = table->Intern(Make("c@test"));
  EXPECT_EQ(table->size(), 2u);
  EXPECT_EQ(c->service_account(), "c@test");
  EXPECT_NE(c.get(), c2.get());
  EXPECT_EQ(table->Intern(Make("a@test")).get(), a.get());
  table.reset();
  EXPECT_EQ(a->service_account(), "a@test");
  a.reset();  // the deleter still finds its (now private) table state
  b.reset();
}

TEST(PeerIdentityTableTest, ConcurrentInternAndRelease) {
  auto table = PeerIdentityTable::Create();
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::shared_ptr<const PeerIdentity>> held;
      for (int i = 0; i < kRounds; ++i) {
        auto p = table->Intern(Make(absl::StrCat("peer", i % 7, "@test")));
        ASSERT_EQ(p->service_account(), absl::StrCat("peer", i % 7, "@test"));
        if ((i + t) % 3 == 0) held.push_back(std::move(p));
        if (held.size() > 16) held.erase(held.begin());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(table->size(), 0u);
}

TEST(PeerIdentityTableTest, GlobalTableIsShared) {
  auto a = PeerIdentityTable::Global().Intern(Make("global@test"));
  auto b = InternPeerIdentity(
      [] {
        HandshakeResult r;
        r.peer_identity = Identity{"global@test", {}};
        r.local_identity = Identity{"server@test", {}};
        r.application_protocol = "grpc";
        r.peer_rpc_versions = kDefaultRpcVersions;
        return r;
      }(),
      nullptr);
  EXPECT_EQ(a.get(), b.get());
}

}  // namespace
}  // namespace alts
