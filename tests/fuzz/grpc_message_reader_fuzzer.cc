// Fuzzes gRPC's message framing (rpc/message_reader.h) and gzip decoding:
// the input is split into deliveries at points it chooses; the reader must
// hand over exactly the messages a straightforward parse of the whole stream
// finds, never more than the size limit, and hold nothing between messages.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "conn/storage_pool.h"
#include "rpc/compression.h"
#include "rpc/message_reader.h"

namespace {

constexpr size_t kLimit = 1 << 16;

alts::StoragePool* Storage() {
  static alts::StoragePool* s = alts::StoragePool::Create()->release();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t split = 1 + data[0] % 64;
  data += 1;
  size -= 1;
  // Reference: parse the whole stream at once.
  std::vector<std::string> expected;
  bool expect_error = false;
  size_t off = 0;
  while (off + 5 <= size) {
    const uint8_t flag = data[off];
    const uint32_t len = (uint32_t{data[off + 1]} << 24) | (uint32_t{data[off + 2]} << 16) |
                         (uint32_t{data[off + 3]} << 8) | data[off + 4];
    if (flag > 1 || len > kLimit) {
      expect_error = true;
      break;
    }
    if (off + 5 + len > size) break;
    expected.emplace_back(reinterpret_cast<const char*>(data + off + 5), len);
    off += 5 + len;
  }
  // A budget no input can reach (messages are at most kLimit): it must count
  // exactly what the reader holds, and nothing once it is reset.
  alts::rpc::AssemblyBudget budget;
  budget.limit = 4 * kLimit;
  alts::rpc::MessageReader reader;
  reader.set_budget(&budget);
  std::vector<std::string> got;
  bool error = false;
  for (size_t pos = 0; pos < size && !error; pos += split) {
    const size_t n = std::min(split, size - pos);
    absl::Status s = reader.Feed(absl::MakeConstSpan(data + pos, n), kLimit, Storage(),
                                 [&](absl::Span<const uint8_t> m, bool compressed) {
                                   if (m.size() > kLimit) abort();
                                   got.emplace_back(reinterpret_cast<const char*>(m.data()),
                                                    m.size());
                                   if (compressed) {
                                     // Decoding must fail cleanly or stay in bounds.
                                     auto raw = alts::rpc::GzipDecompress(m, kLimit);
                                     if (raw.ok() && raw->size() > kLimit) abort();
                                   }
                                   return absl::OkStatus();
                                 });
    if (budget.held != reader.HeapBytes() || budget.held > 4 * kLimit) abort();
    if (!s.ok()) {
      if (s.code() != absl::StatusCode::kResourceExhausted &&
          s.code() != absl::StatusCode::kInternal) {
        abort();
      }
      error = true;
    }
  }
  if (error != expect_error) abort();
  if (got != expected) abort();
  if (!error && reader.at_boundary() && reader.HeapBytes() != 0) abort();
  reader.Reset();
  if (budget.held != 0) abort();
  return 0;
}
