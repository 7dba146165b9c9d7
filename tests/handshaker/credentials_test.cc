#include <openssl/curve25519.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/credential_file.h"
#include "handshaker/workload_credential.h"
#include "handshaker_test_util.h"

namespace alts::testing {
namespace {

using ::testing::HasSubstr;

std::string TempDir() {
  std::string templ = ::testing::TempDir() + "alts_credentials_XXXXXX";
  char* dir = mkdtemp(templ.data());
  EXPECT_NE(dir, nullptr);
  return templ;
}

mode_t Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return st.st_mode & 0777;
}

std::vector<absl::Span<const uint8_t>> View(const std::vector<std::string>& chain) {
  std::vector<absl::Span<const uint8_t>> out;
  for (const std::string& c : chain) out.push_back(AsBytes(c));
  return out;
}

class CredentialsTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  TestPki pki_{clock_.Now()};
};

TEST_F(CredentialsTest, WorkloadCredentialFileRoundTripWithMode0600) {
  const std::string dir = TempDir();
  auto credential = pki_.Leaf("svc@test", /*via_intermediate=*/true, {{"team", "x"}});
  const std::string chain_path = dir + "/leaf.chain";
  const std::string key_path = dir + "/leaf.key";
  ::umask(0);  // a permissive umask must not widen the key file's mode
  ASSERT_TRUE(WriteWorkloadCredential(chain_path, key_path, *credential).ok());
  ::umask(022);
  EXPECT_EQ(Mode(key_path), 0600u);
  EXPECT_EQ(Mode(chain_path), 0644u);
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> read =
      ReadWorkloadCredential(chain_path, key_path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)->chain(), credential->chain());
  EXPECT_EQ((*read)->identity(), credential->identity());
  EXPECT_TRUE(std::equal(credential->private_key().span().begin(),
                         credential->private_key().span().end(),
                         (*read)->private_key().span().begin()));
  // Secret files are never overwritten.
  EXPECT_EQ(WriteWorkloadCredential(chain_path, key_path, *credential).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadWorkloadCredential(chain_path, dir + "/missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CredentialsTest, SigningKeyAndTrustRootFilesRoundTrip) {
  const std::string dir = TempDir();
  ASSERT_TRUE(WriteSigningKey(dir + "/root.key", pki_.root).ok());
  EXPECT_EQ(Mode(dir + "/root.key"), 0600u);
  absl::StatusOr<SigningKey> key = ReadSigningKey(dir + "/root.key");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->name(), "test-root");
  EXPECT_EQ(key->key_id(), pki_.root.key_id());
  const TrustRoot root = TrustRoot::FromSigningKey(pki_.root);
  const TrustRoot other = TrustRoot::FromSigningKey(pki_.intermediate);
  ASSERT_TRUE(WritePublicFile(dir + "/roots", EncodeTrustRoots({root, other})).ok());
  absl::StatusOr<std::vector<TrustRoot>> roots = ReadTrustRoots(dir + "/roots");
  ASSERT_TRUE(roots.ok()) << roots.status();
  ASSERT_EQ(roots->size(), 2u);
  EXPECT_EQ((*roots)[0].public_key, root.public_key);
  EXPECT_EQ((*roots)[1].name, "test-intermediate");
}

std::string ReadAll(const std::string& path) {
  absl::StatusOr<std::string> text = ReadCredentialFile(path);
  return text.ok() ? *text : std::string("<") + std::string(text.status().message()) + ">";
}

size_t CountEntries(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  while (dirent* e = readdir(d))
    n += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
  closedir(d);
  return n;
}

