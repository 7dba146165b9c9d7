// http2_bench: the HTTP/2 layer's figures, ours next to nghttp2 in the same
// run. Each scenario is a function returning rows; the program runs the
// scenarios named by --scenarios (all by default), prints one table and
// writes {"results":[{"impl":...,"metric":...,"value":...},...]} to --json.
//
// HPACK scenarios, on typical gRPC header blocks (a unary request; response
// headers; trailers), each block type on its own connection-long encoder or
// decoder in steady state (the same connection coding block after block,
// after one warm-up block that fills the dynamic table):
//
//   hpack_encode  ns per block: our Encoder::Encode vs nghttp2_hd_deflate_hd.
//                 Metric hpack_encode_ns is the mean over the three block
//                 types; hpack_encode_<block>_ns each type alone.
//   hpack_decode  ns per block: our Decoder::Decode vs nghttp2_hd_inflate_hd2
//                 loop, both on the same bytes (our encoder's steady-state
//                 blocks). Metrics as for encode.
//   hpack_no_table  encode and decode as above with the peer allowing no
//                 dynamic table (SETTINGS_HEADER_TABLE_SIZE 0): literals and
//                 Huffman coding on every block. Metrics *_no_table_*.
//   hpack_allocs  heap allocations per block in steady state (encode and
//                 decode), both implementations, counted by the interposed
//                 allocator (benchmarks/common/heap_accounting.h). Goal: 0.
//   hpack_idle    bytes an encoder+decoder pair keeps after one exchange:
//                 the client's pair (request encoded, response headers and
//                 trailers decoded) and the server's. Ours: sizeof(Encoder) +
//                 sizeof(Decoder) + HeapBytes() (hpack_idle_bytes_shrunk:
//                 after ShrinkToFit); nghttp2: every byte its deflater and
//                 inflater allocate, through a counting nghttp2_mem.
//
// Timings are thread CPU time (less sensitive than wall time to the other
// processes on a shared machine), per run of --blocks blocks; the figure is
// the median of --runs runs, ours and nghttp2 alternating.
//
// Adding a scenario (e.g. idle_session_bytes, data_mb_per_s,
// exchanges_per_s, allocs_per_exchange for the Session): write a function
// `std::vector<Row> RunSomething(const Options&)` that returns its rows
// (impl "ours" or "nghttp2", a metric name, a value) and add one line to
// kScenarios. The table and the JSON need nothing else.
//
// Run:  build/<dir>/benchmarks/http2_bench [--runs=N] [--blocks=N]
//           [--scenarios=a,b] [--json=PATH]

#include <nghttp2/nghttp2.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "benchmarks/common/table_printer.h"
#include "http2/hpack/decoder.h"
#include "http2/hpack/encoder.h"

ABSL_FLAG(int, runs, 7, "timed runs per implementation and block type, alternating; medians");
ABSL_FLAG(int, blocks, 200000, "blocks coded per timed run");
ABSL_FLAG(std::string, scenarios, "",
          "comma-separated scenarios to run (hpack_encode, hpack_decode, hpack_no_table, "
          "hpack_allocs, hpack_idle); empty: all");
ABSL_FLAG(std::string, json, "", "also write the results as JSON to this path ('-' for stdout)");

