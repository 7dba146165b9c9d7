// Record-layer throughput next to raw BoringSSL AES-128-GCM, per frame size:
//   Seal/<impl>/<frame>    seal a batch of ~1 MiB of frames of <frame> bytes
//   Open/<impl>/<frame>    open such a batch in place (the copy of the sealed
//                          batch back into the buffer is not timed)
//   ContextCache/hit|miss  AeadContextCache::Get hitting, or missing (set-up)
// <impl> is alts_gcm (ALTSRP_GCM_AES128), alts_rekey (ALTSRP_GCM_AES128_REKEY)
// or raw_gcm (EVP_AEAD_CTX_seal_scatter / open_gather on a context set up
// once, on the same plaintext per frame: <frame> - 24 bytes). bytes/s counts
// plaintext. Frame sizes are whole frames on the wire.
//
// Each benchmark also reports allocs_per_frame: heap allocations per sealed
// or opened frame over a separate untimed run, counted by the process-wide
// allocator interposer (benchmarks/common/heap_accounting).
//
// After the runs a summary prints ALTS/raw throughput per size and the
// allocations per frame. The ratio is measured paired: ALTS and raw batches
// alternate, each timed on this thread's CPU clock, and the median of the
// per-pair ratios is printed, so load from other processes (which shifts the
// separate benchmark runs against each other) mostly cancels out. Goals:
// ratio >= 0.90 from 16 KiB up, 0 allocations per frame.
//
// Run: build/<dir>/benchmarks/record_bench --benchmark_min_time=0.5
//      (add --benchmark_repetitions=N for medians of the separate runs)

#include <openssl/aead.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "alts/aead_context_cache.h"
#include "alts/nonce_counter.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "benchmark/benchmark.h"
#include "frame/frame_format.h"

#if __has_include("benchmarks/common/heap_accounting.h")
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#define ALTS_RECORD_BENCH_HEAP 1
#endif

namespace alts {
namespace {

// kFrameSizes are whole frames on the wire (header and tag included).
constexpr size_t kFrameSizes[] = {4 * 1024, 16 * 1024, 64 * 1024, 1024 * 1024};
// kBatchBytes: work is done in batches of about this many bytes, so the
// untimed refill before an open batch and the timer calls around it are small
// next to the work measured.
constexpr size_t kBatchBytes = 1024 * 1024;
// kAllocProbeFrames: frames sealed or opened in the untimed allocation count.
constexpr size_t kAllocProbeFrames = 256;
// kPairedRounds: ALTS/raw batch pairs per summary cell; the median is kept.
constexpr int kPairedRounds = 41;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

enum class Impl { kAltsGcm, kAltsRekey, kRawGcm };
enum class Op { kSeal, kOpen };

const char* ImplName(Impl impl) {
  switch (impl) {
    case Impl::kAltsGcm:
      return "alts_gcm";
    case Impl::kAltsRekey:
      return "alts_rekey";
    case Impl::kRawGcm:
      return "raw_gcm";
  }
  return "?";
}

const char* OpName(Op op) { return op == Op::kSeal ? "Seal" : "Open"; }

void Die(const char* what) {
  std::fprintf(stderr, "record_bench: %s\n", what);
  std::abort();
}

std::vector<uint8_t> KeyData(RecordProtocol protocol) {
  std::vector<uint8_t> key(RecordKeySize(protocol));
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(0x5A ^ (i * 7));
  return key;
}

std::vector<uint8_t> Plaintext(size_t size) {
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(i * 131 + 7);
  return out;
}

RecordProtector MakeProtector(Impl impl, Side side, size_t frame_size) {
  const RecordProtocol protocol =
      impl == Impl::kAltsGcm ? RecordProtocol::kAes128Gcm : RecordProtocol::kAes128GcmRekey;
  absl::StatusOr<RecordProtector> p =
      RecordProtector::Create(protocol, side, KeyData(protocol), frame_size);
  if (!p.ok()) Die("RecordProtector::Create failed");
  return std::move(*p);
}

// RawGcm is BoringSSL AES-128-GCM on a context initialised once, laid out
// like a frame (8 bytes left for a header, tag after the ciphertext).
class RawGcm {
 public:
  RawGcm() {
    const std::vector<uint8_t> key = KeyData(RecordProtocol::kAes128Gcm);
    if (!EVP_AEAD_CTX_init(ctx_.get(), EVP_aead_aes_128_gcm(), key.data(), key.size(),
                           EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr)) {
      Die("EVP_AEAD_CTX_init");
    }
  }
  bool Seal(uint64_t n, absl::Span<const uint8_t> in, absl::Span<uint8_t> frame) {
    uint8_t nonce[kNonceSize];
    Nonce(n, nonce);
    size_t tag_len = 0;
    return EVP_AEAD_CTX_seal_scatter(ctx_.get(), frame.data() + kFrameHeaderSize,
                                     frame.data() + kFrameHeaderSize + in.size(), &tag_len,
                                     kTagSize, nonce, kNonceSize, in.data(), in.size(), nullptr,
                                     0, nullptr, 0) == 1;
  }
  bool Open(uint64_t n, absl::Span<uint8_t> frame) {
    uint8_t nonce[kNonceSize];
    Nonce(n, nonce);
    uint8_t* payload = frame.data() + kFrameHeaderSize;
    const size_t len = frame.size() - kFrameOverhead;
    return EVP_AEAD_CTX_open_gather(ctx_.get(), payload, nonce, kNonceSize, payload, len,
                                    payload + len, kTagSize, nullptr, 0) == 1;
  }

