#ifndef ALTS_HANDSHAKER_SECRET_ARRAY_H_
#define ALTS_HANDSHAKER_SECRET_ARRAY_H_

#include <openssl/mem.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/types/span.h"

namespace alts {

// SecretArray holds N bytes of key material and wipes them (OPENSSL_cleanse)
// when it is destroyed or overwritten. Copies are explicit (Copy) so that
// secrets are not duplicated by accident; moves copy and wipe the source.
template <size_t N>
class SecretArray {
 public:
  SecretArray() { bytes_.fill(0); }
  ~SecretArray() { Wipe(); }
  SecretArray(SecretArray&& other) noexcept : bytes_(other.bytes_) { other.Wipe(); }
  SecretArray& operator=(SecretArray&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      other.Wipe();
    }
    return *this;
  }
  SecretArray(const SecretArray&) = delete;
  SecretArray& operator=(const SecretArray&) = delete;

  // Copy returns an independent copy of the secret.
  SecretArray Copy() const {
    SecretArray out;
    out.bytes_ = bytes_;
    return out;
  }

  // Wipe zeroes the bytes.
  void Wipe() { OPENSSL_cleanse(bytes_.data(), N); }

  // data / size / span give access to the bytes.
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  static constexpr size_t size() { return N; }
  absl::Span<uint8_t> span() { return absl::MakeSpan(bytes_); }
  absl::Span<const uint8_t> span() const { return absl::MakeConstSpan(bytes_); }

 private:
  std::array<uint8_t, N> bytes_;
};

// WipeString zeroes a string's bytes (capacity included) and clears it. For
// secrets that pass through std::string (protobuf fields, file text).
inline void WipeString(std::string& s) {
  s.resize(s.capacity());
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace alts

#endif  // ALTS_HANDSHAKER_SECRET_ARRAY_H_