namespace alts::bench {
namespace {

using hpack::HeaderField;

// kMaxRuns bounds --runs: medians of more runs add only time.
constexpr int kMaxRuns = 101;

// Options are the flags every scenario sees.
struct Options {
  int runs = 7;
  int blocks = 200000;
};

// Row is one figure.
struct Row {
  std::string impl;  // "ours" or "nghttp2"
  std::string metric;
  double value = 0;
};

// Scenario is one named group of figures.
struct Scenario {
  const char* name;
  std::vector<Row> (*run)(const Options&);
};

// --- The header blocks.

struct Block {
  const char* name;
  std::vector<HeaderField> fields;
};

std::vector<Block> GrpcBlocks() {
  return {
      {"request",
       {{":method", "POST"},
        {":scheme", "http"},
        {":path", "/grpc.testing.TestService/UnaryCall"},
        {":authority", "localhost:50051"},
        {"content-type", "application/grpc"},
        {"te", "trailers"},
        {"user-agent", "grpc-c++/1.51.1"},
        {"grpc-accept-encoding", "identity,deflate,gzip"},
        {"grpc-timeout", "1S"},
        {"x-client-tag", "bench-client-7"}}},
      {"response", {{":status", "200"}, {"content-type", "application/grpc"}}},
      {"trailers", {{"grpc-status", "0"}, {"grpc-message", ""}}},
  };
}

std::vector<nghttp2_nv> ToNv(const std::vector<HeaderField>& fields) {
  std::vector<nghttp2_nv> nva;
  for (const HeaderField& f : fields) {
    nva.push_back(nghttp2_nv{
        const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(f.name.data())),
        const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(f.value.data())), f.name.size(),
        f.value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return nva;
}

double ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// g_sink keeps the coded sizes observable so no loop is optimised away.
volatile size_t g_sink = 0;

// Coder is one implementation coding one block type: Warm runs the first
// block (filling the table), Step one steady-state block.
struct Coder {
  virtual ~Coder() = default;
  virtual void Step() = 0;
};

// TimeAlternating runs each coder `runs` times (alternating) for `blocks`
// steps and returns the median ns per step of each.
std::vector<double> TimeAlternating(const std::vector<Coder*>& coders, const Options& o) {
  std::vector<std::vector<double>> samples(coders.size());
  for (int r = 0; r < o.runs; ++r) {
    for (size_t c = 0; c < coders.size(); ++c) {
      const double start = ThreadCpuNs();
      for (int i = 0; i < o.blocks; ++i) coders[c]->Step();
      samples[c].push_back((ThreadCpuNs() - start) / o.blocks);
    }
  }
  std::vector<double> medians;
  for (auto& s : samples) medians.push_back(Median(s));
  return medians;
}

// --- Encoding.

// EncodeInput is one block type's fields and the table size the peer
// allows.
struct EncodeInput {
  std::vector<HeaderField> fields;
  uint32_t table_size = hpack::kDefaultHeaderTableSize;
};

struct OurEncode : Coder {
  explicit OurEncode(const EncodeInput& in)
      : fields(in.fields), out(encoder.MaxEncodedSize(in.fields) + 16) {
    encoder.SetPeerMaxTableSize(in.table_size);
    Step();  // the warm-up block: the table now holds what repeats
  }
  void Step() override {
    g_sink = g_sink + encoder.Encode(fields, absl::MakeSpan(out));
  }
  hpack::Encoder encoder;
  std::vector<HeaderField> fields;
  std::vector<uint8_t> out;
};

struct NghttpEncode : Coder {
  explicit NghttpEncode(const EncodeInput& in) : nva(ToNv(in.fields)) {
    nghttp2_hd_deflate_new(&deflater, in.table_size);
    out.resize(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()));
    Step();
  }
  ~NghttpEncode() override { nghttp2_hd_deflate_del(deflater); }
  void Step() override {
    const ssize_t n = nghttp2_hd_deflate_hd(deflater, out.data(), out.size(), nva.data(), nva.size());
    if (n < 0) std::abort();
    g_sink = g_sink + static_cast<size_t>(n);
  }
  nghttp2_hd_deflater* deflater = nullptr;
  std::vector<nghttp2_nv> nva;
  std::vector<uint8_t> out;
};

// --- Decoding: both decode our encoder's first block once, then its
// steady-state block over and over.

struct EncodedStream {
  std::vector<uint8_t> first, steady;
  uint32_t table_size = hpack::kDefaultHeaderTableSize;
};

EncodedStream EncodeStream(const EncodeInput& in) {
  const std::vector<HeaderField>& fields = in.fields;
  hpack::Encoder encoder;
  encoder.SetPeerMaxTableSize(in.table_size);
  EncodedStream s;
  s.table_size = in.table_size;
  for (std::vector<uint8_t>* b : {&s.first, &s.steady}) {
    b->resize(encoder.MaxEncodedSize(fields) + 16);
    b->resize(encoder.Encode(fields, absl::MakeSpan(*b)));
  }
  return s;
}

// SumFields is our decode callback: it adds up what it is given.
struct SumFields {
  size_t* total;
  absl::Status operator()(absl::string_view n, absl::string_view v) const {
    *total += n.size() + v.size();
    return absl::OkStatus();
  }
};

struct OurDecode : Coder {
  explicit OurDecode(const EncodedStream& s) : decoder(s.table_size), steady(s.steady) {
    if (!decoder.Decode(s.first, ~size_t{0}, SumFields{&total}).ok()) std::abort();
  }
  void Step() override {
    if (!decoder.Decode(steady, ~size_t{0}, SumFields{&total}).ok()) std::abort();
    g_sink = g_sink + total;
  }
  hpack::Decoder decoder;
  std::vector<uint8_t> steady;
  size_t total = 0;
};

// NghttpInflate decodes one whole block with nghttp2 and returns the bytes
// of the names and values it emitted; aborts if nghttp2 refuses it.
size_t NghttpInflate(nghttp2_hd_inflater* inflater, absl::Span<const uint8_t> block) {
  const uint8_t* p = block.data();
  size_t left = block.size();
  size_t total = 0;
  for (;;) {
    nghttp2_nv nv;
    int flags = 0;
    const ssize_t rv = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, p, left, 1);
    if (rv < 0) std::abort();
    p += rv;
    left -= static_cast<size_t>(rv);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) total += nv.namelen + nv.valuelen;
    if (flags & NGHTTP2_HD_INFLATE_FINAL) break;
  }
  nghttp2_hd_inflate_end_headers(inflater);
  return total;
}