// A link planted where a public file goes is replaced, never written
// through: neither a symbolic nor a hard link reaches its target.
TEST_F(CredentialsTest, PublicFilesNeverFollowPlantedLinks) {
  const std::string dir = TempDir();
  const std::string victim = dir + "/victim";
  ASSERT_TRUE(WritePublicFile(victim, "precious\n").ok());
  const std::string hard = dir + "/hard.chain";
  ASSERT_EQ(::link(victim.c_str(), hard.c_str()), 0);
  ASSERT_TRUE(WritePublicFile(hard, "chain\n").ok());
  EXPECT_EQ(ReadAll(victim), "precious\n") << "wrote through a hard link";
  EXPECT_EQ(ReadAll(hard), "chain\n");
  const std::string soft = dir + "/soft.root";
  ASSERT_EQ(::symlink(victim.c_str(), soft.c_str()), 0);
  ASSERT_TRUE(WritePublicFile(soft, "root\n").ok());
  EXPECT_EQ(ReadAll(victim), "precious\n") << "wrote through a symbolic link";
  struct stat st;
  ASSERT_EQ(::lstat(soft.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(Mode(soft), 0644u);
  // Secret files never replace anything, a planted (even dangling) link
  // included.
  const std::string dangling = dir + "/planted.key";
  ASSERT_EQ(::symlink((dir + "/nowhere").c_str(), dangling.c_str()), 0);
  EXPECT_EQ(WriteSecretFile(dangling, "secret").code(), absl::StatusCode::kAlreadyExists);
  struct stat none;
  EXPECT_NE(::stat((dir + "/nowhere").c_str(), &none), 0);
  EXPECT_EQ(CountEntries(dir), 4u);  // victim, hard, soft, planted: no temporary left
}

// A write that fails half way leaves nothing: no truncated key file at the
// path, no temporary file beside it.
TEST_F(CredentialsTest, FailedWritesLeaveNoPartialFile) {
  const std::string dir = TempDir();
  struct sigaction ignore {}, saved {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &saved), 0);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = 16;  // a write past 16 bytes fails with EFBIG
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string content(200, 'k');
  const absl::Status secret = WriteSecretFile(dir + "/leaf.key", content);
  const absl::Status pub = WritePublicFile(dir + "/leaf.chain", content);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &saved, nullptr), 0);
  EXPECT_EQ(secret.code(), absl::StatusCode::kInternal) << secret;
  EXPECT_EQ(pub.code(), absl::StatusCode::kInternal) << pub;
  EXPECT_EQ(CountEntries(dir), 0u) << "a partial or temporary file was left behind";
  // A failed chain write also takes back the key written for it.
  auto credential = pki_.Leaf("svc@test");
  ASSERT_EQ(::mkdir((dir + "/leaf.chain").c_str(), 0755), 0);  // rename onto a directory fails
  EXPECT_FALSE(WriteWorkloadCredential(dir + "/leaf.chain", dir + "/leaf.key", *credential).ok());
  EXPECT_EQ(CountEntries(dir), 1u);  // only the directory
}

