#include "handshaker/credential_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "handshaker/proto/alts_handshake.pb.h"

namespace alts {
namespace {

constexpr size_t kBase64LineSize = 64;
constexpr absl::string_view kBegin = "-----BEGIN ";
constexpr absl::string_view kEnd = "-----END ";
constexpr absl::string_view kDashes = "-----";

absl::Status ErrnoStatus(absl::string_view what, const std::string& path) {
  const int err = errno;
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == EEXIST) return absl::AlreadyExistsError(message);
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

absl::Status WriteAll(int fd, absl::string_view content, const std::string& path) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path);
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// SyncDirectory makes a rename or link in the directory of `path` durable.
void SyncDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

// WriteFile writes `content` to a fresh temporary file beside `path`
// (mkstemp: O_EXCL, mode 0600 from the start), sets the final mode, syncs,
// then puts it in place in one step: a secret with link(), which never
// replaces anything (so an existing file, or a link planted at `path`, is
// kAlreadyExists); a public file with rename(), which replaces the name
// `path` itself and never writes through a symbolic or hard link planted
// there. On any error the temporary file is unlinked and `path` is
// untouched: a reader never sees a partial file.
absl::Status WriteFile(const std::string& path, absl::string_view content, bool secret) {
  if (path.empty()) return absl::InvalidArgumentError("empty path");
  if (secret) {
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0) {
      return absl::AlreadyExistsError(absl::StrCat("open ", path, ": File exists"));
    }
  }
  std::string temp = path + ".tmp-XXXXXX";
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) return ErrnoStatus("create temporary file for", path);
  bool placed = false;
  absl::Cleanup cleanup = [&] {
    ::close(fd);
    if (!placed) ::unlink(temp.c_str());
  };
  // A permissive umask cannot widen 0600 (mkstemp's mode), but the public
  // mode must be set explicitly; do it before writing anything.
  if (::fchmod(fd, secret ? 0600 : 0644) != 0) return ErrnoStatus("fchmod", temp);
  if (absl::Status s = WriteAll(fd, content, temp); !s.ok()) return s;
  if (::fsync(fd) != 0) return ErrnoStatus("fsync", temp);
  if (secret) {
    if (::link(temp.c_str(), path.c_str()) != 0) return ErrnoStatus("link", path);
    // The temporary name goes either way; `path` now holds the file.
    ::unlink(temp.c_str());
    placed = true;
  } else {
    if (::rename(temp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename", path);
    placed = true;
  }
  SyncDirectory(path);
  return absl::OkStatus();
}

// SingleBlock returns the payload of the only block labelled `label`.
absl::StatusOr<std::string> SingleBlock(std::string text, absl::string_view label) {
  absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(text);
  WipeString(text);
  if (!blocks.ok()) return blocks.status();
  std::string out;
  size_t found = 0;
  for (PemBlock& block : *blocks) {
    if (block.label == label) {
      ++found;
      out.swap(block.data);
    }
    WipeString(block.data);
  }
  if (found != 1) {
    WipeString(out);
    return absl::InvalidArgumentError(
        absl::StrCat("expected exactly one ", label, " block, found ", found));
  }
  return out;
}

}  // namespace

std::string EncodePemBlock(absl::string_view label, absl::Span<const uint8_t> data) {
  std::string encoded = absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  std::string out = absl::StrCat(kBegin, label, kDashes, "\n");
  for (size_t i = 0; i < encoded.size(); i += kBase64LineSize) {
    absl::StrAppend(&out, absl::string_view(encoded).substr(i, kBase64LineSize), "\n");
  }
  absl::StrAppend(&out, kEnd, label, kDashes, "\n");
  WipeString(encoded);
  return out;
}