// NghttpDeflate encodes one block with nghttp2; aborts on failure.
std::vector<uint8_t> NghttpDeflate(nghttp2_hd_deflater* deflater,
                                   const std::vector<HeaderField>& fields) {
  std::vector<nghttp2_nv> nva = ToNv(fields);
  std::vector<uint8_t> out(nghttp2_hd_deflate_bound(deflater, nva.data(), nva.size()));
  const ssize_t n = nghttp2_hd_deflate_hd(deflater, out.data(), out.size(), nva.data(), nva.size());
  if (n < 0) std::abort();
  out.resize(static_cast<size_t>(n));
  return out;
}

struct NghttpDecode : Coder {
  explicit NghttpDecode(const EncodedStream& s) : steady(s.steady) {
    nghttp2_hd_inflate_new(&inflater);
    if (s.table_size != hpack::kDefaultHeaderTableSize) {
      nghttp2_hd_inflate_change_table_size(inflater, s.table_size);
    }
    Inflate(s.first);
  }
  ~NghttpDecode() override { nghttp2_hd_inflate_del(inflater); }
  void Inflate(const std::vector<uint8_t>& block) { total += NghttpInflate(inflater, block); }
  void Step() override {
    Inflate(steady);
    g_sink = g_sink + total;
  }
  nghttp2_hd_inflater* inflater = nullptr;
  std::vector<uint8_t> steady;
  size_t total = 0;
};

// RunCoders times ours against nghttp2 for each block type and returns the
// rows for `what` ("encode" or "decode").
template <typename Ours, typename Theirs, typename MakeInput>
std::vector<Row> RunCoders(const Options& o, const char* what, MakeInput make_input,
                           uint32_t table_size = hpack::kDefaultHeaderTableSize,
                           const char* suffix = "") {
  std::vector<Row> rows;
  double sum_ours = 0, sum_theirs = 0;
  const std::vector<Block> blocks = GrpcBlocks();
  for (const Block& b : blocks) {
    auto input = make_input(EncodeInput{b.fields, table_size});
    Ours ours(input);
    Theirs theirs(input);
    const std::vector<double> ns = TimeAlternating({&ours, &theirs}, o);
    rows.push_back({"ours", absl::StrCat("hpack_", what, suffix, "_", b.name, "_ns"), ns[0]});
    rows.push_back({"nghttp2", absl::StrCat("hpack_", what, suffix, "_", b.name, "_ns"), ns[1]});
    sum_ours += ns[0];
    sum_theirs += ns[1];
  }
  const std::string mean = absl::StrCat("hpack_", what, suffix, "_ns");
  rows.insert(rows.begin(), {{"ours", mean, sum_ours / blocks.size()},
                             {"nghttp2", mean, sum_theirs / blocks.size()}});
  return rows;
}

std::vector<Row> RunHpackEncode(const Options& o) {
  return RunCoders<OurEncode, NghttpEncode>(o, "encode", [](const EncodeInput& in) { return in; });
}

std::vector<Row> RunHpackDecode(const Options& o) {
  return RunCoders<OurDecode, NghttpDecode>(o, "decode", EncodeStream);
}

// RunHpackNoTable is encode and decode with the peer allowing no dynamic
// table: every field that is not static is a literal, Huffman-coded, on
// every block (the string coding paths).
std::vector<Row> RunHpackNoTable(const Options& o) {
  std::vector<Row> rows = RunCoders<OurEncode, NghttpEncode>(
      o, "encode", [](const EncodeInput& in) { return in; }, 0, "_no_table");
  for (Row& r : RunCoders<OurDecode, NghttpDecode>(o, "decode", EncodeStream, 0, "_no_table")) {
    rows.push_back(std::move(r));
  }
  return rows;
}

// --- Allocations per steady-state block.

double AllocsPerStep(Coder& c, int blocks) {
  ScopedHeapCounter counter;
  for (int i = 0; i < blocks; ++i) c.Step();
  return static_cast<double>(counter.Delta().allocations) / blocks;
}

