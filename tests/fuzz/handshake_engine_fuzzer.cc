// Drives a HandshakerEngine with arbitrary sequences of requests: the server
// side fed arbitrary bytes (and a client answering arbitrary bytes), with
// deterministic keys, randomness and clock so that seeds reach every state,
// including a completed handshake. Checks the handshaker-service rules on
// every response.
//
// Input: byte 0 = mode (bit 0: client side; bit 1: server issues tickets),
// then records of [kind (1)][length (2, big-endian)][payload]:
//   kind % 4 == 0: next{in_bytes = payload}
//   kind % 4 == 1: server_start{in_bytes = payload}
//   kind % 4 == 2: client_start
//   kind % 4 == 3: a HandshakerReq parsed from payload
// Setting ALTS_FUZZ_WRITE_SEEDS=<dir> writes seed inputs there and exits.
#include <openssl/curve25519.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/handshaker.h"
#include "handshaker/handshaker_engine.h"

namespace alts {
namespace {

class FixedClock : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1'800'000'000); }
};

// DeterministicRandom fills bytes from SHA-256(label || counter).
struct DeterministicRandom {
  explicit DeterministicRandom(uint8_t label) : label(label) {}
  void Fill(absl::Span<uint8_t> out) {
    for (size_t i = 0; i < out.size(); i += 32) {
      uint8_t block[9] = {label};
      for (int b = 0; b < 8; ++b) block[1 + b] = static_cast<uint8_t>(counter >> (8 * b));
      ++counter;
      uint8_t digest[32];
      SHA256(block, sizeof(block), digest);
      for (size_t j = 0; j < 32 && i + j < out.size(); ++j) out[i + j] = digest[j];
    }
  }
  uint8_t label;
  uint64_t counter = 0;
};

struct Fixture {
  FixedClock clock;
  DeterministicRandom server_random{1};
  DeterministicRandom client_random{2};
  std::shared_ptr<HandshakerConfig> server;
  std::shared_ptr<HandshakerConfig> server_with_tickets;
  std::shared_ptr<HandshakerConfig> client;
};

std::shared_ptr<const WorkloadCredential> Leaf(const SigningKey& issuer, const char* account,
                                               uint8_t seed, const std::string* intermediate,
                                               absl::Time now) {
  SecretArray<32> key;
  for (size_t i = 0; i < 32; ++i) key.data()[i] = static_cast<uint8_t>(seed + i);
  CertificateParams params;
  X25519_public_from_private(params.public_key.data(), key.data());
  params.subject = account;
  params.not_before = now - absl::Hours(1);
  params.not_after = now + absl::Hours(24 * 365);
  params.serial = seed;
  std::vector<std::string> chain = {*IssueCertificate(issuer, params)};
  if (intermediate != nullptr) chain.push_back(*intermediate);
  return *WorkloadCredential::Create(std::move(chain), key.span());
}

Fixture& GetFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture();
    const absl::Time now = f->clock.Now();
    const std::string root_seed(32, 'r'), int_seed(32, 'i');
    SigningKey root = *SigningKey::FromSeed("fuzz-root", AsBytes(root_seed));
    SigningKey intermediate = *SigningKey::FromSeed("fuzz-intermediate", AsBytes(int_seed));
    CertificateParams params;
    params.kind = handshake::INTERMEDIATE;
    std::copy(intermediate.public_key().begin(), intermediate.public_key().end(),
              params.public_key.begin());
    params.subject = intermediate.name();
    params.not_before = now - absl::Hours(1);
    params.not_after = now + absl::Hours(24 * 365);
    params.serial = 1;
    const std::string intermediate_cert = *IssueCertificate(root, params);
    auto verifier = *CertificateVerifier::Create({TrustRoot::FromSigningKey(root)});
    auto make = [&](std::shared_ptr<const WorkloadCredential> credential,
                    DeterministicRandom* random) {
      auto config = std::make_shared<HandshakerConfig>();
      config->credential = std::move(credential);
      config->verifier = verifier;
      config->clock = &f->clock;
      config->random_for_testing = [random](absl::Span<uint8_t> out) { random->Fill(out); };
      return config;
    };
    f->server = make(Leaf(intermediate, "server@fuzz", 10, &intermediate_cert, now),
                     &f->server_random);
    f->client = make(Leaf(root, "client@fuzz", 50, nullptr, now), &f->client_random);
    auto with_tickets = std::make_shared<HandshakerConfig>(*f->server);
    TicketKeyManager::Options options;
    options.clock = &f->clock;
    with_tickets->ticket_keys = *TicketKeyManager::Create(options);
    with_tickets->session_cache = nullptr;
    f->server_with_tickets = with_tickets;
    return f;
  }();
  return *fixture;
}

grpc::gcp::HandshakerReq ClientStart() {
  grpc::gcp::HandshakerReq req;
  auto* s = req.mutable_client_start();
  s->set_handshake_security_protocol(grpc::gcp::ALTS);
  s->add_application_protocols("grpc");
  s->add_record_protocols("ALTSRP_GCM_AES128_REKEY");
  s->add_target_identities()->set_service_account("server@fuzz");
  s->mutable_rpc_versions()->mutable_max_rpc_version()->set_major(2);
  s->mutable_rpc_versions()->mutable_max_rpc_version()->set_minor(1);
  s->mutable_rpc_versions()->mutable_min_rpc_version()->set_major(2);
  s->mutable_rpc_versions()->mutable_min_rpc_version()->set_minor(1);
  return req;
}