 private:
  static void Nonce(uint64_t n, uint8_t nonce[kNonceSize]) {
    std::memset(nonce, 0, kNonceSize);
    for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(n >> (8 * i));
  }

  bssl::ScopedEVP_AEAD_CTX ctx_;
};

// Workload seals or opens one batch of frames of one size with one impl.
class Workload {
 public:
  Workload(Impl impl, size_t frame_size)
      : impl_(impl),
        frame_size_(frame_size),
        payload_(frame_size - kFrameOverhead),
        batch_(std::max<size_t>(1, kBatchBytes / frame_size)),
        plaintext_(Plaintext(payload_)),
        pristine_(batch_ * frame_size),
        wire_(batch_ * frame_size) {
    if (impl == Impl::kRawGcm) {
      raw_ = std::make_unique<RawGcm>();
    } else {
      client_.emplace(MakeProtector(impl, Side::kClient, frame_size));
      server_.emplace(MakeProtector(impl, Side::kServer, frame_size));
    }
    // The batch an open starts from: frames 0 .. batch-1 of the direction.
    for (size_t i = 0; i < batch_; ++i) {
      if (!SealFrame(i, Frame(pristine_, i))) Die("seal");
    }
    sealed_ = batch_;
  }

  size_t frames() const { return batch_; }
  size_t plaintext_bytes() const { return batch_ * payload_; }

  // Seal seals a batch into the wire buffer, continuing the counter.
  void Seal() {
    for (size_t i = 0; i < batch_; ++i) {
      if (!SealFrame(sealed_++, Frame(wire_, i))) Die("seal");
    }
  }

  // PrepareOpen refills the wire buffer with the sealed batch and rewinds the
  // receiver to its first frame.
  void PrepareOpen() {
    std::memcpy(wire_.data(), pristine_.data(), wire_.size());
    if (server_) server_->open_crypter_for_testing().counter_for_testing().SetLowForTesting(0);
  }

  // Open opens the batch in the wire buffer in place.
  void Open() {
    if (raw_) {
      for (size_t i = 0; i < batch_; ++i) {
        if (!raw_->Open(i, Frame(wire_, i))) Die("raw open");
      }
      return;
    }
    absl::Span<uint8_t> input = absl::MakeSpan(wire_);
    while (!input.empty()) {
      absl::StatusOr<OpenResult> r = server_->OpenNext(input);
      if (!r.ok() || r->consumed != frame_size_) Die("open");
      input.remove_prefix(r->consumed);
    }
  }