std::vector<Row> RunHpackAllocs(const Options& o) {
  if (!HeapAccountingActive()) return {};
  const int blocks = std::max(1, std::min(o.blocks, 10000));
  double ours_enc = 0, theirs_enc = 0, ours_dec = 0, theirs_dec = 0;
  for (const Block& b : GrpcBlocks()) {
    const EncodeInput in{b.fields};
    OurEncode oe(in);
    NghttpEncode ne(in);
    const EncodedStream s = EncodeStream(in);
    OurDecode od(s);
    NghttpDecode nd(s);
    ours_enc += AllocsPerStep(oe, blocks);
    theirs_enc += AllocsPerStep(ne, blocks);
    ours_dec += AllocsPerStep(od, blocks);
    theirs_dec += AllocsPerStep(nd, blocks);
  }
  return {{"ours", "hpack_encode_allocs_per_block", ours_enc / 3},
          {"nghttp2", "hpack_encode_allocs_per_block", theirs_enc / 3},
          {"ours", "hpack_decode_allocs_per_block", ours_dec / 3},
          {"nghttp2", "hpack_decode_allocs_per_block", theirs_dec / 3}};
}

// --- Idle bytes after one exchange.

// CountingMem is an nghttp2_mem that counts the live bytes it hands out
// (each block carries its size in a 16-byte header).
struct CountingMem {
  static constexpr size_t kHeader = 16;
  int64_t live = 0;
  nghttp2_mem mem{this, &Malloc, &Free, &Calloc, &Realloc};

  static void* Malloc(size_t size, void* user) {
    auto* self = static_cast<CountingMem*>(user);
    auto* p = static_cast<uint8_t*>(std::malloc(size + kHeader));
    if (p == nullptr) return nullptr;
    *reinterpret_cast<size_t*>(p) = size;
    self->live += static_cast<int64_t>(size);
    return p + kHeader;
  }
  static void Free(void* ptr, void* user) {
    if (ptr == nullptr) return;
    auto* self = static_cast<CountingMem*>(user);
    uint8_t* p = static_cast<uint8_t*>(ptr) - kHeader;
    self->live -= static_cast<int64_t>(*reinterpret_cast<size_t*>(p));
    std::free(p);
  }
  static void* Calloc(size_t n, size_t size, void* user) {
    void* p = Malloc(n * size, user);
    if (p != nullptr) std::memset(p, 0, n * size);
    return p;
  }
  static void* Realloc(void* ptr, size_t size, void* user) {
    if (ptr == nullptr) return Malloc(size, user);
    const size_t old = *reinterpret_cast<size_t*>(static_cast<uint8_t*>(ptr) - kHeader);
    void* p = Malloc(size, user);
    if (p == nullptr) return nullptr;
    std::memcpy(p, ptr, std::min(old, size));
    Free(ptr, user);
    return p;
  }
};

// OurPairBytes: an encoder that encoded `sent` and a decoder that decoded
// `received` (each block once, as in one exchange).
double OurPairBytes(const std::vector<const Block*>& sent, const std::vector<const Block*>& received,
                    bool shrink, size_t* heap_only = nullptr) {
  hpack::Encoder encoder;
  hpack::Decoder decoder;
  hpack::Encoder peer;  // the other side's encoder, producing what we decode
  for (const Block* b : sent) {
    std::vector<uint8_t> out(encoder.MaxEncodedSize(b->fields));
    encoder.Encode(b->fields, absl::MakeSpan(out));
  }
  for (const Block* b : received) {
    std::vector<uint8_t> out(peer.MaxEncodedSize(b->fields));
    out.resize(peer.Encode(b->fields, absl::MakeSpan(out)));
    if (!decoder.Decode(out, ~size_t{0}, [](absl::string_view, absl::string_view) {
          return absl::OkStatus();
        }).ok()) {
      std::abort();
    }
  }
  if (shrink) {
    encoder.ShrinkToFit();
    decoder.ShrinkToFit();
  }
  if (heap_only != nullptr) *heap_only = encoder.HeapBytes() + decoder.HeapBytes();
  return static_cast<double>(sizeof(encoder) + sizeof(decoder) + encoder.HeapBytes() +
                             decoder.HeapBytes());
}

