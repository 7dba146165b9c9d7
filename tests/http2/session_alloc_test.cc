// Checks that a steady-state request/response exchange between two Sessions
// allocates nothing: stream objects come from the thread's free list, header
// blocks decode into per-thread scratch, DATA is handed over from the input.
// This binary counts every heap allocation in the process
// (tests/common/alloc_counter.h).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "http2/frame_sink.h"
#include "http2/session.h"
#include "tests/common/alloc_counter.h"

namespace alts::http2 {
namespace {

using ::alts::testing::Allocations;

// BufferSink keeps its capacity across Clear.
class BufferSink final : public FrameSink {
 public:
  BufferSink() { bytes_.reserve(1 << 20); }
  void Write(absl::Span<const uint8_t> b) override { bytes_.insert(bytes_.end(), b.begin(), b.end()); }
  absl::Span<const uint8_t> bytes() const { return bytes_; }
  void Clear() { bytes_.clear(); }

 private:
  std::vector<uint8_t> bytes_;
};

// CountingHandler records what an exchange needs, without allocating.
class CountingHandler final : public SessionHandler {
 public:
  void OnHeaders(uint32_t id, void*, const ReceivedHeaders& h, bool end_stream) override {
    ++headers;
    last_id = id;
    if (end_stream) ++ends;
  }
  void OnData(uint32_t id, void*, absl::Span<const uint8_t> data, bool end_stream) override {
    data_bytes += data.size();
    if (end_stream) ++ends;
  }
  void OnStreamClose(uint32_t, void*, ErrorCode code, CloseCause cause) override {
    ++closes;
    if (cause != CloseCause::kCompleted) ++bad_closes;
  }
  uint64_t headers = 0, ends = 0, closes = 0, bad_closes = 0, data_bytes = 0;
  uint32_t last_id = 0;
};

struct Pair {
  SessionOptions options;
  CountingHandler client_handler, server_handler;
  BufferSink client_sink, server_sink;
  std::unique_ptr<Session> client, server;

