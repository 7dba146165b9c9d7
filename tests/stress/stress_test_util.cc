#include "tests/stress/stress_test_util.h"

#include <dirent.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "frame/frame_format.h"


namespace alts::testing {

int StressScale() {
  const char* value = getenv("ALTS_STRESS_SCALE");
  if (value == nullptr) return 1;
  const int scale = atoi(value);
  return scale > 0 ? scale : 1;
}
std::vector<uint64_t> StressSeeds(uint64_t base, int per_case) {
  const char* only = getenv("ALTS_STRESS_SEED");
  const int runs = per_case * StressScale();
  std::vector<uint64_t> seeds;
  for (int i = 0; i < runs; ++i) {
    const uint64_t seed = StressSeed(base, i, per_case);
    if (only == nullptr || std::to_string(seed) == only) seeds.push_back(seed);
  }
  return seeds;
}

std::string FormatCounts(const std::map<std::string, int>& counts) {
  std::string out;
  for (const auto& [name, n] : counts) absl::StrAppend(&out, " ", name, "=", n);
  return out;
}

namespace {

// kMaxWriteChunk: the largest single Write a Sender makes; spans several
// frames and more than one pool buffer, so writes are cut every which way.
constexpr size_t kMaxWriteChunk = 48 * 1024;

}  // namespace

int CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int count = 0;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own descriptor
}

size_t RaiseFdLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<size_t>(rl.rlim_cur);
}

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

CutPosition RecordCut(absl::string_view records, size_t offset) {
  size_t pos = 0;
  while (pos < offset) {
    if (pos + 4 > records.size()) return CutPosition::kInsideFrame;
    const auto* p = reinterpret_cast<const uint8_t*>(records.data() + pos);
    const size_t length = size_t{p[0]} | size_t{p[1]} << 8 | size_t{p[2]} << 16 |
                          size_t{p[3]} << 24;
    pos += 4 + length;
  }
  return pos == offset ? CutPosition::kAtFrameBoundary : CutPosition::kInsideFrame;
}

size_t DeliverablePlaintext(absl::string_view records, size_t offset) {
  size_t pos = 0;
  size_t plaintext = 0;
  offset = std::min(offset, records.size());
  while (pos + kFrameLengthFieldSize <= offset) {
    const auto* p = reinterpret_cast<const uint8_t*>(records.data() + pos);
    const size_t length = size_t{p[0]} | size_t{p[1]} << 8 | size_t{p[2]} << 16 |
                          size_t{p[3]} << 24;
    if (pos + kFrameLengthFieldSize + length > offset || length < kMinFrameLengthField) break;
    plaintext += length - kMinFrameLengthField;
    pos += kFrameLengthFieldSize + length;
  }
  return plaintext;
}

std::string CutLoss::ToString() const {
  return absl::StrCat(lost, " B handed to Write and never delivered in ", runs, " cut runs, ",
                      lost_after_arrival, " B of it after reaching the peer");
}

std::string CheckCutDelivery(const absl::Status& peer_end, size_t delivered,
                             size_t deliverable) {
  if (delivered > deliverable) {
    return absl::StrCat("delivered ", delivered, " B, more than the ", deliverable,
                        " B in complete frames before the cut");
  }
  const bool read_to_end =
      peer_end.ok() || peer_end.code() == absl::StatusCode::kDataLoss;
  if (read_to_end && delivered != deliverable) {
    return absl::StrCat("read to the end of the stream (", peer_end.ToString(),
                        ") but delivered ", delivered, " of the ", deliverable,
                        " B in complete frames before the cut");
  }
  return "";
}

size_t HandshakePrefix(absl::string_view stream, int messages) {
  size_t pos = 0;
  for (int i = 0; i < messages; ++i) {
    if (pos + 4 > stream.size()) return absl::string_view::npos;
    const auto* p = reinterpret_cast<const uint8_t*>(stream.data() + pos);
    pos += 4 + (size_t{p[1]} << 16 | size_t{p[2]} << 8 | size_t{p[3]});
    if (pos > stream.size()) return absl::string_view::npos;
  }
  return pos;
}

std::pair<size_t, size_t> FullHandshakeBytes(const std::vector<FdRecord>& records) {
  constexpr int kMessagesPerSide = 2;  // Init, Finished
  if (records.size() != 2) return {absl::string_view::npos, absl::string_view::npos};
  return {HandshakePrefix(records[0].written, kMessagesPerSide),
          HandshakePrefix(records[1].written, kMessagesPerSide)};
}

const char* ScenarioName(FaultScenario scenario) {
  switch (scenario) {
    case FaultScenario::kShortReads:
      return "ShortReads";
    case FaultScenario::kShortWrites:
      return "ShortWrites";
    case FaultScenario::kEintrStorms:
      return "EintrStorms";
    case FaultScenario::kEagainStorms:
      return "EagainStorms";
    case FaultScenario::kStalls:
      return "Stalls";
    case FaultScenario::kMixed:
      return "Mixed";
    case FaultScenario::kReset:
      return "Reset";
    case FaultScenario::kHalfClose:
      return "HalfClose";
  }
  return "?";
}

bool IsCut(FaultScenario scenario) {
  return scenario == FaultScenario::kReset || scenario == FaultScenario::kHalfClose;
}

