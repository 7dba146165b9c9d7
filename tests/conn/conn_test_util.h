#ifndef ALTS_TESTS_CONN_CONN_TEST_UTIL_H_
#define ALTS_TESTS_CONN_CONN_TEST_UTIL_H_

// Helpers the connection-layer tests share: reactor group options, a record
// protector under a fixed test key, seeded random payloads, a descriptor
// limit high enough for thousands of sockets, and an echoing handler.

#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/ready_reader.h"
#include "conn/secure_connection.h"
#include "gtest/gtest.h"

namespace alts::testing {

// kTestProtocol is the record protocol the connection tests run.
inline constexpr char kTestProtocol[] = "ALTSRP_GCM_AES128_REKEY";

// GroupOptions returns reactor group options with `threads` threads.
inline ReactorGroupOptions GroupOptions(size_t threads) {
  ReactorGroupOptions options;
  options.threads = threads;
  return options;
}

// TestKey returns the fixed 44-byte key both ends of a test connection use.
inline std::vector<uint8_t> TestKey() {
  std::vector<uint8_t> key(44);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  return key;
}

// TestProtector returns a kTestProtocol protector for `side` under TestKey()
// that seals frames of at most `max_frame` bytes; fails the test if it
// cannot be created.
inline RecordProtector TestProtector(Side side, size_t max_frame = kDefaultMaxFrameSize) {
  absl::StatusOr<RecordProtector> p =
      RecordProtector::Create(kTestProtocol, side, TestKey(), max_frame);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::move(*p);
}

// RandomBytes returns `n` bytes from a generator seeded with `seed`: the same
// seed gives the same bytes, so a test can regenerate what it sent.
inline std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// RaiseFdLimit raises the soft descriptor limit to at least `wanted` if the
// hard limit allows, and returns the soft limit now in force (0 if it cannot
// be read). Tests that open thousands of sockets compare it with what they
// need.
inline rlim_t RaiseFdLimit(rlim_t wanted) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

// EchoHandler writes back everything its connection delivers, keeping what
// the connection does not take yet until it is writable again, and closes
// the connection once the peer's EOF has arrived and everything is echoed.
// The connection must outlive the handler's use.
class EchoHandler : public ReadyHandler {
 public:
  explicit EchoHandler(SecureConnection* conn) : conn_(conn) {}

  void OnData(absl::Span<uint8_t> data, BufferLease&) override {
    pending_.insert(pending_.end(), data.begin(), data.end());
    Push();
  }
  void OnWritable() override { Push(); }
  void OnEnd(const absl::Status&) override {
    eof_ = true;
    Push();
  }

 private:
  void Push() {
    while (!pending_.empty()) {
      absl::StatusOr<size_t> n = conn_->Write(pending_);
      if (!n.ok() || *n == 0) break;
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(*n));
    }
    if (eof_ && pending_.empty()) conn_->Close();
  }

  SecureConnection* conn_;
  std::vector<uint8_t> pending_;
  bool eof_ = false;
};

}  // namespace alts::testing

#endif  // ALTS_TESTS_CONN_CONN_TEST_UTIL_H_