  Pair() {
    client = std::make_unique<Session>(Role::kClient, &options, &client_handler, &client_sink);
    server = std::make_unique<Session>(Role::kServer, &options, &server_handler, &server_sink);
    client->Start();
    server->Start();
  }
  // Pump delivers output both ways until quiet; false on a Receive error.
  bool Pump() {
    for (int i = 0; i < 100; ++i) {
      if (client_sink.bytes().empty() && server_sink.bytes().empty()) return true;
      if (!server->Receive(client_sink.bytes()).ok()) return false;
      client_sink.Clear();
      if (!client->Receive(server_sink.bytes()).ok()) return false;
      server_sink.Clear();
    }
    return false;
  }
};

const hpack::HeaderField kRequest[] = {{":method", "POST"},
                                       {":scheme", "https"},
                                       {":path", "/pkg.Service/Method"},
                                       {":authority", "example.com"},
                                       {"content-type", "application/grpc"},
                                       {"te", "trailers"}};
const hpack::HeaderField kResponse[] = {{":status", "200"}, {"content-type", "application/grpc"}};
const hpack::HeaderField kTrailers[] = {{"grpc-status", "0"}};

// Exchange runs one request with a body and a response with a body and
// trailers. Returns false on any failure.
bool Exchange(Pair& p, absl::Span<const uint8_t> body) {
  absl::StatusOr<uint32_t> id = p.client->SubmitRequest(kRequest, false, nullptr);
  if (!id.ok()) return false;
  absl::StatusOr<size_t> n = p.client->SendData(*id, body, true);
  if (!n.ok() || *n != body.size()) return false;
  if (!p.Pump()) return false;
  if (p.server_handler.last_id != *id) return false;
  if (!p.server->SubmitHeaders(*id, kResponse, false).ok()) return false;
  n = p.server->SendData(*id, body, false);
  if (!n.ok() || *n != body.size()) return false;
  if (!p.server->SubmitHeaders(*id, kTrailers, true).ok()) return false;
  return p.Pump();
}

TEST(SessionAllocTest, TheCounterSeesAllocations) {
  const uint64_t before = Allocations();
  void* volatile p = std::malloc(64);
  std::free(p);
  auto q = std::make_unique<std::vector<int>>(100);
  int* volatile data = q->data();
  (void)data;
  EXPECT_GE(Allocations(), before + 3);
  // A session's first stream does allocate (its object), so the counter
  // sees the session's own allocations too.
  Pair pair;
  ASSERT_TRUE(pair.Pump());
  const uint64_t before_stream = Allocations();
  absl::StatusOr<uint32_t> id = pair.client->SubmitRequest(kRequest, true, nullptr);
  ASSERT_TRUE(id.ok());
  // Hold 20 streams at once: more objects than the free list had.
  for (int i = 0; i < 19; ++i) ASSERT_TRUE(pair.client->SubmitRequest(kRequest, true, nullptr).ok());
  EXPECT_GT(Allocations(), before_stream);
}

TEST(SessionAllocTest, SteadyStateExchangeAllocatesNothing) {
  Pair p;
  ASSERT_TRUE(p.Pump());
  std::vector<uint8_t> body(3000, 0x5a);
  // Warm up: free lists, per-thread scratch, HPACK tables, sink capacity.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Exchange(p, body));
  const uint64_t before = Allocations();
  const uint64_t exchanges = 200;
  bool ok = true;
  for (uint64_t i = 0; i < exchanges && ok; ++i) ok = Exchange(p, body);
  const uint64_t allocations = Allocations() - before;
  ASSERT_TRUE(ok);
  EXPECT_EQ(p.client_handler.closes, exchanges + 10);
  EXPECT_EQ(p.server_handler.closes, exchanges + 10);
  EXPECT_EQ(p.client_handler.bad_closes + p.server_handler.bad_closes, 0u);
  EXPECT_EQ(p.client_handler.data_bytes, (exchanges + 10) * body.size());
  EXPECT_EQ(allocations, 0u) << "allocations per exchange: "
                             << static_cast<double>(allocations) / exchanges;
}

// ConcurrentRounds runs `rounds` rounds of `streams` concurrent exchanges
// after five rounds of warm-up and returns the allocations they made.
uint64_t ConcurrentRounds(int streams, int rounds) {
  Pair p;
  EXPECT_TRUE(p.Pump());
  std::vector<uint8_t> body(500, 0x11);
  auto round = [&]() {
    uint32_t ids[64];
    for (int i = 0; i < streams; ++i) {
      absl::StatusOr<uint32_t> r = p.client->SubmitRequest(kRequest, false, nullptr);
      if (!r.ok()) return false;
      ids[i] = *r;
      if (!p.client->SendData(ids[i], body, true).ok()) return false;
    }
    if (!p.Pump()) return false;
    for (int i = 0; i < streams; ++i) {
      if (!p.server->SubmitHeaders(ids[i], kResponse, false).ok()) return false;
      if (!p.server->SendData(ids[i], body, false).ok()) return false;
      if (!p.server->SubmitHeaders(ids[i], kTrailers, true).ok()) return false;
    }
    return p.Pump();
  };
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(round());
  const uint64_t before = Allocations();
  bool ok = true;
  for (int i = 0; i < rounds && ok; ++i) ok = round();
  const uint64_t allocations = Allocations() - before;
  EXPECT_TRUE(ok);
  EXPECT_EQ(p.client_handler.bad_closes + p.server_handler.bad_closes, 0u);
  EXPECT_EQ(p.client_handler.closes, static_cast<uint64_t>(streams) * (rounds + 5));
  return allocations;
}

TEST(SessionAllocTest, EightConcurrentStreamsAllocateNothing) {
  // Up to eight open streams are found through the session's list.
  EXPECT_EQ(ConcurrentRounds(8, 20), 0u);
}

TEST(SessionAllocTest, ManyConcurrentStreamsAllocatePerBurstNotPerStream) {
  // Above eight open streams a hash index is built, and freed again when no
  // stream is left (an idle session keeps nothing): a few allocations per
  // burst on each side, never one per stream or frame.
  const uint64_t per_round_16 = ConcurrentRounds(16, 20) / 20;
  const uint64_t per_round_64 = ConcurrentRounds(64, 20) / 20;
  EXPECT_LT(per_round_16, 16u);
  EXPECT_LT(per_round_64, 32u);
}

}  // namespace
}  // namespace alts::http2
