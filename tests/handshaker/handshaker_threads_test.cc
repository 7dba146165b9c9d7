// alts-test-labels: threads
// Handshakes on several threads share one config: the verified-chain cache,
// the ticket keys (rotating while in use) and the client session cache.
#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "handshaker/handshaker.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

TEST(HandshakerThreadsTest, ConcurrentHandshakesShareOneConfig) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40;
  FakeClock clock;
  TestPki pki(clock.Now());
  auto verifier = pki.Verifier(/*cache=*/2);  // small: evictions race with hits
  std::vector<std::shared_ptr<const WorkloadCredential>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(pki.Leaf(absl::StrCat("client", i, "@test")));
  auto server_config = MakeConfig(pki.Leaf("server@test", true), verifier, &clock);
  TicketKeyManager::Options options;
  options.clock = &clock;
  server_config->ticket_keys = *TicketKeyManager::Create(options);
  auto sessions = SessionCache::Create(4);

  std::atomic<int> completed{0}, resumed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto client_config = MakeConfig(clients[(t + i) % clients.size()], verifier, &clock);
        client_config->session_cache = sessions;
        HandshakeParams params;
        params.session_key = absl::StrCat("target", i % 3);  // shared between threads
        auto client = *Handshaker::Create(Side::kClient, client_config, params);
        auto server = *Handshaker::Create(Side::kServer, server_config, HandshakeParams());
        std::string c2s, s2c;
        ASSERT_TRUE(client->Start(&c2s).ok());
        // A ServerRetry (the ticket's key rotated out meanwhile) adds a
        // round trip.
        for (int round = 0; round < 4 && !server->done(); ++round) {
          s2c.clear();
          ASSERT_TRUE(server->Step(AsBytes(c2s), &s2c).ok()) << server->status();
          c2s.clear();
          if (!client->done()) {
            ASSERT_TRUE(client->Step(AsBytes(s2c), &c2s).ok()) << client->status();
          }
        }
        ASSERT_TRUE(client->done() && server->done());
        ASSERT_EQ(std::string(reinterpret_cast<const char*>(client->result().key_data.data()),
                              kKeyDataSize),
                  std::string(reinterpret_cast<const char*>(server->result().key_data.data()),
                              kKeyDataSize));
        if (client->result().resumed) ++resumed;
        ++completed;
        if (t == 0 && i % 10 == 9) server_config->ticket_keys->Rotate();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(completed.load(), kThreads * kPerThread);
  EXPECT_GT(resumed.load(), 0);
}

}  // namespace
}  // namespace alts::testing
