// Record-layer throughput next to raw BoringSSL AES-128-GCM, per frame size:
//   Seal/<impl>/<frame>   seal one frame of <frame> bytes on the wire
//   Open/<impl>/<frame>   open frames in place, a batch of ~1 MiB at a time
//   ContextCache/hit|miss AeadContextCache::Get hitting, or missing (set-up)
// <impl> is alts_gcm (ALTSRP_GCM_AES128), alts_rekey (ALTSRP_GCM_AES128_REKEY)
// or raw_gcm (EVP_AEAD_CTX_seal_scatter / open_gather on a context set up once,
// with the same plaintext size: frame - 24 bytes). bytes/s counts plaintext.
//
// Each ALTS benchmark also reports allocs_per_frame: heap allocations per
// sealed or opened frame, counted over a separate untimed run of frames with
// the process-wide allocator interposer (benchmarks/common/heap_accounting).
//
// After the runs a summary prints ALTS/raw throughput per size (goal >= 0.9
// from 16 KiB up) and the allocations per frame (goal 0).
//
// Run: build/<dir>/benchmarks/record_bench --benchmark_min_time=0.5
//      (add --benchmark_repetitions=N to summarise the medians)

#include <openssl/aead.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
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
#include "benchmarks/common/heap_accounting.h"
#define ALTS_RECORD_BENCH_HEAP 1
#endif

namespace alts {
namespace {

// kFrameSizes are whole frames on the wire (header and tag included).
constexpr size_t kFrameSizes[] = {4 * 1024, 16 * 1024, 64 * 1024, 1024 * 1024};
// kOpenBatchBytes: opening decrypts in place, so each timed batch starts from
// a fresh copy of sealed frames; ~1 MiB per batch keeps the untimed copy and
// the pause/resume of the timer small next to the work measured.
constexpr size_t kOpenBatchBytes = 1024 * 1024;
// kAllocProbeFrames: frames sealed and opened in the untimed allocation count.
constexpr size_t kAllocProbeFrames = 256;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;

enum class Impl { kAltsGcm, kAltsRekey, kRawGcm };

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

RecordProtocol ProtocolOf(Impl impl) {
  return impl == Impl::kAltsGcm ? RecordProtocol::kAes128Gcm : RecordProtocol::kAes128GcmRekey;
}

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
  const RecordProtocol protocol = ProtocolOf(impl);
  absl::StatusOr<RecordProtector> p =
      RecordProtector::Create(protocol, side, KeyData(protocol), frame_size);
  if (!p.ok()) Die("RecordProtector::Create failed");
  return std::move(*p);
}

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

// SealAllocs / OpenAllocs count allocations per sealed / opened frame on a
// fresh protector pair.
double SealAllocs(Impl impl, size_t frame_size) {
  RecordProtector client = MakeProtector(impl, Side::kClient, frame_size);
  const std::vector<uint8_t> plaintext = Plaintext(frame_size - kFrameOverhead);
  std::vector<uint8_t> wire(frame_size);
  return CountAllocs([] { return true; },
                     [&] { return client.Seal(plaintext, absl::MakeSpan(wire)).ok(); });
}

double OpenAllocs(Impl impl, size_t frame_size) {
  RecordProtector client = MakeProtector(impl, Side::kClient, frame_size);
  RecordProtector server = MakeProtector(impl, Side::kServer, frame_size);
  const std::vector<uint8_t> plaintext = Plaintext(frame_size - kFrameOverhead);
  std::vector<uint8_t> wire(frame_size);
  return CountAllocs([&] { return client.Seal(plaintext, absl::MakeSpan(wire)).ok(); },
                     [&] {
                       absl::StatusOr<OpenResult> r = server.OpenNext(absl::MakeSpan(wire));
                       return r.ok() && r->consumed == frame_size;
                     });
}

// RawGcm is BoringSSL AES-128-GCM on a context initialised once.
class RawGcm {
 public:
  RawGcm() {
    const std::vector<uint8_t> key = KeyData(RecordProtocol::kAes128Gcm);
    if (!EVP_AEAD_CTX_init(ctx_.get(), EVP_aead_aes_128_gcm(), key.data(), key.size(),
                           EVP_AEAD_DEFAULT_TAG_LENGTH, nullptr)) {
      Die("EVP_AEAD_CTX_init");
    }
  }
  static void Nonce(uint64_t n, uint8_t nonce[kNonceSize]) {
    std::memset(nonce, 0, kNonceSize);
    for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(n >> (8 * i));
  }
  bool Seal(uint64_t n, absl::Span<const uint8_t> in, uint8_t* out, uint8_t* tag) {
    uint8_t nonce[kNonceSize];
    Nonce(n, nonce);
    size_t tag_len = 0;
    return EVP_AEAD_CTX_seal_scatter(ctx_.get(), out, tag, &tag_len, kTagSize, nonce,
                                     kNonceSize, in.data(), in.size(), nullptr, 0, nullptr,
                                     0) == 1;
  }
  bool Open(uint64_t n, uint8_t* in_out, size_t len, const uint8_t* tag) {
    uint8_t nonce[kNonceSize];
    Nonce(n, nonce);
    return EVP_AEAD_CTX_open_gather(ctx_.get(), in_out, nonce, kNonceSize, in_out, len, tag,
                                    kTagSize, nullptr, 0) == 1;
  }

