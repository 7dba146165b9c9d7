// Checks that sealing and opening allocate nothing per frame once a
// RecordProtector exists. This binary counts every heap allocation in the
// process: it interposes malloc/calloc/realloc (operator new uses malloc) in a
// plain build, and uses the sanitizer allocator hooks in a sanitizer build,
// where the sanitizer owns malloc.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include <openssl/aead.h>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "frame/frame_format.h"
#include "gtest/gtest.h"

#if !defined(ALTS_SANITIZER_BUILD) && defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define ALTS_SANITIZER_BUILD 1
#endif
#endif
#if !defined(ALTS_SANITIZER_BUILD) && (defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__))
#define ALTS_SANITIZER_BUILD 1
#endif

namespace {
std::atomic<uint64_t> g_allocations{0};
}  // namespace

#if defined(ALTS_SANITIZER_BUILD)
#include <sanitizer/allocator_interface.h>

namespace {
void CountMalloc(const volatile void*, size_t) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
}
void IgnoreFree(const volatile void*) {}
const int kHooksInstalled = __sanitizer_install_malloc_and_free_hooks(CountMalloc, IgnoreFree);
}  // namespace
#else
extern "C" {
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* ptr, size_t size);

void* malloc(size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(size_t count, size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* ptr, size_t size) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(ptr, size);
}
}  // extern "C"
#endif

