#ifndef ALTS_TESTS_FUZZ_HTTP2_SESSION_FUZZ_COMMON_H_
#define ALTS_TESTS_FUZZ_HTTP2_SESSION_FUZZ_COMMON_H_

// What the two http2 Session fuzzers share. Input layout:
//   byte 0   options: bit 0 small windows, bit 1 manual window updates,
//            bit 2 MAX_CONCURRENT_STREAMS 2, bit 3 HEADER_TABLE_SIZE 0,
//            bit 4 max frame size 65536, bits 5-7 how deliveries are split
//   byte 1   seed of the generator that picks deliveries and the handler's
//            actions
//   rest     bytes from the peer, after its preface (magic + SETTINGS for a
//            client peer, SETTINGS for a server peer), which the fuzzer adds.
// The handler acts on events (responds, sends data, trailers, resets,
// pings, goes away, consumes) as the generator says. Invariants, checked
// after every delivery: the open-stream count matches the streams the
// handler saw open and not closed; no stream closes twice; the output is
// whole frames within the peer's frame size, no RST_STREAM names an idle
// stream, nothing is written once the session failed; HeapBytes stays under
// the bound the stated limits give; Receive after an error returns that
// error again.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "http2/frame.h"
#include "http2/frame_sink.h"
#include "http2/session.h"

namespace alts::http2::fuzz {

inline void Check(bool condition) {
  if (!condition) std::abort();
}

// Rng is a small deterministic generator (xorshift) seeded by the input.
struct Rng {
  uint64_t state;
  explicit Rng(uint8_t seed) : state(0x9e3779b97f4a7c15ull ^ (uint64_t{seed} * 0x100000001b3ull)) {}
  uint32_t Next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<uint32_t>(state >> 11);
  }
  bool OneIn(uint32_t n) { return Next() % n == 0; }
};

