// The key schedule of docs/handshake.md section 3, recomputed here with raw
// BoringSSL calls from the bytes on the wire and the (deterministic) private
// keys, must give exactly the Finished MACs and key_data the engines use.
// A fixed vector pins the protocol against accidental change.
#include <openssl/curve25519.h>
#include <openssl/digest.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "handshaker/certificate.h"
#include "handshaker/handshaker.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

// key_data of the fixed handshake below (regenerate only on a deliberate
// protocol change, and say so in docs/handshake.md).
constexpr char kPinnedKeyData[] =
    "a38d7c3b6a11a363150d164a1c7ac0c4bcf8faeef389110110e51da8f26e3b01"
    "aa50eab93a0e9c1125010ed8c7638bd3aba7d5d0f28ed154baa3adef2f4206f3";

std::string Sha256(const std::string& data) {
  uint8_t out[32];
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::string Extract(const std::string& salt, const std::string& ikm) {
  uint8_t out[32];
  size_t len = 0;
  HKDF_extract(out, &len, EVP_sha256(), reinterpret_cast<const uint8_t*>(ikm.data()),
               ikm.size(), reinterpret_cast<const uint8_t*>(salt.data()), salt.size());
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Expand(const std::string& prk, const std::string& info, size_t n) {
  std::string out(n, '\0');
  HKDF_expand(reinterpret_cast<uint8_t*>(out.data()), n, EVP_sha256(),
              reinterpret_cast<const uint8_t*>(prk.data()), prk.size(),
              reinterpret_cast<const uint8_t*>(info.data()), info.size());
  return out;
}

std::string Hmac(const std::string& key, const std::string& data) {
  uint8_t out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), key.size(), reinterpret_cast<const uint8_t*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Dh(const std::string& priv, const std::string& pub) {
  uint8_t out[32];
  EXPECT_EQ(X25519(out, reinterpret_cast<const uint8_t*>(priv.data()),
                   reinterpret_cast<const uint8_t*>(pub.data())),
            1);
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::string MixKey(const std::string& ck, const std::string& ikm, const std::string& th) {
  return Expand(Extract(ck, ikm), "alts v1 ck" + th, 32);
}

// Fills from a fixed pattern and records every request.
struct RecordingRandom {
  explicit RecordingRandom(uint8_t seed) : seed(seed) {}
  void Fill(absl::Span<uint8_t> out) {
    std::string bytes;
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<uint8_t>(seed + 7 * calls + i);
      bytes.push_back(static_cast<char>(out[i]));
    }
    ++calls;
    fills.push_back(bytes);
  }
  uint8_t seed;
  int calls = 0;
  std::vector<std::string> fills;
};

std::shared_ptr<const WorkloadCredential> FixedLeaf(const SigningKey& root, const char* account,
                                                    uint8_t seed, absl::Time now,
                                                    std::string* private_key) {
  SecretArray<32> key;
  for (size_t i = 0; i < 32; ++i) key.data()[i] = static_cast<uint8_t>(seed ^ i);
  *private_key = std::string(reinterpret_cast<const char*>(key.data()), 32);
  CertificateParams params;
  X25519_public_from_private(params.public_key.data(), key.data());
  params.subject = account;
  params.not_before = now - absl::Hours(1);
  params.not_after = now + absl::Hours(1);
  params.serial = seed;
  return *WorkloadCredential::Create({*IssueCertificate(root, params)}, key.span());
}

TEST(HandshakeVectorsTest, KeyScheduleMatchesTheDocument) {
  FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  const std::string root_seed(32, 's');
  SigningKey root = *SigningKey::FromSeed("vector-root", AsBytes(root_seed));
  std::string client_static, server_static;
  auto verifier = *CertificateVerifier::Create({TrustRoot::FromSigningKey(root)});
  auto client_config =
      MakeConfig(FixedLeaf(root, "client@vector", 0x11, clock.Now(), &client_static), verifier,
                 &clock);
  auto server_config =
      MakeConfig(FixedLeaf(root, "server@vector", 0x22, clock.Now(), &server_static), verifier,
                 &clock);
  RecordingRandom client_random(0x40), server_random(0x80);
  client_config->random_for_testing = [&](absl::Span<uint8_t> out) { client_random.Fill(out); };
  server_config->random_for_testing = [&](absl::Span<uint8_t> out) { server_random.Fill(out); };

  auto client = *Handshaker::Create(Side::kClient, client_config, HandshakeParams());
  auto server = *Handshaker::Create(Side::kServer, server_config, HandshakeParams());
  std::string ci, si_sf, cf;
  ASSERT_TRUE(client->Start(&ci).ok());
  ASSERT_TRUE(server->Step(AsBytes(ci), &si_sf).ok());
  ASSERT_TRUE(client->Step(AsBytes(si_sf), &cf).ok());
  ASSERT_TRUE(server->Step(AsBytes(cf), &si_sf).ok());
  ASSERT_TRUE(client->done() && server->done());

  // Randomness order (section 3): client random then ephemeral; server
  // ephemeral then random.
  ASSERT_EQ(client_random.fills.size(), 2u);
  ASSERT_EQ(server_random.fills.size(), 2u);
  const std::string client_eph = client_random.fills[1];
  const std::string server_eph = server_random.fills[0];

  std::vector<Message> s2c = SplitMessages(si_sf);
  ASSERT_GE(s2c.size(), 2u);
  const std::string si = s2c[0].bytes, sf = s2c[1].bytes;
  handshake::ClientInit client_init;
  handshake::ServerInit server_init;
  ASSERT_TRUE(client_init.ParseFromString(ci.substr(4)));
  ASSERT_TRUE(server_init.ParseFromString(si.substr(4)));
  const std::string server_static_pub =
      (*ParseCertificateUnverified(AsBytes(server_init.certificate_chain(0)))).body.public_key();

  const std::string th1 = Sha256(ci), th2 = Sha256(ci + si), th3 = Sha256(ci + si + sf),
                    th4 = Sha256(ci + si + sf + cf);
  std::string ck = Sha256("ALTS-ondemand v1 full");
  ck = MixKey(ck, Dh(client_eph, server_init.ephemeral_key()), th1);   // ee
  ck = MixKey(ck, Dh(client_eph, server_static_pub), th1);             // es
  ck = MixKey(ck, Dh(client_static, server_init.ephemeral_key()), th1);  // se
  // The server side computes the same three values from its own keys.
  EXPECT_EQ(Dh(server_eph, client_init.ephemeral_key()),
            Dh(client_eph, server_init.ephemeral_key()));
  EXPECT_EQ(Dh(server_static, client_init.ephemeral_key()), Dh(client_eph, server_static_pub));

  const std::string sfk = Expand(ck, "alts v1 s finished" + th2, 32);
  EXPECT_EQ(sf.substr(4), Hmac(sfk, th2));
  const std::string cfk = Expand(ck, "alts v1 c finished" + th3, 32);
  EXPECT_EQ(cf.substr(4), Hmac(cfk, th3));
  const std::string key_data = Expand(ck, "alts v1 key data" + th4, 64);
  const std::string engine_key(reinterpret_cast<const char*>(client->result().key_data.data()),
                               kKeyDataSize);
  EXPECT_EQ(engine_key, key_data);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(server->result().key_data.data()),
                        kKeyDataSize),
            key_data);

  // Everything is deterministic here, so this vector pins the protocol.
  EXPECT_EQ(absl::BytesToHexString(key_data), kPinnedKeyData);
}

}  // namespace
}  // namespace alts::testing