  // VerifyOpened checks that the last Open produced the plaintext.
  void VerifyOpened() const {
    for (size_t i = 0; i < batch_; ++i) {
      if (std::memcmp(wire_.data() + i * frame_size_ + kFrameHeaderSize, plaintext_.data(),
                      payload_) != 0) {
        Die("opened plaintext differs");
      }
    }
  }

  // SealAllocs / OpenAllocs count heap allocations per sealed / opened frame.
  double SealAllocs();
  double OpenAllocs();

 private:
  absl::Span<uint8_t> Frame(std::vector<uint8_t>& buffer, size_t i) {
    return absl::MakeSpan(buffer).subspan(i * frame_size_, frame_size_);
  }

  bool SealFrame(uint64_t n, absl::Span<uint8_t> frame) {
    if (raw_) return raw_->Seal(n, plaintext_, frame);
    absl::StatusOr<size_t> written = client_->Seal(plaintext_, frame);
    return written.ok() && *written == frame_size_;
  }

  Impl impl_;
  size_t frame_size_;
  size_t payload_;
  size_t batch_;
  std::vector<uint8_t> plaintext_;
  std::vector<uint8_t> pristine_;
  std::vector<uint8_t> wire_;
  std::unique_ptr<RawGcm> raw_;
  std::optional<RecordProtector> client_;
  std::optional<RecordProtector> server_;
  uint64_t sealed_ = 0;
};

// CountAllocs returns heap allocations per call of `measured` over
// kAllocProbeFrames calls, each after an uncounted `prepare`, or -1 when the
// heap accounting is not linked in (or inactive, as in sanitizer builds).
double CountAllocs(absl::FunctionRef<bool()> prepare, absl::FunctionRef<bool()> measured) {
#ifdef ALTS_RECORD_BENCH_HEAP
  if (!bench::HeapAccountingActive()) return -1;
  // Warm up once (thread-local cache set-up) before counting.
  if (!prepare() || !measured()) Die("allocation probe warm-up failed");
  uint64_t allocations = 0;
  for (size_t i = 0; i < kAllocProbeFrames; ++i) {
    if (!prepare()) Die("allocation probe set-up failed");
    const bench::HeapSnapshot before = bench::TakeHeapSnapshot();
    const bool ok = measured();
    const bench::HeapSnapshot after = bench::TakeHeapSnapshot();
    if (!ok) Die("allocation probe failed");
    allocations += after.total_allocations - before.total_allocations;
  }
  return static_cast<double>(allocations) / kAllocProbeFrames;
#else
  (void)prepare;
  (void)measured;
  return -1;
#endif
}

double Workload::SealAllocs() {
  return CountAllocs([] { return true; },
                     [&] { return SealFrame(sealed_++, Frame(wire_, 0)); });
}

double Workload::OpenAllocs() {
  // One frame at a time: frame 0 of the pristine batch, receiver rewound.
  absl::Span<uint8_t> frame = Frame(wire_, 0);
  return CountAllocs(
      [&] {
        std::memcpy(frame.data(), pristine_.data(), frame_size_);
        if (server_) server_->open_crypter_for_testing().counter_for_testing().SetLowForTesting(0);
        return true;
      },
      [&] {
        if (raw_) return raw_->Open(0, frame);
        absl::StatusOr<OpenResult> r = server_->OpenNext(frame);
        return r.ok() && r->consumed == frame_size_;
      });
}

void BM_Seal(benchmark::State& state, Impl impl, size_t frame_size) {
  Workload w(impl, frame_size);
  for (auto _ : state) {
    w.Seal();
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * w.plaintext_bytes()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.frames()));
  state.counters["allocs_per_frame"] = w.SealAllocs();
}

void BM_Open(benchmark::State& state, Impl impl, size_t frame_size) {
  Workload w(impl, frame_size);
  for (auto _ : state) {
    state.PauseTiming();
    w.PrepareOpen();
    state.ResumeTiming();
    w.Open();
    benchmark::ClobberMemory();
  }
  w.VerifyOpened();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * w.plaintext_bytes()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * w.frames()));
  state.counters["allocs_per_frame"] = w.OpenAllocs();
}