TEST_F(CredentialsTest, PemDecodingErrors) {
  EXPECT_EQ(DecodePemBlocks("-----BEGIN X-----\nAAAA\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePemBlocks("-----BEGIN X-----\nAAAA\n-----END Y-----\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodePemBlocks("-----BEGIN X-----\n!!!!\n-----END X-----\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::vector<PemBlock>> ok =
      DecodePemBlocks("comment\n-----BEGIN X-----\nAAEC\n-----END X-----\ntrailer\n");
  ASSERT_TRUE(ok.ok());
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].data, std::string("\x00\x01\x02", 3));
  EXPECT_EQ(DecodeCertificateChain("nothing here").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialsTest, PrivateKeyMustMatchLeaf) {
  auto credential = pki_.Leaf("svc@test");
  SecretArray<32> wrong;
  uint8_t pub[32];
  X25519_keypair(pub, wrong.data());
  absl::StatusOr<std::shared_ptr<const WorkloadCredential>> bad =
      WorkloadCredential::Create(credential->chain(), wrong.span());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("does not match"));
  EXPECT_EQ(WorkloadCredential::Create({}, wrong.span()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WorkloadCredential::Create({pki_.intermediate_cert}, wrong.span()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CredentialsTest, VerifiedChainCacheHitsAndStillChecksExpiry) {
  auto verifier = pki_.Verifier();
  auto credential = pki_.Leaf("svc@test", /*via_intermediate=*/true, {}, absl::Hours(1),
                              absl::Hours(2));
  const auto chain = View(credential->chain());
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> first =
      verifier->Verify(chain, clock_.Now());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(verifier->cache_misses(), 1u);
  EXPECT_EQ((*first)->identity.service_account, "svc@test");
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> second =
      verifier->Verify(chain, clock_.Now());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(verifier->cache_hits(), 1u);
  EXPECT_EQ(first->get(), second->get());  // served from the cache
  // Expiry is re-checked on a hit.
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> late =
      verifier->Verify(chain, clock_.Now() + absl::Hours(3));
  EXPECT_EQ(late.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(verifier->cache_hits(), 2u);
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> early =
      verifier->Verify(chain, clock_.Now() - absl::Hours(2));
  EXPECT_EQ(early.status().code(), absl::StatusCode::kOutOfRange);
  // The key is the exact bytes: a different chain is a miss, and a failed
  // verification is not cached.
  std::vector<std::string> tampered = credential->chain();
  tampered[0][tampered[0].size() - 3] ^= 1;
  EXPECT_EQ(verifier->Verify(View(tampered), clock_.Now()).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier->Verify(View(tampered), clock_.Now()).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(verifier->cache_size(), 1u);
}

TEST_F(CredentialsTest, ChainCacheIsBounded) {
  auto verifier = pki_.Verifier(/*cache=*/2);
  std::vector<std::shared_ptr<const WorkloadCredential>> leaves;
  for (int i = 0; i < 4; ++i) leaves.push_back(pki_.Leaf(absl::StrCat("svc", i, "@test")));
  for (const auto& leaf : leaves) ASSERT_TRUE(verifier->Verify(View(leaf->chain()), clock_.Now()).ok());
  EXPECT_EQ(verifier->cache_size(), 2u);
  // The two most recent are hits; the oldest was evicted.
  ASSERT_TRUE(verifier->Verify(View(leaves[3]->chain()), clock_.Now()).ok());
  EXPECT_EQ(verifier->cache_hits(), 1u);
  ASSERT_TRUE(verifier->Verify(View(leaves[0]->chain()), clock_.Now()).ok());
  EXPECT_EQ(verifier->cache_hits(), 1u);
}

TEST_F(CredentialsTest, ChainChecks) {
  auto verifier = pki_.Verifier();
  auto leaf = pki_.Leaf("svc@test", /*via_intermediate=*/true);
  const absl::Time now = clock_.Now();
  // Empty, too long, too large.
  EXPECT_EQ(verifier->Verify({}, now).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<std::string> four(4, leaf->chain()[0]);
  EXPECT_EQ(verifier->Verify(View(four), now).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::vector<std::string> huge = {std::string(kMaxCertificateSize + 1, 'x')};
  EXPECT_EQ(verifier->Verify(View(huge), now).status().code(),
            absl::StatusCode::kResourceExhausted);
  // Leaf alone, without its intermediate: untrusted issuer.
  std::vector<std::string> leaf_only = {leaf->chain()[0]};
  absl::StatusOr<std::shared_ptr<const VerifiedChain>> r = verifier->Verify(View(leaf_only), now);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("untrusted root"));
  // Wrong order: intermediate first is not a leaf.
  std::vector<std::string> swapped = {leaf->chain()[1], leaf->chain()[0]};
  EXPECT_FALSE(verifier->Verify(View(swapped), now).ok());
  // Garbage.
  std::vector<std::string> garbage = {"\xff\xff\xff"};
  EXPECT_EQ(verifier->Verify(View(garbage), now).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A leaf signed by the right key id but the wrong key: bad signature.
  CertificateParams params;
  params.subject = "forged@test";
  params.public_key[0] = 9;  // the base point: not small-order
  params.not_before = now - absl::Hours(1);
  params.not_after = now + absl::Hours(1);
  const std::string seed(32, 'k');
  absl::StatusOr<SigningKey> impostor = SigningKey::FromSeed("test-root", AsBytes(seed));
  ASSERT_TRUE(impostor.ok());
  handshake::Certificate forged;
  ASSERT_TRUE(forged.ParseFromString(*IssueCertificate(*impostor, params)));
  forged.set_issuer_key_id(std::string(reinterpret_cast<const char*>(pki_.root.key_id().data()),
                                       kKeyIdSize));
  std::vector<std::string> forged_chain = {forged.SerializeAsString()};
  r = verifier->Verify(View(forged_chain), now);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(r.status().message(), HasSubstr("bad signature"));
}

TEST_F(CredentialsTest, CertificatePrintsReadably) {
  auto leaf = pki_.Leaf("svc@test", false, {{"zone", "a"}});
  absl::StatusOr<ParsedCertificate> parsed = ParseCertificateUnverified(AsBytes(leaf->chain()[0]));
  ASSERT_TRUE(parsed.ok());
  const std::string text = CertificateToText(*parsed);
  EXPECT_THAT(text, HasSubstr("LEAF"));
  EXPECT_THAT(text, HasSubstr("svc@test"));
  EXPECT_THAT(text, HasSubstr("zone=a"));
  EXPECT_THAT(text, HasSubstr("test-root"));
}

}  // namespace
}  // namespace alts::testing
