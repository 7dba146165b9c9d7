#ifndef ALTS_TESTS_RPC_RPC_TEST_UTIL_H_
#define ALTS_TESTS_RPC_RPC_TEST_UTIL_H_

// A server and channels in one process over loopback, plaintext or ALTS,
// with byte-level test methods:
//   /test.Echo/Unary         echoes the request; metadata x-status: "CODE
//                            message" answers that status instead; x-echo
//                            metadata comes back in headers and trailers.
//   /test.Echo/ServerStream  request "N SIZE": N messages of SIZE bytes.
//   /test.Echo/ClientStream  answers the total size of the requests.
//   /test.Echo/Bidi          echoes every message, finishes at half-close.
//   /test.Echo/Sleep         never answers (deadlines, cancellation).

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "rpc/channel.h"
#include "rpc/server.h"
#include "tests/handshaker/handshaker_test_util.h"

namespace alts::rpc::testing {

// kSpecialMessage is the status message Unary answers for x-status "CODE
// special": tabs, CR LF, '%' and UTF-8, which grpc-message must escape.
inline constexpr char kSpecialMessage[] = "no\tway: 100% \xe2\x9c\x93 \r\n done";

// Bytes converts a string to a byte span.
inline absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// Pattern returns `n` bytes derived from `seed` (verifiable on the far side).
std::string Pattern(size_t n, uint32_t seed);

// TestEnv owns a reactor group, pools and (for ALTS) a PKI.
class TestEnv {
 public:
  explicit TestEnv(bool alts, size_t threads = 2);
  ~TestEnv();

  // StartServer registers the test methods (plus `extra`) and listens on
  // loopback; returns the address. Options are adjusted by `tune`.
  std::string StartServer(std::function<void(ServerOptions&)> tune = {},
                          std::function<void(Server&)> extra = {});
  // NewChannel makes a channel to the server.
  std::unique_ptr<Channel> NewChannel(std::function<void(ChannelOptions&)> tune = {});
  std::unique_ptr<Channel> NewChannelTo(const std::string& address,
                                        std::function<void(ChannelOptions&)> tune = {});

  Server& server() { return *server_; }
  ReactorGroup& group() { return *group_; }
  BufferPool& read_pool() { return *pool_; }
  const ConnectionResources* resources() const { return &resources_; }
  bool alts() const { return alts_; }
  // client_config returns the handshaker config channels dial with (null
  // on plaintext); client_params their handshake parameters (the server's
  // identity as the target).
  const std::shared_ptr<HandshakerConfig>& client_config() const { return client_config_; }
  HandshakeParams client_params() const;
  const std::string& address() const { return address_; }
  void StopServer(absl::Duration grace = absl::ZeroDuration());

  // Counters the test methods keep.
  std::atomic<int> cancels{0};
  std::atomic<int> dones{0};
  std::atomic<int> sleeping{0};
  // The peer service account the last Unary handler saw ("" on plaintext).
  std::string last_peer;

 private:
  bool alts_;
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> pool_;
  std::unique_ptr<BufferPool> write_pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::unique_ptr<alts::testing::TestPki> pki_;
  std::shared_ptr<HandshakerConfig> server_config_;
  std::shared_ptr<HandshakerConfig> client_config_;
  std::unique_ptr<Server> server_;
  std::string address_;
};

}  // namespace alts::rpc::testing

#endif  // ALTS_TESTS_RPC_RPC_TEST_UTIL_H_