// BM_ContextCache measures AeadContextCache::Get: a hit (one key) or, with
// more keys in rotation than the cache has slots, a miss every time (wipe
// the evicted slot and set up a context).
void BM_ContextCache(benchmark::State& state, bool miss) {
  constexpr size_t kKeys = AeadContextCache::kSlots + 1;
  uint8_t keys[kKeys][AeadContextCache::kKeySize];
  for (size_t k = 0; k < kKeys; ++k) {
    for (size_t i = 0; i < AeadContextCache::kKeySize; ++i) {
      keys[k][i] = static_cast<uint8_t>(k * 37 + i);
    }
  }
  AeadContextCache::Flush();
  const uint64_t inits = AeadContextCache::InitsForTesting();
  size_t k = 0;
  for (auto _ : state) {
    absl::StatusOr<const EVP_AEAD_CTX*> ctx = AeadContextCache::Get(keys[k]);
    if (!ctx.ok()) Die("AeadContextCache::Get");
    benchmark::DoNotOptimize(*ctx);
    if (miss && ++k == kKeys) k = 0;
  }
  state.counters["inits_per_get"] =
      static_cast<double>(AeadContextCache::InitsForTesting() - inits) /
      static_cast<double>(state.iterations());
  state.counters["allocs_per_get"] = CountAllocs([] { return true; }, [&] {
    if (miss && ++k == kKeys) k = 0;
    return AeadContextCache::Get(keys[k]).ok();
  });
  AeadContextCache::Flush();
}

double TimeBatch(Workload& w, Op op) {
  if (op == Op::kOpen) w.PrepareOpen();
  const double start = bench::ThreadCpuSeconds();
  if (op == Op::kSeal) {
    w.Seal();
  } else {
    w.Open();
  }
  return bench::ThreadCpuSeconds() - start;
}

// PairedRatio returns the median over kPairedRounds of (raw time / ALTS
// time) for one batch each, i.e. ALTS throughput relative to raw.
double PairedRatio(Op op, Impl impl, size_t frame_size) {
  Workload alts(impl, frame_size);
  Workload raw(Impl::kRawGcm, frame_size);
  TimeBatch(alts, op);  // warm up caches and the context cache
  TimeBatch(raw, op);
  std::vector<double> ratios;
  for (int round = 0; round < kPairedRounds; ++round) {
    double alts_time;
    double raw_time;
    if (round % 2 == 0) {
      alts_time = TimeBatch(alts, op);
      raw_time = TimeBatch(raw, op);
    } else {
      raw_time = TimeBatch(raw, op);
      alts_time = TimeBatch(alts, op);
    }
    if (alts_time > 0) ratios.push_back(raw_time / alts_time);
  }
  if (op == Op::kOpen) alts.VerifyOpened();
  if (ratios.empty()) return 0;
  std::nth_element(ratios.begin(), ratios.begin() + ratios.size() / 2, ratios.end());
  return ratios[ratios.size() / 2];
}

