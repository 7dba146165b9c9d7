// Every byte of every handshake message, flipped in turn, must make the
// handshake fail with a specific error; it must never complete on both sides.
#include <iostream>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"

#include "gtest/gtest.h"
#include "handshaker/handshake_message.h"
#include "handshaker/handshaker_engine.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

enum class Scenario { kFull, kResumed, kFallback };

class TamperTest : public ::testing::TestWithParam<Scenario> {
 protected:
  TamperTest()
      : start_(clock_.Now()),
        pki_(clock_.Now()),
        verifier_(pki_.Verifier()),
        client_config_(MakeConfig(pki_.Leaf("client@test", false, {{"env", "test"}}), verifier_,
                                  &clock_)),
        server_config_(MakeConfig(pki_.Leaf("server@test", true), verifier_, &clock_)) {
    TicketKeyManager::Options options;
    options.clock = &clock_;
    server_config_->ticket_keys = *TicketKeyManager::Create(options);
    if (GetParam() == Scenario::kResumed) {
      // Take a real session out of a full handshake, to replay it each run.
      client_config_->session_cache = SessionCache::Create();
      HandshakerEngine c(client_config_), s(server_config_);
      HandshakeRun run = RunHandshake(c, s, ClientStartReq());
      EXPECT_TRUE(run.client_done && run.server_done);
      session_ = client_config_->session_cache->Take(SessionCacheKey("server.test", *client_config_->credential), clock_.Now());
      EXPECT_TRUE(session_.has_value());
    } else if (GetParam() == Scenario::kFallback) {
      session_.emplace();
      session_->ticket = std::string(120, 't');
      session_->server_identity.service_account = "server@test";
      session_->expiry = session_->server_not_after = absl::InfiniteFuture();
      session_->server_root_key_id = pki_.root.key_id();
    }
  }

  // Fresh engines, clock and session for every run.
  HandshakeRun RunOnce(const RunOptions& base) {
    clock_.Set(start_);
    if (session_.has_value()) {
      client_config_->session_cache = SessionCache::Create();
      ClientSession copy;
      copy.ticket = session_->ticket;
      copy.resumption_secret = session_->resumption_secret.Copy();
      copy.server_identity = session_->server_identity;
      copy.expiry = session_->expiry;
      copy.server_not_after = session_->server_not_after;
      copy.server_root_key_id = session_->server_root_key_id;
      client_config_->session_cache->Put(SessionCacheKey("server.test", *client_config_->credential), std::move(copy));
    }
    HandshakerEngine client(client_config_), server(server_config_);
    RunOptions options = base;
    options.clock = &clock_;
    return RunHandshake(client, server, ClientStartReq(), options);
  }

  FakeClock clock_;
  const absl::Time start_;
  TestPki pki_;
  std::shared_ptr<CertificateVerifier> verifier_;
  std::shared_ptr<HandshakerConfig> client_config_;
  std::shared_ptr<HandshakerConfig> server_config_;
  std::optional<ClientSession> session_;
};

TEST_P(TamperTest, EveryByteFlippedFailsSpecifically) {
  const HandshakeRun baseline = RunOnce({});
  ASSERT_TRUE(baseline.client_done && baseline.server_done)
      << baseline.client_status << " / " << baseline.server_status;
  ASSERT_EQ(baseline.client_result.key_data(), baseline.server_result.key_data());
  const std::vector<Message> c2s = SplitMessages(baseline.c2s);
  const std::vector<Message> s2c = SplitMessages(baseline.s2c);
  ASSERT_EQ(c2s.size(), GetParam() == Scenario::kFallback ? 3u : 2u);
  ASSERT_EQ(s2c.size(), GetParam() == Scenario::kFallback ? 3u : 2u);

  std::map<std::string, std::map<absl::StatusCode, int>> codes_by_message;
  int runs = 0;
  for (bool to_server : {true, false}) {
    const std::vector<Message>& messages = to_server ? c2s : s2c;
    const size_t total = (to_server ? baseline.c2s : baseline.s2c).size();
    for (size_t target = 0; target < total; ++target) {
      for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
        RunOptions options;
        options.tamper = [&](bool dir, size_t offset, std::string& bytes) {
          if (dir == to_server && target >= offset && target < offset + bytes.size()) {
            bytes[target - offset] = static_cast<char>(bytes[target - offset] ^ mask);
          }
        };
        const HandshakeRun run = RunOnce(options);
        ++runs;
        std::string where;
        for (const Message& m : messages) {
          if (target >= m.offset && target < m.offset + m.bytes.size()) {
            where = absl::StrCat(
                MessageTypeName(static_cast<MessageType>(m.type)),
                to_server ? " c2s" : " s2c", target - m.offset < 4 ? " header" : " body");
          }
        }
        SCOPED_TRACE(absl::StrCat(where, " byte ", target, " mask ", mask));
        ASSERT_FALSE(run.client_done && run.server_done)
            << "a tampered handshake completed on both sides";
        ASSERT_TRUE(!run.client_status.ok() || !run.server_status.ok())
            << "nobody noticed the tampering";
        for (const absl::Status* s : {&run.client_status, &run.server_status}) {
          if (!s->ok()) {
            EXPECT_TRUE(SpecificCode(s->code())) << *s;
            ++codes_by_message[where][s->code()];
          }
        }
      }
    }
  }
  for (const auto& [where, codes] : codes_by_message) {
    std::string line = where + ":";
    for (const auto& [code, count] : codes) {
      absl::StrAppend(&line, " ", absl::StatusCodeToString(code), "=", count);
    }
    std::cout << line << "\n";
  }
  std::cout << runs << " tampered handshakes\n";
}

INSTANTIATE_TEST_SUITE_P(AllFlows, TamperTest,
                         ::testing::Values(Scenario::kFull, Scenario::kResumed,
                                           Scenario::kFallback),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                           switch (info.param) {
                             case Scenario::kFull:
                               return "Full";
                             case Scenario::kResumed:
                               return "Resumed";
                             case Scenario::kFallback:
                               return "Fallback";
                           }
                           return "Unknown";
                         });

}  // namespace
}  // namespace alts::testing