absl::StatusOr<std::vector<PemBlock>> DecodePemBlocks(absl::string_view text) {
  std::vector<PemBlock> blocks;
  std::string body;
  bool in_block = false;
  std::string label;
  absl::Cleanup wipe_body = [&body] { WipeString(body); };
  // On an error, blocks decoded so far (possibly secrets) and a partial
  // decode are wiped before they are freed.
  absl::Cleanup wipe_blocks = [&blocks] {
    for (PemBlock& block : blocks) WipeString(block.data);
  };
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!in_block) {
      if (absl::ConsumePrefix(&line, kBegin)) {
        if (!absl::ConsumeSuffix(&line, kDashes) || line.empty()) {
          return absl::InvalidArgumentError("malformed BEGIN line");
        }
        label = std::string(line);
        in_block = true;
        body.clear();
      }
      continue;
    }
    if (absl::ConsumePrefix(&line, kEnd)) {
      if (!absl::ConsumeSuffix(&line, kDashes) || line != label) {
        return absl::InvalidArgumentError(absl::StrCat("END line does not match ", label));
      }
      blocks.emplace_back();
      blocks.back().label = label;
      if (!absl::Base64Unescape(body, &blocks.back().data)) {
        return absl::InvalidArgumentError(absl::StrCat("bad base64 in ", label, " block"));
      }
      in_block = false;
      continue;
    }
    body.append(line.data(), line.size());
  }
  if (in_block) return absl::InvalidArgumentError(absl::StrCat(label, " block has no END line"));
  std::move(wipe_blocks).Cancel();
  return blocks;
}

absl::Status WriteSecretFile(const std::string& path, absl::string_view content) {
  return WriteFile(path, content, /*secret=*/true);
}

absl::Status WritePublicFile(const std::string& path, absl::string_view content) {
  return WriteFile(path, content, /*secret=*/false);
}

