// peer_identity_bench: what a connection's peer identity costs.
//
// Interns identities shaped like a handshake's (service account, a few
// attributes, local identity, protocols) through a PeerIdentityTable and
// measures, with the interposed allocator:
//   - the heap one interned identity costs (object, strings, attribute
//     nodes, shared_ptr control block, table slot), for a new identity;
//   - the per-connection cost when N connections share one identity (only
//     the holder's shared_ptr: 16 bytes, no heap);
//   - N connections from N distinct identities;
//   - what the AltsContext proto, built per connection, would cost instead.
//
//   peer_identity_bench [--conns=10000] [--attributes=2] [--json=PATH]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "handshaker/peer_identity.h"

ABSL_FLAG(int, conns, 10000, "Connections holding an identity.");
ABSL_FLAG(int, attributes, 2, "Attributes on each peer certificate.");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this path ('-' for stdout).");

namespace alts::bench {
namespace {

PeerIdentity MakeIdentity(int peer, int attributes) {
  Identity identity{absl::StrCat("frontend-", peer, "@prod.example"), {}};
  for (int i = 0; i < attributes; ++i) {
    identity.attributes[absl::StrCat("attribute-", i)] = absl::StrCat("value-", i, "-", peer);
  }
  return PeerIdentity(std::move(identity), Identity{"backend@prod.example", {}}, "grpc",
                      RecordProtocol::kAes128GcmRekey, kDefaultRpcVersions);
}

struct Row {
  std::string name;
  double bytes = 0;
};

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int conns = absl::GetFlag(FLAGS_conns);
  const int attributes = absl::GetFlag(FLAGS_attributes);
  if (conns < 1 || attributes < 0 || attributes > 32) {
    std::fprintf(stderr, "peer_identity_bench: need --conns >= 1, 0 <= --attributes <= 32\n");
    return 2;
  }
  if (!HeapAccountingActive()) {
    std::fprintf(stderr, "peer_identity_bench: heap accounting is off (sanitizer build)\n");
    return 1;
  }
  auto table = PeerIdentityTable::Create();
  std::vector<Row> rows;
  // Holders exist before the measurement: a connection's 16 bytes are part
  // of the connection object, not a separate allocation.
  std::vector<std::shared_ptr<const PeerIdentity>> holders(static_cast<size_t>(conns));
  // Warm the table (its slot array keeps its capacity when entries go) so
  // the figures are per identity, not the table's first growth.
  {
    std::vector<std::shared_ptr<const PeerIdentity>> warm;
    for (int i = 0; i < 16; ++i) warm.push_back(table->Intern(MakeIdentity(-1 - i, attributes)));
  }

  // One interned identity, everything it holds: object, strings, attribute
  // nodes, control block, table slot.
  {
    ScopedHeapCounter counter;
    holders[0] = table->Intern(MakeIdentity(0, attributes));
    rows.push_back({"one interned identity (new), heap bytes",
                    static_cast<double>(counter.Delta().bytes)});
    rows.push_back({"  of which the object itself (sizeof(PeerIdentity))",
                    static_cast<double>(sizeof(PeerIdentity))});
  }
  // N connections sharing it: each handshake's candidate is dropped, the
  // connection keeps 16 bytes.
  {
    ScopedHeapCounter counter;
    for (int i = 1; i < conns; ++i) {
      holders[static_cast<size_t>(i)] = table->Intern(MakeIdentity(0, attributes));
    }
    const HeapDelta d = counter.Delta();
    rows.push_back({"per connection, shared identity: heap bytes",
                    static_cast<double>(d.bytes) / (conns - 1 > 0 ? conns - 1 : 1)});
    rows.push_back({"per connection, shared identity: holder bytes",
                    static_cast<double>(sizeof(std::shared_ptr<const PeerIdentity>))});
    std::printf("%d connections share %zu interned identity\n", conns, table->size());
  }
  for (auto& h : holders) h.reset();
  // N connections from N distinct peers.
  {
    ScopedHeapCounter counter;
    for (int i = 0; i < conns; ++i) {
      holders[static_cast<size_t>(i)] = table->Intern(MakeIdentity(i + 1, attributes));
    }
    rows.push_back({"per connection, distinct identities: heap bytes",
                    static_cast<double>(counter.Delta().bytes) / conns});
  }
  // The alternative: each connection keeps its own AltsContext proto.
  {
    std::vector<grpc::gcp::AltsContext> contexts;
    contexts.reserve(static_cast<size_t>(conns));
    ScopedHeapCounter counter;
    for (int i = 0; i < conns; ++i) contexts.push_back(holders[0]->ToAltsContext());
    rows.push_back({"per connection, AltsContext proto by value: heap bytes",
                    static_cast<double>(counter.Delta().bytes) / conns +
                        static_cast<double>(sizeof(grpc::gcp::AltsContext))});
  }
  for (auto& h : holders) h.reset();
  rows.push_back({"table entries after every holder let go", static_cast<double>(table->size())});

  std::printf("%-58s %10s\n", "peer identity cost", "bytes");
  for (const Row& row : rows) std::printf("%-58s %10.1f\n", row.name.c_str(), row.bytes);
  std::printf("(%d attributes per identity, %d connections)\n", attributes, conns);

  const std::string json = absl::GetFlag(FLAGS_json);
  if (!json.empty()) {
    JsonResults results;
    for (const Row& row : rows) {
      JsonRow r;
      r.AddString("name", row.name).AddDouble("bytes", row.bytes).AddInt("conns", conns);
      r.AddInt("attributes", attributes);
      results.Add(std::move(r));
    }
    if (absl::Status s = results.WriteToFile(json); !s.ok()) {
      std::fprintf(stderr, "peer_identity_bench: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