double NghttpPairBytes(const std::vector<const Block*>& sent,
                       const std::vector<const Block*>& received) {
  CountingMem mem;
  nghttp2_hd_deflater* deflater = nullptr;
  nghttp2_hd_inflater* inflater = nullptr;
  nghttp2_hd_deflate_new2(&deflater, hpack::kDefaultHeaderTableSize, &mem.mem);
  nghttp2_hd_inflate_new2(&inflater, &mem.mem);
  nghttp2_hd_deflater* peer = nullptr;
  nghttp2_hd_deflate_new(&peer, hpack::kDefaultHeaderTableSize);
  for (const Block* b : sent) NghttpDeflate(deflater, b->fields);
  for (const Block* b : received) NghttpInflate(inflater, NghttpDeflate(peer, b->fields));
  const double bytes = static_cast<double>(mem.live);
  nghttp2_hd_deflate_del(deflater);
  nghttp2_hd_inflate_del(inflater);
  nghttp2_hd_deflate_del(peer);
  return bytes;
}

std::vector<Row> RunHpackIdle(const Options&) {
  const std::vector<Block> b = GrpcBlocks();
  const std::vector<const Block*> request = {&b[0]};
  const std::vector<const Block*> response = {&b[1], &b[2]};
  size_t client_heap = 0;
  const double client = OurPairBytes(request, response, false, &client_heap);
  return {{"ours", "hpack_encoder_sizeof", sizeof(hpack::Encoder)},
          {"ours", "hpack_decoder_sizeof", sizeof(hpack::Decoder)},
          {"ours", "hpack_idle_heap_bytes", static_cast<double>(client_heap)},
          {"ours", "hpack_idle_bytes", client},
          {"nghttp2", "hpack_idle_bytes", NghttpPairBytes(request, response)},
          {"ours", "hpack_idle_bytes_shrunk", OurPairBytes(request, response, true)},
          {"ours", "hpack_idle_bytes_server", OurPairBytes(response, request, false)},
          {"nghttp2", "hpack_idle_bytes_server", NghttpPairBytes(response, request)}};
}

// kScenarios lists every scenario in the order they run.
constexpr Scenario kScenarios[] = {
    {"hpack_encode", RunHpackEncode},
    {"hpack_decode", RunHpackDecode},
    {"hpack_no_table", RunHpackNoTable},
    {"hpack_allocs", RunHpackAllocs},
    {"hpack_idle", RunHpackIdle},
};

std::string Format(double v) {
  if (v == static_cast<int64_t>(v)) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrFormat("%.1f", v);
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  Options o;
  o.runs = absl::GetFlag(FLAGS_runs);
  o.blocks = absl::GetFlag(FLAGS_blocks);
  if (o.runs < 1 || o.runs > kMaxRuns || o.blocks < 1) {
    std::fprintf(stderr, "http2_bench: --runs must be 1..%d and --blocks >= 1\n", kMaxRuns);
    return 2;
  }
  std::vector<std::string> wanted;
  if (!absl::GetFlag(FLAGS_scenarios).empty()) {
    wanted = absl::StrSplit(absl::GetFlag(FLAGS_scenarios), ',');
  }
  for (const std::string& w : wanted) {
    if (std::none_of(std::begin(kScenarios), std::end(kScenarios),
                     [&w](const Scenario& s) { return w == s.name; })) {
      std::fprintf(stderr, "http2_bench: unknown scenario %s\n", w.c_str());
      return 2;
    }
  }

  std::vector<Row> rows;
  for (const Scenario& s : kScenarios) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), s.name) == wanted.end()) continue;
    for (Row& r : s.run(o)) rows.push_back(std::move(r));
  }

  // One line per metric: ours, nghttp2 and their ratio (nghttp2 / ours: >1
  // means ours is faster or smaller).
  std::vector<std::string> metrics;
  std::map<std::string, std::map<std::string, double>> by_metric;
  for (const Row& r : rows) {
    if (by_metric.find(r.metric) == by_metric.end()) metrics.push_back(r.metric);
    by_metric[r.metric][r.impl] = r.value;
  }
  TablePrinter table({"metric", "ours", "nghttp2", "nghttp2/ours"});
  for (const std::string& m : metrics) {
    const auto& v = by_metric[m];
    const auto ours = v.find("ours"), theirs = v.find("nghttp2");
    std::string ratio;
    if (ours != v.end() && theirs != v.end() && ours->second > 0) {
      ratio = absl::StrFormat("%.2fx", theirs->second / ours->second);
    }
    (void)table.AddRow({m, ours != v.end() ? Format(ours->second) : "",
                        theirs != v.end() ? Format(theirs->second) : "", ratio});
  }
  std::printf("http2_bench: %d runs of %d blocks, medians of thread CPU time\n", o.runs, o.blocks);
  table.Print();

  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty()) {
    JsonResults json;
    for (const Row& r : rows) {
      JsonRow row;
      row.AddString("impl", r.impl).AddString("metric", r.metric).AddDouble("value", r.value);
      json.Add(std::move(row));
    }
    if (!WriteJsonResults(json, json_path, "http2_bench")) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