absl::StatusOr<std::string> ReadCredentialFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      WipeString(out);
      return ErrnoStatus("read", path);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > kMaxCredentialFileSize) {
      WipeString(out);
      OPENSSL_cleanse(buf, sizeof(buf));
      return absl::ResourceExhaustedError(absl::StrCat(path, " exceeds kMaxCredentialFileSize"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  OPENSSL_cleanse(buf, sizeof(buf));
  return out;
}

std::string EncodeTrustRoots(absl::Span<const TrustRoot> roots) {
  std::string out;
  for (const TrustRoot& root : roots) {
    handshake::TrustRootFile file;
    file.set_name(root.name);
    file.set_public_key(root.public_key.data(), root.public_key.size());
    absl::StrAppend(&out, "# trust root ", absl::CHexEscape(root.name), " key id ",
                    absl::BytesToHexString(absl::string_view(
                        reinterpret_cast<const char*>(ComputeKeyId(root.public_key).data()),
                        kKeyIdSize)),
                    "\n");
    absl::StrAppend(&out, EncodePemBlock(kTrustRootLabel, AsBytes(file.SerializeAsString())));
  }
  return out;
}

absl::StatusOr<std::vector<TrustRoot>> DecodeTrustRoots(absl::string_view text) {
  absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(text);
  if (!blocks.ok()) return blocks.status();
  std::vector<TrustRoot> roots;
  for (const PemBlock& block : *blocks) {
    if (block.label != kTrustRootLabel) continue;
    handshake::TrustRootFile file;
    if (!file.ParseFromString(block.data) || file.public_key().size() != kEd25519PublicKeySize ||
        file.name().empty()) {
      return absl::InvalidArgumentError("malformed trust root");
    }
    TrustRoot root;
    root.name = file.name();
    std::memcpy(root.public_key.data(), file.public_key().data(), kEd25519PublicKeySize);
    roots.push_back(std::move(root));
  }
  if (roots.empty()) return absl::InvalidArgumentError("no ALTS TRUST ROOT block");
  return roots;
}

absl::StatusOr<std::vector<TrustRoot>> ReadTrustRoots(const std::string& path) {
  absl::StatusOr<std::string> text = ReadCredentialFile(path);
  if (!text.ok()) return text.status();
  return DecodeTrustRoots(*text);
}

absl::Status WriteSigningKey(const std::string& path, const SigningKey& key) {
  handshake::SigningKeyFile file;
  file.set_name(key.name());
  file.set_seed(key.seed().data(), key.seed().size());
  std::string payload = file.SerializeAsString();
  WipeString(*file.mutable_seed());
  std::string text = EncodePemBlock(kSigningKeyLabel, AsBytes(payload));
  WipeString(payload);
  absl::Status status = WriteSecretFile(path, text);
  WipeString(text);
  return status;
}

absl::StatusOr<SigningKey> ReadSigningKey(const std::string& path) {
  absl::StatusOr<std::string> text = ReadCredentialFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> payload = SingleBlock(std::move(*text), kSigningKeyLabel);
  if (!payload.ok()) return payload.status();
  handshake::SigningKeyFile file;
  const bool parsed = file.ParseFromString(*payload);
  WipeString(*payload);
  absl::Cleanup wipe_seed = [&file] { WipeString(*file.mutable_seed()); };
  if (!parsed) return absl::InvalidArgumentError("malformed signing key");
  return SigningKey::FromSeed(file.name(), AsBytes(file.seed()));
}

std::string EncodeCertificateChain(absl::Span<const std::string> chain) {
  std::string out;
  for (const std::string& certificate : chain) {
    absl::StatusOr<ParsedCertificate> parsed = ParseCertificateUnverified(AsBytes(certificate));
    if (parsed.ok()) {
      absl::StrAppend(&out, "# subject ", absl::CHexEscape(parsed->body.subject()),
                      " issuer ", absl::CHexEscape(parsed->body.issuer()), "\n");
    }
    absl::StrAppend(&out, EncodePemBlock(kCertificateLabel, AsBytes(certificate)));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> DecodeCertificateChain(absl::string_view text) {
  absl::StatusOr<std::vector<PemBlock>> blocks = DecodePemBlocks(text);
  if (!blocks.ok()) return blocks.status();
  std::vector<std::string> chain;
  for (PemBlock& block : *blocks) {
    if (block.label == kCertificateLabel) chain.push_back(std::move(block.data));
  }
  if (chain.empty()) return absl::InvalidArgumentError("no ALTS CERTIFICATE block");
  return chain;
}

absl::StatusOr<std::vector<std::string>> ReadCertificateChain(const std::string& path) {
  absl::StatusOr<std::string> text = ReadCredentialFile(path);
  if (!text.ok()) return text.status();
  return DecodeCertificateChain(*text);
}

absl::Status WriteX25519PrivateKey(const std::string& path, const SecretArray<32>& key) {
  std::string text = EncodePemBlock(kX25519PrivateKeyLabel, key.span());
  absl::Status status = WriteSecretFile(path, text);
  WipeString(text);
  return status;
}

absl::StatusOr<SecretArray<32>> ReadX25519PrivateKey(const std::string& path) {
  absl::StatusOr<std::string> text = ReadCredentialFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::string> payload = SingleBlock(std::move(*text), kX25519PrivateKeyLabel);
  if (!payload.ok()) return payload.status();
  absl::Cleanup wipe = [&payload] { WipeString(*payload); };
  if (payload->size() != 32) {
    return absl::InvalidArgumentError("X25519 private key must be 32 bytes");
  }
  SecretArray<32> key;
  std::memcpy(key.data(), payload->data(), 32);
  return key;
}

absl::Status WriteWorkloadCredential(const std::string& chain_path,
                                     const std::string& key_path,
                                     const WorkloadCredential& credential) {
  if (absl::Status s = WriteX25519PrivateKey(key_path, credential.private_key()); !s.ok()) {
    return s;
  }
  absl::Status status = WritePublicFile(chain_path, EncodeCertificateChain(credential.chain()));
  // Half a credential is no credential: do not leave the key behind.
  if (!status.ok()) ::unlink(key_path.c_str());
  return status;
}

absl::StatusOr<std::shared_ptr<const WorkloadCredential>> ReadWorkloadCredential(
    const std::string& chain_path, const std::string& key_path) {
  absl::StatusOr<std::vector<std::string>> chain = ReadCertificateChain(chain_path);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<SecretArray<32>> key = ReadX25519PrivateKey(key_path);
  if (!key.ok()) return key.status();
  return WorkloadCredential::Create(std::move(*chain), key->span());
}

}  // namespace alts