grpc::gcp::HandshakerReq ServerStart(std::string in_bytes) {
  grpc::gcp::HandshakerReq req;
  auto* s = req.mutable_server_start();
  s->add_application_protocols("grpc");
  (*s->mutable_handshake_parameters())[grpc::gcp::ALTS].add_record_protocols(
      "ALTSRP_GCM_AES128_REKEY");
  s->set_in_bytes(std::move(in_bytes));
  *s->mutable_rpc_versions() = ClientStart().client_start().rpc_versions();
  return req;
}

grpc::gcp::HandshakerReq Next(std::string in_bytes) {
  grpc::gcp::HandshakerReq req;
  req.mutable_next()->set_in_bytes(std::move(in_bytes));
  return req;
}

void CheckRules(const grpc::gcp::HandshakerReq& req, const grpc::gcp::HandshakerResp& resp) {
  size_t in = 0;
  if (req.has_next()) in = req.next().in_bytes().size();
  if (req.has_server_start()) in = req.server_start().in_bytes().size();
  if (!resp.has_status()) __builtin_trap();
  if (resp.status().code() == 0 && !resp.has_result() && resp.bytes_consumed() != in) {
    __builtin_trap();
  }
  if (resp.has_result()) {
    const auto& r = resp.result();
    if (resp.status().code() != 0 || resp.bytes_consumed() > in || r.key_data().size() < 44 ||
        r.peer_identity().service_account().empty() || r.application_protocol().empty() ||
        r.record_protocol().empty() || r.max_frame_size() == 0) {
      __builtin_trap();
    }
  }
}

void AppendRecord(std::string* input, uint8_t kind, const std::string& payload) {
  input->push_back(static_cast<char>(kind));
  input->push_back(static_cast<char>(payload.size() >> 8));
  input->push_back(static_cast<char>(payload.size()));
  input->append(payload);
}

void WriteFile(const std::string& path, const std::string& data) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  std::fwrite(data.data(), 1, data.size(), f);
  std::fclose(f);
}

// WriteSeeds records a deterministic handshake and writes inputs that
// replay it against each side.
void WriteSeeds(const std::string& dir) {
  Fixture& f = GetFixture();
  f.server_random.counter = f.client_random.counter = 0;
  HandshakerEngine client(f.client), server(f.server);
  const std::string ci = client.Next(ClientStart()).out_frames();
  const std::string si_sf = server.Next(ServerStart(ci)).out_frames();
  const std::string cf = client.Next(Next(si_sf)).out_frames();
  if (!server.Next(Next(cf)).has_result()) std::abort();
  std::string server_seed(1, '\0');
  AppendRecord(&server_seed, 1, ci);
  AppendRecord(&server_seed, 0, cf);
  WriteFile(dir + "/server_full_handshake", server_seed);
  std::string chunked(1, '\0');
  AppendRecord(&chunked, 1, ci.substr(0, 3));
  AppendRecord(&chunked, 0, ci.substr(3));
  AppendRecord(&chunked, 0, cf + std::string("\x14\x00\x00\x00\x06\x00\x00\x00", 8));
  WriteFile(dir + "/server_chunked_with_records", chunked);
  std::string client_seed(1, '\x01');
  AppendRecord(&client_seed, 2, "");
  AppendRecord(&client_seed, 0, si_sf);
  WriteFile(dir + "/client_full_handshake", client_seed);
  std::string tickets(1, '\x02');
  AppendRecord(&tickets, 1, ci);
  WriteFile(dir + "/server_with_tickets", tickets);
  std::string raw(1, '\0');
  AppendRecord(&raw, 3, ServerStart(ci).SerializeAsString());
  AppendRecord(&raw, 3, Next(cf).SerializeAsString());
  WriteFile(dir + "/raw_requests", raw);
}

}  // namespace
}  // namespace alts

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (const char* dir = std::getenv("ALTS_FUZZ_WRITE_SEEDS")) {
    alts::WriteSeeds(dir);
    std::exit(0);
  }
  return 0;
}

namespace alts {
namespace {

void RunOne(const uint8_t* data, size_t size) {
  Fixture& f = GetFixture();
  f.server_random.counter = f.client_random.counter = 0;
  const bool client_side = data[0] & 1;
  const bool tickets = data[0] & 2;
  HandshakerEngine engine(client_side ? f.client : (tickets ? f.server_with_tickets : f.server));
  size_t offset = 1;
  int requests = 0;
  while (offset + 3 <= size && requests < 64) {
    const uint8_t kind = data[offset];
    const size_t length = (size_t{data[offset + 1]} << 8) | data[offset + 2];
    offset += 3;
    const size_t n = std::min(length, size - offset);
    std::string payload(reinterpret_cast<const char*>(data + offset), n);
    offset += n;
    grpc::gcp::HandshakerReq req;
    switch (kind % 4) {
      case 0:
        req = Next(std::move(payload));
        break;
      case 1:
        req = ServerStart(std::move(payload));
        break;
      case 2:
        req = ClientStart();
        break;
      case 3:
        if (!req.ParseFromString(payload)) continue;
        break;
    }
    grpc::gcp::HandshakerResp resp = engine.Next(req);
    CheckRules(req, resp);
    ++requests;
  }
}

}  // namespace
}  // namespace alts

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 1) alts::RunOne(data, size);
  return 0;
}