// SummaryReporter prints the console output and keeps each run's rate and
// allocation count for the summary.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  // SummaryReporter colours its output only on a terminal.
  SummaryReporter()
      : benchmark::ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    benchmark::ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      // With --benchmark_repetitions the median stands for the run.
      const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
      if (run.run_type != Run::RT_Iteration && !median) continue;
      Result& r = results_[run.run_name.str()];
      if (r.from_median && !median) continue;
      r.from_median = median;
      auto rate = run.counters.find("bytes_per_second");
      if (rate != run.counters.end()) r.bytes_per_second = rate->second.value;
      auto allocs = run.counters.find("allocs_per_frame");
      if (allocs != run.counters.end()) r.allocs_per_frame = allocs->second.value;
    }
  }

  // PrintSummary measures the paired ratios for every size that ran (both
  // ALTS impls and raw) and prints them with the runs' ratios and the
  // allocations per frame.
  void PrintSummary() const {
    std::printf(
        "\nSummary: ALTS / raw AES-128-GCM throughput on the same plaintext per frame\n"
        "  paired = median of %d interleaved batch pairs on thread CPU time (robust to load)\n"
        "  runs   = ratio of the benchmark runs above\n"
        "  goals: ratio >= 0.90 from 16 KiB up; 0 heap allocations per frame\n\n",
        kPairedRounds);
    std::printf("%-6s %-5s %12s %13s %10s %11s %12s %13s\n", "frame", "op", "gcm paired",
                "rekey paired", "gcm runs", "rekey runs", "gcm allocs", "rekey allocs");
    for (size_t frame : kFrameSizes) {
      for (Op op : {Op::kSeal, Op::kOpen}) {
        const Result* raw = Find(op, Impl::kRawGcm, frame);
        if (raw == nullptr) continue;
        std::string cells[6];
        int col = 0;
        for (Impl impl : {Impl::kAltsGcm, Impl::kAltsRekey}) {
          cells[col++] = Find(op, impl, frame) != nullptr
                             ? absl::StrFormat("%.3f", PairedRatio(op, impl, frame))
                             : "n/a";
        }
        for (Impl impl : {Impl::kAltsGcm, Impl::kAltsRekey}) {
          const Result* alts = Find(op, impl, frame);
          cells[col++] = alts != nullptr && raw->bytes_per_second > 0
                             ? absl::StrFormat("%.3f", alts->bytes_per_second /
                                                           raw->bytes_per_second)
                             : "n/a";
        }
        for (Impl impl : {Impl::kAltsGcm, Impl::kAltsRekey}) {
          const Result* alts = Find(op, impl, frame);
          cells[col++] = alts != nullptr && alts->allocs_per_frame >= 0
                             ? absl::StrFormat("%g", alts->allocs_per_frame)
                             : "n/a";
        }
        std::printf("%-6s %-5s %12s %13s %10s %11s %12s %13s\n", SizeName(frame).c_str(),
                    OpName(op), cells[0].c_str(), cells[1].c_str(), cells[2].c_str(),
                    cells[3].c_str(), cells[4].c_str(), cells[5].c_str());
      }
    }
    std::fflush(stdout);
  }

 private:
  struct Result {
    double bytes_per_second = 0;
    double allocs_per_frame = -1;
    bool from_median = false;
  };

  static std::string SizeName(size_t frame) {
    return frame >= 1024 * 1024 ? absl::StrFormat("%zuMiB", frame >> 20)
                                : absl::StrFormat("%zuKiB", frame >> 10);
  }

  const Result* Find(Op op, Impl impl, size_t frame) const {
    auto it = results_.find(absl::StrFormat("%s/%s/%zu", OpName(op), ImplName(impl), frame));
    return it == results_.end() ? nullptr : &it->second;
  }

  std::map<std::string, Result> results_;
};

void RegisterAll() {
  benchmark::RegisterBenchmark("ContextCache/hit",
                               [](benchmark::State& state) { BM_ContextCache(state, false); });
  benchmark::RegisterBenchmark("ContextCache/miss",
                               [](benchmark::State& state) { BM_ContextCache(state, true); });
  for (size_t frame : kFrameSizes) {
    for (Op op : {Op::kSeal, Op::kOpen}) {
      for (Impl impl : {Impl::kAltsGcm, Impl::kAltsRekey, Impl::kRawGcm}) {
        benchmark::RegisterBenchmark(
            absl::StrFormat("%s/%s/%zu", OpName(op), ImplName(impl), frame).c_str(),
            [op, impl, frame](benchmark::State& state) {
              if (op == Op::kSeal) {
                BM_Seal(state, impl, frame);
              } else {
                BM_Open(state, impl, frame);
              }
            });
      }
    }
  }
}

}  // namespace
}  // namespace alts

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  alts::RegisterAll();
  alts::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
