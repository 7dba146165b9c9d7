#ifndef ALTS_TOOLS_H2_PEER_PEER_SERVER_H_
#define ALTS_TOOLS_H2_PEER_PEER_SERVER_H_

// h2_peer's server: an HTTP/2 server on rpc::H2Transport (plaintext h2c
// with prior knowledge, or ALTS) answering
//
//   GET /bytes/N    200 with N bytes of the pattern (pattern.h, seed 0) and
//                   content-length N; N at most kMaxGetBytes, else 400
//   POST <any path> 200 echoing the request body as it arrives, under flow
//                   control both ways (a byte is returned to the peer's
//                   window only once it has been sent back)
//   other GETs 404, other methods 405
//
// for real HTTP/2 clients (nghttp, curl, h2load, python-h2) and h2_peer's
// own client.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "conn/plain_listener.h"
#include "conn/secure_listener.h"
#include "handshaker/handshaker.h"
#include "http2/session.h"
#include "tools/interop_server/interop_common.h"

namespace alts::h2peer {

// kMaxGetBytes bounds N of GET /bytes/N: a bigger body is a typo, and a
// test that wants more runs longer than any test should.
inline constexpr uint64_t kMaxGetBytes = uint64_t{1} << 32;

class ServerConnection;

// ServerStats count what a server did, over all its connections.
struct ServerStats {
  uint64_t connections = 0;
  uint64_t requests = 0;   // request header blocks that opened a stream
  uint64_t gets = 0;       // GET /bytes/N answered 200
  uint64_t echoes = 0;     // POSTs answered 200
  uint64_t refused = 0;    // answered 400, 404, 405 or 431
  uint64_t completed = 0;  // streams that ended with both sides done
  uint64_t reset = 0;      // streams reset, by either side, or cut off
  uint64_t body_bytes_sent = 0;
};

// PeerServer listens and serves; one per process (or per test).
class PeerServer {
 public:
  // Start listens on `address` ("HOST:PORT", port 0 picks one) on the
  // runtime's reactors: over ALTS when `alts` is set (its accepted client
  // identities apply), plaintext h2c otherwise. `verbose` logs each
  // connection's peer and end to stderr. Errors of the listener are
  // returned unchanged. Call from outside the reactor threads.
  static absl::StatusOr<std::unique_ptr<PeerServer>> Start(
      interop::Runtime& runtime, const std::string& address,
      std::shared_ptr<const HandshakerConfig> alts, bool verbose);
  // ~PeerServer stops (see Stop).
  ~PeerServer();
  PeerServer(const PeerServer&) = delete;
  PeerServer& operator=(const PeerServer&) = delete;

  // address returns the bound "HOST:PORT".
  const std::string& address() const { return address_; }
  // Stop closes the listener and every open connection (their streams are
  // cut off) and returns once all are gone. Idempotent; call from outside
  // the reactor threads.
  void Stop();
  // stats returns the counts so far.
  ServerStats stats() const;

 private:
  friend class ServerConnection;
  PeerServer(interop::Runtime& runtime, bool verbose);
  void Adopt(Reactor& reactor, std::unique_ptr<SecureConnection> connection,
             const std::string& peer, const std::string& account);
  void Forget(ServerConnection* c);

  interop::Runtime& runtime_;
  const bool verbose_;
  http2::SessionOptions options_;
  std::string address_;
  std::unique_ptr<PlainListener> plain_;
  std::unique_ptr<SecureListener> alts_;
  // Per reactor: its open connections (touched only on that reactor).
  std::vector<ServerConnection*> heads_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;

  // Counters, added to from every reactor.
  std::atomic<uint64_t> connections_{0}, requests_{0}, gets_{0}, echoes_{0}, refused_{0},
      completed_{0}, reset_{0}, body_bytes_sent_{0};
};

}  // namespace alts::h2peer

#endif  // ALTS_TOOLS_H2_PEER_PEER_SERVER_H_