FdFaults ScenarioFaults(FaultScenario scenario, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53;
  };
  FdFaults f;
  const bool mixed = scenario == FaultScenario::kMixed;
  if (mixed || scenario == FaultScenario::kShortReads) f.short_read = uniform(0.3, 1.0);
  if (mixed || scenario == FaultScenario::kShortWrites) f.short_write = uniform(0.3, 1.0);
  if (mixed || scenario == FaultScenario::kEintrStorms) f.eintr = uniform(0.1, 0.5);
  if (mixed || scenario == FaultScenario::kEagainStorms) f.eagain = uniform(0.1, 0.5);
  f.max_storm = 1 + static_cast<uint32_t>(rng() % kDefaultMaxStorm);
  if (mixed || scenario == FaultScenario::kStalls) {
    f.stall = uniform(0.05, 0.3);
    f.stall_for = absl::Milliseconds(1 + static_cast<int64_t>(rng() % 8));
  }
  return f;
}

std::string CheckCutPeerEnd(const absl::Status& status, bool reset, bool tcp,
                            CutPosition position) {
  const bool inside = position == CutPosition::kInsideFrame;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      // The connection broke (ECONNRESET or EPIPE): always a possible end,
      // since the cut side closes for good once its next write fails, and
      // a close with unread data is abortive (an RST that can overtake the
      // FIN still queued behind unsent bytes).
      return "";
    case absl::StatusCode::kDataLoss:
      if (!(reset && tcp) && inside) return "";
      return "kDataLoss " + std::string(inside ? "" : "at a frame boundary ") +
             (reset && tcp ? "after a TCP reset: " : ": ") + status.ToString();
    case absl::StatusCode::kOk:
      if (!(reset && tcp) && !inside) return "";
      return inside ? "a clean end inside a frame" : "a clean end after a TCP reset";
    default:
      return "unexpected code: " + status.ToString();
  }
}

// ---------------------------------------------------------------------------

Sender::Sender(SecureConnection* conn, std::vector<uint8_t> message, uint64_t seed,
               std::function<void()> done)
    : conn_(conn), message_(std::move(message)), rng_(seed), done_(std::move(done)) {}

void Sender::Begin() {
  Pump();
  if (message_.empty() && !closing_) {
    closing_ = true;
    conn_->Close();
  }
}

void Sender::Pump() {
  while (sent_ < message_.size() && !ended_) {
    const size_t chunk =
        std::min(message_.size() - sent_, 1 + static_cast<size_t>(rng_() % kMaxWriteChunk));
    absl::StatusOr<size_t> n =
        conn_->Write(absl::MakeConstSpan(message_.data() + sent_, chunk));
    if (!n.ok()) {
      // The connection may have sent part of this chunk before failing.
      in_failed_write_ = chunk;
      return;  // OnEnd follows
    }
    if (*n == 0) return;  // OnWritable follows
    sent_ += *n;
  }
}

void Sender::OnData(absl::Span<uint8_t> data, BufferLease&) {
  if (echoed_ + data.size() > message_.size() ||
      !std::equal(data.begin(), data.end(), message_.begin() + static_cast<long>(echoed_))) {
    corrupted_ = true;
  }
  echoed_ += data.size();
  if (echoed_ >= message_.size() && !closing_) {
    closing_ = true;
    conn_->Close();
  }
}

void Sender::OnWritable() { Pump(); }

void Sender::OnEnd(const absl::Status& status) {
  ended_ = true;
  status_ = status;
  if (done_) std::exchange(done_, nullptr)();
}

// ---------------------------------------------------------------------------

Echo::Echo(SecureConnection* conn, const std::vector<uint8_t>* expected,
           std::function<void()> done)
    : conn_(conn), expected_(expected), done_(std::move(done)) {}

void Echo::OnData(absl::Span<uint8_t> data, BufferLease&) {
  if (expected_ != nullptr &&
      (received_ + data.size() > expected_->size() ||
       !std::equal(data.begin(), data.end(), expected_->begin() + static_cast<long>(received_)))) {
    corrupted_ = true;
  }
  received_ += data.size();
  pending_.insert(pending_.end(), data.begin(), data.end());
  Push();
}

void Echo::OnWritable() { Push(); }

void Echo::Push() {
  while (!pending_.empty()) {
    absl::StatusOr<size_t> n = conn_->Write(pending_);
    if (!n.ok()) {
      in_failed_write_ = pending_.size();  // may have gone out in part
      return;
    }
    if (*n == 0) return;
    sent_ += *n;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(*n));
  }
  if (eof_) conn_->Close();
}

void Echo::OnEnd(const absl::Status& status) {
  ended_ = true;
  status_ = status;
  if (status.ok()) {
    eof_ = true;
    Push();
  }
  if (done_) std::exchange(done_, nullptr)();
}

void KeptConnections::Keep(Reactor& reactor, std::unique_ptr<SecureConnection> conn,
                           std::unique_ptr<ReadyHandler> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  kept_.push_back({&reactor, std::move(conn), std::move(handler)});
}

absl::Status KeptConnections::DestroyOn(ReactorGroup& group) {
  absl::Status status = group.RunOnAllAndWait([&](Reactor& r) {
    std::lock_guard<std::mutex> lock(mu_);
    for (Kept& k : kept_) {
      if (k.reactor == &r) k.conn.reset();
    }
  });
  std::lock_guard<std::mutex> lock(mu_);
  kept_.clear();
  return status;
}

}  // namespace alts::testing