inline absl::Time g_now = absl::FromUnixSeconds(1'000'000'000);
inline absl::Time FuzzNow() { return g_now; }

inline SessionOptions OptionsFor(uint8_t config) {
  SessionOptions o;
  o.now = &FuzzNow;
  if (config & 1) {
    o.initial_window_size = 65535;
    o.connection_window = 65535;
  }
  o.auto_window_update = (config & 2) == 0;
  if (config & 4) o.max_concurrent_streams = 2;
  if (config & 8) o.header_table_size = 0;
  if (config & 16) o.max_frame_size = 65536;
  o.peer_reset_burst = 20;
  o.peer_resets_per_second = 10;
  return o;
}

inline const hpack::HeaderField kRequest[] = {
    {":method", "POST"}, {":scheme", "https"}, {":path", "/f"}, {":authority", "a"}};
inline const hpack::HeaderField kResponse[] = {{":status", "200"}, {"x-r", "1"}};
inline const hpack::HeaderField kInformational[] = {{":status", "100"}};
inline const hpack::HeaderField kTrailers[] = {{"grpc-status", "0"}};
inline const uint8_t kBody[40000] = {};

// CheckingSink collects output and checks it frame by frame.
class CheckingSink final : public FrameSink {
 public:
  void Write(absl::Span<const uint8_t> bytes) override {
    Check(!frozen);  // nothing may be written once the session failed
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  // Drain checks the whole frames written so far against `session` and
  // drops them.
  void Drain(const Session& session, bool client_preface, uint32_t max_frame_seen) {
    size_t pos = 0;
    if (client_preface && !preface_done) {
      if (out.size() < kConnectionPreface.size()) return;
      Check(out.compare(0, kConnectionPreface.size(), std::string(kConnectionPreface)) == 0);
      pos = kConnectionPreface.size();
      preface_done = true;
    }
    while (out.size() - pos >= kFrameHeaderSize) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(out.data()) + pos;
      const FrameHeader h = ParseFrameHeader(p);
      Check((p[5] & 0x80) == 0);
      if (out.size() - pos < kFrameHeaderSize + h.length) break;
      // Within the largest SETTINGS_MAX_FRAME_SIZE the peer allowed so far
      // (it may have lowered it since the frame was written).
      Check(h.length <= max_frame_seen);
      switch (static_cast<FrameType>(h.type)) {
        case FrameType::kData:
        case FrameType::kHeaders:
        case FrameType::kContinuation:
          Check(h.stream_id != 0);
          break;
        case FrameType::kRstStream: {
          Check(h.stream_id != 0 && h.length == 4);
          // Never for an idle stream: peer streams up to the last opened,
          // ours only once used.
          const bool peer_stream = (h.stream_id & 1) == (session.role() == Role::kServer ? 1u : 0u);
          if (peer_stream) Check(h.stream_id <= session.last_peer_stream_id());
          break;
        }
        case FrameType::kSettings:
        case FrameType::kPing:
        case FrameType::kGoaway:
          Check(h.stream_id == 0);
          break;
        case FrameType::kWindowUpdate:
          Check(h.length == 4 && (ReadU32(p + kFrameHeaderSize) & 0x7fffffff) != 0);
          break;
        case FrameType::kPushPromise:
        case FrameType::kPriority:
          Check(false);  // we never send these
          break;
      }
      pos += kFrameHeaderSize + h.length;
    }
    out.erase(0, pos);
  }

  std::string out;
  bool frozen = false;
  bool preface_done = false;
};

// ActingHandler tracks open streams and acts on events.
class ActingHandler final : public SessionHandler {
 public:
  ActingHandler(Rng* rng, bool server) : rng_(rng), server_(server) {}
  void set_session(Session* s) { session_ = s; }

  void OnHeaders(uint32_t id, void* data, const ReceivedHeaders& h, bool end_stream) override {
    if (server_ && h.kind == HeaderBlockKind::kRequest) {
      Check(data == nullptr);
      Check(open.insert(id).second);
      session_->SetStreamData(id, this);
    } else {
      Check(open.count(id) == 1);
      Check(server_ || data == this);
    }
    if (h.oversized) Check(h.fields.empty());
    Act(id);
  }
  void OnData(uint32_t id, void* data, absl::Span<const uint8_t> bytes, bool end_stream) override {
    Check(open.count(id) == 1);
    Check(data == this);
    if (!bytes.empty() && rng_->OneIn(2)) session_->Consume(id, bytes.size());
    if (rng_->OneIn(4)) Act(id);
  }
  void OnStreamClose(uint32_t id, void* data, ErrorCode, CloseCause) override {
    Check(open.erase(id) == 1);
    Check(data == this || data == nullptr);
  }
  void OnGoaway(uint32_t, ErrorCode, absl::string_view) override {
    if (rng_->OneIn(4)) session_->GoAway(ErrorCode::kNoError);
  }
  void OnPing(uint64_t, bool) override {
    if (rng_->OneIn(8)) session_->Ping(rng_->Next());
  }
  void OnPeerSettings(const Settings& settings) override {
    max_frame_seen = std::max(max_frame_seen, settings.max_frame_size);
  }
  void OnWindowAvailable(uint32_t id, void* data) override {
    Check(open.count(id) == 1);
    if (rng_->OneIn(2)) SendSome(id);
  }

  // Act does what the generator picks on stream `id` (if still open).
  void Act(uint32_t id) {
    if (open.count(id) == 0) return;
    switch (rng_->Next() % 12) {
      case 0:
      case 1:
        (void)session_->SubmitHeaders(id, kResponse, rng_->OneIn(3));
        break;
      case 2:
        (void)session_->SubmitHeaders(id, kInformational, false);
        break;
      case 3:
      case 4:
        SendSome(id);
        break;
      case 5:
        (void)session_->SubmitHeaders(id, kTrailers, true);
        break;
      case 6:
        session_->ResetStream(id, static_cast<ErrorCode>(rng_->Next() % 14));
        break;
      case 7:
        session_->Ping(rng_->Next());
        break;
      case 8:
        if (rng_->OneIn(4)) session_->GoAway(rng_->OneIn(2) ? ErrorCode::kNoError : ErrorCode::kCancel);
        break;
      case 9:
        if (!server_) {
          absl::StatusOr<uint32_t> nid = session_->SubmitRequest(kRequest, rng_->OneIn(2), this);
          if (nid.ok()) Check(open.insert(*nid).second);
        }
        break;
      default:
        break;
    }
  }
  void SendSome(uint32_t id) {
    const size_t n = rng_->Next() % sizeof(kBody);
    (void)session_->SendData(id, absl::MakeConstSpan(kBody, n), rng_->OneIn(3));
  }

  std::set<uint32_t> open;
  uint32_t max_frame_seen = kDefaultMaxFrameSize;

 private:
  Rng* rng_;
  bool server_;
  Session* session_ = nullptr;
};

// HeapBound is what the stated limits let a session hold: its streams, a
// held frame, a held header block, both HPACK tables.
inline size_t HeapBound(const SessionOptions& o, size_t streams) {
  return streams * 512 + 4096 + std::max<size_t>(o.max_frame_size, kDefaultMaxFrameSize) +
         kMaxHeaderBlockBytes + 4 * hpack::kMaxHeaderTableSize;
}

// Run drives one session of `role` through the input; `peer_preface` is
// delivered first. A client session submits three requests before the
// input.
inline void Run(Role role, const uint8_t* data, size_t size, absl::string_view peer_preface) {
  if (size < 2) return;
  const uint8_t config = data[0];
  Rng rng(data[1]);
  const SessionOptions options = OptionsFor(config);
  const bool server = role == Role::kServer;
  ActingHandler handler(&rng, server);
  CheckingSink sink;
  Session session(role, &options, &handler, &sink);
  handler.set_session(&session);
  session.Start();
  sink.Drain(session, !server, handler.max_frame_seen);
  absl::Status st = session.Receive(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(peer_preface.data()), peer_preface.size()));
  Check(st.ok());
  if (!server) {
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<uint32_t> id = session.SubmitRequest(kRequest, i == 2, &handler);
      Check(id.ok());
      Check(handler.open.insert(*id).second);
    }
  }
  sink.Drain(session, !server, handler.max_frame_seen);
  absl::Span<const uint8_t> in(data + 2, size - 2);
  const uint32_t split = config >> 5;
  while (!in.empty()) {
    size_t n = in.size();
    if (split != 0) n = std::min<size_t>(n, 1 + rng.Next() % (split == 7 ? 3 : 64u << split));
    absl::Status r = session.Receive(in.first(n));
    in.remove_prefix(n);
    if (!r.ok()) {
      Check(r == session.status());
      Check(session.open_streams() == 0);
      Check(handler.open.empty());
      sink.Drain(session, !server, handler.max_frame_seen);
      sink.frozen = true;
      Check(session.Receive(in) == r);
      Check(session.Receive(absl::MakeConstSpan(data, size)) == r);
      Check(session.ended());
      return;
    }
    Check(session.open_streams() == handler.open.size());
    Check(session.HeapBytes() <= HeapBound(options, handler.open.size()));
    sink.Drain(session, !server, handler.max_frame_seen);
    if (rng.OneIn(3)) session.OnOutputDrained();
    if (rng.OneIn(16)) {
      g_now += absl::Seconds(rng.Next() % 16);
      absl::Status t = session.CheckTimeouts(g_now);
      if (!t.ok()) {
        Check(t == session.status());
        sink.Drain(session, !server, handler.max_frame_seen);
        sink.frozen = true;
        Check(session.Receive(in) == t);
        return;
      }
    }
  }
  // The streams left are closed by the destructor, each once.
}

}  // namespace alts::http2::fuzz

#endif  // ALTS_TESTS_FUZZ_HTTP2_SESSION_FUZZ_COMMON_H_