 private:
  bssl::ScopedEVP_AEAD_CTX ctx_;
};

void BM_Seal(benchmark::State& state, Impl impl, size_t frame_size) {
  const size_t payload = frame_size - kFrameOverhead;
  const std::vector<uint8_t> plaintext = Plaintext(payload);
  std::vector<uint8_t> wire(frame_size);
  if (impl == Impl::kRawGcm) {
    RawGcm raw;
    uint64_t n = 0;
    for (auto _ : state) {
      if (!raw.Seal(n++, plaintext, wire.data() + kFrameHeaderSize,
                    wire.data() + kFrameHeaderSize + payload)) {
        Die("raw seal");
      }
      benchmark::DoNotOptimize(wire.data());
    }
    state.counters["allocs_per_frame"] = CountAllocs([] { return true; }, [&] {
      return raw.Seal(n++, plaintext, wire.data() + kFrameHeaderSize,
                      wire.data() + kFrameHeaderSize + payload);
    });
  } else {
    RecordProtector client = MakeProtector(impl, Side::kClient, frame_size);
    RecordProtector server = MakeProtector(impl, Side::kServer, frame_size);
    for (auto _ : state) {
      absl::StatusOr<size_t> n = client.Seal(plaintext, absl::MakeSpan(wire));
      if (!n.ok()) Die("seal");
      benchmark::DoNotOptimize(wire.data());
    }
    // The last frame sealed must open at the peer, once the peer's counter
    // is brought to that frame's index.
    server.open_crypter_for_testing().counter_for_testing().SetLowForTesting(
        client.seal_crypter_for_testing().counter_for_testing().low() - 1);
    absl::StatusOr<OpenResult> r = server.OpenNext(absl::MakeSpan(wire));
    if (!r.ok() || r->consumed != frame_size ||
        !std::equal(r->plaintext.begin(), r->plaintext.end(), plaintext.begin())) {
      Die("sealed frame does not open");
    }
    state.counters["allocs_per_frame"] = SealAllocs(impl, frame_size);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_Open(benchmark::State& state, Impl impl, size_t frame_size) {
  const size_t payload = frame_size - kFrameOverhead;
  const size_t batch = std::max<size_t>(1, kOpenBatchBytes / frame_size);
  const std::vector<uint8_t> plaintext = Plaintext(payload);
  std::vector<uint8_t> pristine(batch * frame_size);
  std::vector<uint8_t> work(pristine.size());
  uint64_t frames = 0;
  if (impl == Impl::kRawGcm) {
    RawGcm raw;
    for (size_t i = 0; i < batch; ++i) {
      uint8_t* f = pristine.data() + i * frame_size;
      if (!raw.Seal(i, plaintext, f + kFrameHeaderSize, f + kFrameHeaderSize + payload)) {
        Die("raw seal");
      }
    }
    for (auto _ : state) {
      state.PauseTiming();
      std::memcpy(work.data(), pristine.data(), work.size());
      state.ResumeTiming();
      for (size_t i = 0; i < batch; ++i) {
        uint8_t* f = work.data() + i * frame_size;
        if (!raw.Open(i, f + kFrameHeaderSize, payload, f + kFrameHeaderSize + payload)) {
          Die("raw open");
        }
      }
      benchmark::DoNotOptimize(work.data());
      frames += batch;
    }
    uint8_t* f = work.data();
    state.counters["allocs_per_frame"] = CountAllocs(
        [&] { return raw.Seal(0, plaintext, f + kFrameHeaderSize, f + kFrameHeaderSize + payload); },
        [&] { return raw.Open(0, f + kFrameHeaderSize, payload, f + kFrameHeaderSize + payload); });
  } else {
    RecordProtector client = MakeProtector(impl, Side::kClient, frame_size);
    RecordProtector server = MakeProtector(impl, Side::kServer, frame_size);
    for (size_t i = 0; i < batch; ++i) {
      absl::StatusOr<size_t> n =
          client.Seal(plaintext, absl::MakeSpan(pristine).subspan(i * frame_size, frame_size));
      if (!n.ok()) Die("seal");
    }
    NonceCounter& counter = server.open_crypter_for_testing().counter_for_testing();
    for (auto _ : state) {
      state.PauseTiming();
      std::memcpy(work.data(), pristine.data(), work.size());
      counter.SetLowForTesting(0);
      state.ResumeTiming();
      absl::Span<uint8_t> input = absl::MakeSpan(work);
      while (!input.empty()) {
        absl::StatusOr<OpenResult> r = server.OpenNext(input);
        if (!r.ok() || r->consumed == 0) Die("open");
        input.remove_prefix(r->consumed);
      }
      benchmark::DoNotOptimize(work.data());
      frames += batch;
    }
    if (std::memcmp(work.data() + kFrameHeaderSize, plaintext.data(), payload) != 0) {
      Die("opened plaintext differs");
    }
    state.counters["allocs_per_frame"] = OpenAllocs(impl, frame_size);
  }
  state.SetBytesProcessed(static_cast<int64_t>(frames * payload));
  state.SetItemsProcessed(static_cast<int64_t>(frames));
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

  void PrintSummary() const {
    std::printf("\nSummary: ALTS / raw AES-128-GCM throughput (goal >= 0.90 from 16 KiB), "
                "heap allocations per frame (goal 0)\n");
    std::printf("%-9s %10s %10s %10s %10s   %s\n", "frame", "seal_gcm", "seal_rekey", "open_gcm",
                "open_rekey", "allocs/frame (seal gcm, seal rekey, open gcm, open rekey)");
    for (size_t frame : kFrameSizes) {
      std::string cells[4];
      std::string allocs;
      int col = 0;
      for (const char* op : {"Seal", "Open"}) {
        const Result* raw = Find(op, Impl::kRawGcm, frame);
        for (Impl impl : {Impl::kAltsGcm, Impl::kAltsRekey}) {
          const Result* alts = Find(op, impl, frame);
          cells[col++] = (raw && alts && raw->bytes_per_second > 0)
                             ? absl::StrFormat("%.3f", alts->bytes_per_second /
                                                           raw->bytes_per_second)
                             : "n/a";
          allocs += (alts && alts->allocs_per_frame >= 0)
                        ? absl::StrFormat(" %g", alts->allocs_per_frame)
                        : " n/a";
        }
      }
      std::printf("%-9s %10s %10s %10s %10s  %s\n", SizeName(frame).c_str(), cells[0].c_str(),
                  cells[1].c_str(), cells[2].c_str(), cells[3].c_str(), allocs.c_str());
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

  const Result* Find(const char* op, Impl impl, size_t frame) const {
    auto it = results_.find(absl::StrFormat("%s/%s/%zu", op, ImplName(impl), frame));
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
    for (Impl impl : {Impl::kAltsGcm, Impl::kAltsRekey, Impl::kRawGcm}) {
      benchmark::RegisterBenchmark(
          absl::StrFormat("Seal/%s/%zu", ImplName(impl), frame).c_str(),
          [impl, frame](benchmark::State& state) { BM_Seal(state, impl, frame); });
    }
    for (Impl impl : {Impl::kAltsGcm, Impl::kAltsRekey, Impl::kRawGcm}) {
      benchmark::RegisterBenchmark(
          absl::StrFormat("Open/%s/%zu", ImplName(impl), frame).c_str(),
          [impl, frame](benchmark::State& state) { BM_Open(state, impl, frame); });
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
