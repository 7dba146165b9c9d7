// Decoded secrets must be wiped before their memory is freed, on error
// paths too. This binary replaces the global operator delete: while a scan
// is armed, every block freed through it is searched for a marker secret
// before it goes back to malloc. (Not under sanitizers, which own the
// allocator.)
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "gtest/gtest.h"
#include "handshaker/credential_file.h"

#if !defined(ALTS_SANITIZER_BUILD)

namespace {

// kMarker is the secret: 40 distinctive bytes (longer than any small-string
// buffer, so it lives on the heap).
constexpr char kMarker[] = "SECRET-MARKER-0123456789-abcdefghij-XYZ!";
constexpr size_t kMarkerSize = sizeof(kMarker) - 1;

std::atomic<bool> g_armed{false};
std::atomic<int> g_leaks{0};

void ScanAndFree(void* p) {
  if (p == nullptr) return;
  if (g_armed.load(std::memory_order_relaxed)) {
    const size_t n = malloc_usable_size(p);
    if (n >= kMarkerSize && memmem(p, n, kMarker, kMarkerSize) != nullptr) {
      g_leaks.fetch_add(1, std::memory_order_relaxed);
    }
  }
  std::free(p);
}

}  // namespace

void operator delete(void* p) noexcept { ScanAndFree(p); }
void operator delete[](void* p) noexcept { ScanAndFree(p); }
void operator delete(void* p, size_t) noexcept { ScanAndFree(p); }
void operator delete[](void* p, size_t) noexcept { ScanAndFree(p); }

namespace alts {
namespace {

// Armed counts marker sightings in freed memory during its lifetime.
class Armed {
 public:
  Armed() {
    g_leaks = 0;
    g_armed = true;
  }
  ~Armed() { g_armed = false; }
  int leaks() const { return g_leaks.load(); }
};

std::string SecretBlock(absl::string_view label) {
  return EncodePemBlock(label, absl::Span<const uint8_t>(
                                   reinterpret_cast<const uint8_t*>(kMarker), kMarkerSize));
}

TEST(SecretWipeTest, HookSeesUnwipedFrees) {
  int leaks = 0;
  {
    auto* copy = new std::string(kMarker, kMarkerSize);
    Armed armed;
    delete copy;
    leaks = armed.leaks();
  }
  EXPECT_EQ(leaks, 1) << "the scan does not work; the other tests would prove nothing";
}

TEST(SecretWipeTest, PemBlocksDecodedBeforeAnErrorAreWiped) {
  const std::string good = SecretBlock(kSigningKeyLabel);
  const std::string cases[] = {
      good + "-----BEGIN X-----\n!!!!\n-----END X-----\n",       // bad base64 after it
      good + "-----BEGIN X-----\nAAAA\n",                        // unterminated after it
      good + "-----BEGIN X-----\nAAAA\n-----END Y-----\n",       // mismatched END after it
  };
  for (const std::string& text : cases) {
    int leaks = 0;
    absl::StatusCode code;
    {
      Armed armed;
      code = DecodePemBlocks(text).status().code();
      leaks = armed.leaks();
    }
    EXPECT_EQ(code, absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(leaks, 0) << "a decoded secret was freed unwiped";
  }
}

TEST(SecretWipeTest, PartialBase64DecodeIsWiped) {
  // The marker's base64 followed by a bad character, in one block.
  std::string block = SecretBlock(kX25519PrivateKeyLabel);
  const size_t end = block.find("-----END");
  block.insert(end, "!!!!\n");
  int leaks = 0;
  {
    Armed armed;
    EXPECT_EQ(DecodePemBlocks(block).status().code(), absl::StatusCode::kInvalidArgument);
    leaks = armed.leaks();
  }
  EXPECT_EQ(leaks, 0);
}

TEST(SecretWipeTest, SuccessfulDecodeWipedByCaller) {
  const std::string text = SecretBlock(kX25519PrivateKeyLabel);
  int leaks = 0;
  {
    Armed armed;
    absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(text);
    ASSERT_TRUE(blocks.ok());
    for (PemBlock& block : *blocks) WipeString(block.data);
    blocks = absl::InvalidArgumentError("done");
    leaks = armed.leaks();
  }
  EXPECT_EQ(leaks, 0);
}

}  // namespace
}  // namespace alts

#else

TEST(SecretWipeTest, SkippedUnderSanitizers) { GTEST_SKIP() << "the allocator is the sanitizer's"; }

#endif
