#ifndef ALTS_TOOLS_H2_PEER_PEER_CLIENT_H_
#define ALTS_TOOLS_H2_PEER_PEER_CLIENT_H_

// h2_peer's client: one HTTP/2 connection (plaintext h2c with prior
// knowledge, or ALTS) on rpc::H2Transport that fetches and echoes bodies
// and verifies every byte:
//
//   GET  <get_prefix>N   expects 200 and exactly N pattern bytes (seed 0)
//   POST <echo_path>     sends N pattern bytes (a seed per request) and
//                        expects 200 and the same N bytes back
//
// with up to `concurrent` streams in flight (never more than the server's
// MAX_CONCURRENT_STREAMS; refused streams are retried), so bodies larger
// than the windows cross flow control on both sides.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "handshaker/handshaker.h"
#include "handshaker/identity.h"
#include "tools/interop_server/interop_common.h"

namespace alts::h2peer {

// kMaxRequests bounds the requests of one run (sizes x repeat): every
// request's state is kept until the run ends.
inline constexpr uint64_t kMaxRequests = 1000000;
// kMaxRequestAttempts: a request the server refused (REFUSED_STREAM, or
// above its GOAWAY) is sent at most this often.
inline constexpr int kMaxRequestAttempts = 3;

// ClientOptions describe one client run.
struct ClientOptions {
  std::string address;    // "HOST:PORT" to connect to
  std::string authority;  // :authority; empty = address
  std::vector<uint64_t> get_sizes;
  std::vector<uint64_t> echo_sizes;
  std::string get_prefix = "/bytes/";
  std::string echo_path = "/echo";
  uint32_t repeat = 1;       // every size this many times
  uint32_t concurrent = 10;  // streams in flight at most
  absl::Duration timeout = absl::Seconds(60);
  // ALTS (nullptr: plaintext) and the server identities accepted (empty:
  // any trusted server).
  std::shared_ptr<const HandshakerConfig> alts;
  std::vector<Identity> alts_targets;
};

// ClientResult is what a run found.
struct ClientResult {
  uint64_t requests = 0;  // requests of the run
  uint64_t passed = 0;
  uint64_t failed = 0;    // includes those never completed (connection lost, timeout)
  uint64_t gets = 0, echoes = 0;
  uint64_t bytes_verified = 0;  // response body bytes that matched
  uint32_t max_in_flight = 0;   // most streams open at once
  std::string first_error;      // the first failure, readable; empty if none
  std::string server_account;   // ALTS: the server's authenticated account
  absl::Duration elapsed;       // connect to last response
  bool ok() const { return failed == 0 && passed == requests && first_error.empty(); }
};

// RunClient connects to options.address, runs every request and returns
// the result; a connection that cannot be made, fails or times out shows
// up as failed requests and first_error. Call from outside the runtime's
// reactor threads.
ClientResult RunClient(interop::Runtime& runtime, const ClientOptions& options);

}  // namespace alts::h2peer

#endif  // ALTS_TOOLS_H2_PEER_PEER_CLIENT_H_