namespace alts {
namespace {

uint64_t Allocations() { return g_allocations.load(std::memory_order_relaxed); }

std::vector<uint8_t> Key(RecordProtocol protocol) {
  std::vector<uint8_t> key(RecordKeySize(protocol));
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 13 + 1);
  return key;
}

TEST(RecordAllocTest, TheCounterSeesAllocations) {
  const uint64_t before = Allocations();
  void* volatile p = std::malloc(64);
  std::free(p);
  auto q = std::make_unique<std::vector<int>>(100);
  int* volatile data = q->data();
  (void)data;
  EXPECT_GE(Allocations(), before + 3);
  // Allocations inside BoringSSL (a shared library) are seen too.
  const uint8_t key[16] = {};
  const uint64_t before_boringssl = Allocations();
  EVP_AEAD_CTX* ctx = EVP_AEAD_CTX_new(EVP_aead_aes_128_gcm(), key, sizeof(key),
                                       EVP_AEAD_DEFAULT_TAG_LENGTH);
  ASSERT_NE(ctx, nullptr);
  EVP_AEAD_CTX_free(ctx);
  EXPECT_GE(Allocations(), before_boringssl + 1);
}

struct Connection {
  RecordProtector client;
  RecordProtector server;
  // server_into opens the same frames out of place (OpenNextInto).
  RecordProtector server_into;
};

Connection Connect(RecordProtocol protocol, size_t max_frame_size, uint8_t key_tweak) {
  std::vector<uint8_t> key = Key(protocol);
  key[0] ^= key_tweak;  // a distinct key per connection, so they compete for cache slots
  absl::StatusOr<RecordProtector> client =
      RecordProtector::Create(protocol, Side::kClient, key, max_frame_size);
  absl::StatusOr<RecordProtector> server =
      RecordProtector::Create(protocol, Side::kServer, key, max_frame_size);
  absl::StatusOr<RecordProtector> server_into =
      RecordProtector::Create(protocol, Side::kServer, key, max_frame_size);
  EXPECT_TRUE(client.ok() && server.ok() && server_into.ok());
  return Connection{std::move(*client), std::move(*server), std::move(*server_into)};
}

class RecordAllocTest : public ::testing::TestWithParam<RecordProtocol> {};

TEST_P(RecordAllocTest, NoAllocationPerFrameWhenSealingOrOpening) {
  constexpr size_t kMaxFrame = 16 * 1024;
  // More connections than the context cache has slots, interleaved, so the
  // measured loop includes cache misses (context set-up) as well as hits.
  constexpr size_t kConnections = 6;
  std::vector<Connection> connections;
  for (size_t i = 0; i < kConnections; ++i) {
    connections.push_back(Connect(GetParam(), kMaxFrame, static_cast<uint8_t>(i)));
  }
  // Start near a REKEY epoch boundary so the loop also derives new epoch keys.
  for (Connection& c : connections) {
    c.client.seal_crypter_for_testing().counter_for_testing().SetLowForTesting(0xFFF0);
    c.server.open_crypter_for_testing().counter_for_testing().SetLowForTesting(0xFFF0);
    c.server_into.open_crypter_for_testing().counter_for_testing().SetLowForTesting(0xFFF0);
  }
  const size_t sizes[] = {0, 1, 100, 4096, kMaxFrame - kFrameOverhead, 3 * kMaxFrame};
  size_t biggest = 0;
  for (size_t s : sizes) biggest = std::max(biggest, connections[0].client.SealedSize(s));
  std::vector<uint8_t> plaintext(3 * kMaxFrame, 0x42);
  std::vector<uint8_t> wire(biggest);
  std::vector<uint8_t> wire_copy(biggest);
  std::vector<uint8_t> out(biggest);
  std::vector<uint8_t> frame(kMaxFrame);
  std::vector<uint8_t> frame_copy(kMaxFrame);

  // One more pair with pinned contexts: pinning allocates once, here, and
  // never per frame.
  connections.push_back(Connect(GetParam(), kMaxFrame, kConnections));
  for (RecordProtector* p : {&connections.back().client, &connections.back().server,
                             &connections.back().server_into}) {
    ASSERT_TRUE(p->PinAeadContexts().ok());
  }
  for (RecordProtector* p : {&connections.back().client, &connections.back().server,
                             &connections.back().server_into}) {
    p->seal_crypter_for_testing().counter_for_testing().SetLowForTesting(0xFFF0);
    p->open_crypter_for_testing().counter_for_testing().SetLowForTesting(0xFFF0);
  }

  // Warm up: the first use on this thread sets up its thread-local cache.
  {
    Connection& c = connections[0];
    absl::StatusOr<size_t> n = c.client.Seal(absl::MakeConstSpan(plaintext).first(10),
                                             absl::MakeSpan(wire));
    ASSERT_TRUE(n.ok());
    std::copy(wire.begin(), wire.begin() + *n, wire_copy.begin());
    ASSERT_TRUE(c.server.OpenNext(absl::MakeSpan(wire).first(*n)).ok());
    ASSERT_TRUE(c.server_into.OpenNextInto(absl::MakeSpan(wire_copy).first(*n),
                                           absl::MakeSpan(out)).ok());
  }

  const uint64_t before = Allocations();
  size_t frames = 0;
  bool ok = true;
  for (int round = 0; round < 10 && ok; ++round) {
    for (Connection& c : connections) {
      for (size_t size : sizes) {
        absl::StatusOr<size_t> n =
            c.client.Seal(absl::MakeConstSpan(plaintext).first(size), absl::MakeSpan(wire));
        ok = ok && n.ok();
        if (!ok) break;
        std::copy(wire.begin(), wire.begin() + *n, wire_copy.begin());
        // Open it the way a reader does: first a partial read, then the rest.
        absl::Span<uint8_t> input = absl::MakeSpan(wire).first(*n);
        absl::StatusOr<OpenResult> partial = c.server.OpenNext(input.first(3));
        ok = ok && partial.ok() && partial->consumed == 0;
        while (ok && !input.empty()) {
          absl::StatusOr<OpenResult> r = c.server.OpenNext(input);
          ok = r.ok() && r->consumed > 0;
          if (ok) input.remove_prefix(r->consumed);
          ++frames;
        }
        // The same frames opened out of place, into another buffer, by a
        // second receiver.
        input = absl::MakeSpan(wire_copy).first(*n);
        while (ok && !input.empty()) {
          absl::StatusOr<OpenResult> r = c.server_into.OpenNextInto(input, absl::MakeSpan(out));
          ok = r.ok() && r->consumed > 0;
          if (ok) input.remove_prefix(r->consumed);
          ++frames;
        }
        // And one frame sealed in place.
        const size_t frame_size = 24 + size % 1000;
        ok = ok && c.client.SealFrameInPlace(absl::MakeSpan(frame).first(frame_size)).ok();
        std::copy(frame.begin(), frame.begin() + frame_size, frame_copy.begin());
        ok = ok && c.server.OpenNext(absl::MakeSpan(frame).first(frame_size)).ok();
        ok = ok && c.server_into
                       .OpenNextInto(absl::MakeSpan(frame_copy).first(frame_size),
                                     absl::MakeSpan(out))
                       .ok();
        frames += 2;
      }
    }
  }
  const uint64_t allocations = Allocations() - before;
  ASSERT_TRUE(ok);
  EXPECT_GT(frames, 500u);
  EXPECT_EQ(allocations, 0u) << "over " << frames << " frames";
}

INSTANTIATE_TEST_SUITE_P(BothProtocols, RecordAllocTest,
                         ::testing::Values(RecordProtocol::kAes128Gcm,
                                           RecordProtocol::kAes128GcmRekey),
                         [](const ::testing::TestParamInfo<RecordProtocol>& info) {
                           return info.param == RecordProtocol::kAes128Gcm ? "Gcm" : "GcmRekey";
                         });

}  // namespace
}  // namespace alts
