// Drives the handshaker service's per-stream logic (HandshakeStream, the part
// of tools/alts_handshaker_service that one DoHandshake call runs) with
// arbitrary request sequences, next to a live peer stream of the opposite
// role, so that inputs reach real handshakes and mutate them mid-way. Checks
// the service rules on every action: every response parses and carries a
// status; a failure is answered only on the first response, later ones end
// the stream with a status and no response; everything is consumed before
// the result, which ends the stream with OK; a finished stream stays silent;
// two completed sides agree on the key.
//
// Input: records of [op (1)][length (2, big-endian)][payload]:
//   op % 8 == 0: the payload as a raw HandshakerReq
//   op % 8 == 1: next{in_bytes = payload}
//   op % 8 == 2: client_start (payload[0] picks the local identity, the
//                rest is a target service account)
//   op % 8 == 3: server_start{in_bytes = payload} (payload[0] picks the
//                local identities)
//   op % 8 == 4: the peer's pending bytes to the stream (server_start if it
//                has not started), payload[0] ^ at payload[1] mutating them
//   op % 8 == 5: the stream's pending bytes to the peer
//   op % 8 == 6: the peer starts as a client (its ClientInit is pending)
//   op % 8 == 7: payload[0] % 4: half-close, deadline, deadline while the
//                first request waits, cancel
// The fuzz build has no tools/ targets, so the stream logic is compiled in
// here.
#include <openssl/curve25519.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "handshaker/certificate.h"
#include "handshaker/certificate_verifier.h"
#include "handshaker/clock.h"
#include "tools/alts_handshaker_service/handshake_stream.cc"  // NOLINT: see above

namespace alts::handshaker_service {
namespace {

class FixedClock : public Clock {
 public:
  absl::Time Now() const override { return absl::FromUnixSeconds(1'800'000'000); }
};

std::shared_ptr<const WorkloadCredential> Leaf(const SigningKey& root, const char* account,
                                               uint8_t seed, absl::Time now) {
  SecretArray<32> key;
  for (size_t i = 0; i < 32; ++i) key.data()[i] = static_cast<uint8_t>(seed + i);
  CertificateParams params;
  X25519_public_from_private(params.public_key.data(), key.data());
  params.subject = account;
  params.not_before = now - absl::Hours(1);
  params.not_after = now + absl::Hours(24 * 365);
  params.serial = seed;
  return *WorkloadCredential::Create({*IssueCertificate(root, params)}, key.span());
}

const char* const kAccounts[] = {"server@fuzz", "client@fuzz", "nobody@fuzz"};

std::shared_ptr<const ServiceIdentities>& Identities() {
  static FixedClock clock;
  static auto* identities = new std::shared_ptr<const ServiceIdentities>([] {
    const absl::Time now = clock.Now();
    const std::string seed(32, 'r');
    SigningKey root = *SigningKey::FromSeed("fuzz-root", AsBytes(seed));
    ServiceOptions options;
    options.credentials = {Leaf(root, "server@fuzz", 10, now), Leaf(root, "client@fuzz", 50, now)};
    options.verifier = *CertificateVerifier::Create({TrustRoot::FromSigningKey(root)});
    options.clock = &clock;
    options.resumption = true;
    return *ServiceIdentities::Create(std::move(options));
  }());
  return *identities;
}

void SetVersions(grpc::gcp::RpcProtocolVersions* v) {
  v->mutable_max_rpc_version()->set_major(2);
  v->mutable_max_rpc_version()->set_minor(1);
  v->mutable_min_rpc_version()->set_major(2);
  v->mutable_min_rpc_version()->set_minor(1);
}

grpc::gcp::HandshakerReq ClientStart(uint8_t local, const std::string& target) {
  grpc::gcp::HandshakerReq req;
  auto* s = req.mutable_client_start();
  s->set_handshake_security_protocol(grpc::gcp::ALTS);
  s->add_application_protocols("grpc");
  s->add_record_protocols("ALTSRP_GCM_AES128_REKEY");
  if (!target.empty()) s->add_target_identities()->set_service_account(target);
  if (local % 4 != 3) s->mutable_local_identity()->set_service_account(kAccounts[local % 4 % 3]);
  s->set_target_name("fuzz");
  SetVersions(s->mutable_rpc_versions());
  return req;
}

grpc::gcp::HandshakerReq ServerStart(std::string in_bytes, uint8_t locals) {
  grpc::gcp::HandshakerReq req;
  auto* s = req.mutable_server_start();
  s->add_application_protocols("grpc");
  auto& params = (*s->mutable_handshake_parameters())[grpc::gcp::ALTS];
  params.add_record_protocols("ALTSRP_GCM_AES128_REKEY");
  for (int i = 0; i < 3; ++i) {
    if (locals & (1 << i)) params.add_local_identities()->set_service_account(kAccounts[i]);
  }
  s->set_in_bytes(std::move(in_bytes));
  SetVersions(s->mutable_rpc_versions());
  return req;
}

grpc::gcp::HandshakerReq Next(std::string in_bytes) {
  grpc::gcp::HandshakerReq req;
  req.mutable_next()->set_in_bytes(std::move(in_bytes));
  return req;
}

// Side is one stream and what the fuzzer learned from its actions.
struct Tracked {
  explicit Tracked(std::shared_ptr<const ServiceIdentities> ids) : stream(std::move(ids)) {}
  HandshakeStream stream;
  int responses = 0;
  std::string out;  // bytes for the other side
  std::string key;  // key_data once completed
};

// Check applies the rules to one action; `in` is the size of the request's
// in_bytes (if it was a well-formed request carrying bytes).
void Check(Tracked& t, bool was_finished, bool first, size_t in, const StreamAction& a) {
  if (was_finished && (a.write || a.finish)) __builtin_trap();
  if (a.write) {
    grpc::gcp::HandshakerResp resp;
    if (!resp.ParseFromString(a.response) || !resp.has_status()) __builtin_trap();
    ++t.responses;
    if (resp.status().code() != 0) {
      // Failures are answered only on the first response, and end the stream.
      if (t.responses != 1 || !a.finish || a.status.ok()) __builtin_trap();
      if (static_cast<uint32_t>(a.status.code()) != resp.status().code()) __builtin_trap();
    } else if (resp.has_result()) {
      const auto& r = resp.result();
      if (!a.finish || !a.status.ok() || resp.bytes_consumed() > in ||
          r.key_data().size() < 44 || r.peer_identity().service_account().empty() ||
          r.local_identity().service_account().empty() || !r.has_peer_rpc_versions() ||
          r.max_frame_size() == 0) {
        __builtin_trap();
      }
      t.key = r.key_data();
    } else {
      if (a.finish || resp.bytes_consumed() != in) __builtin_trap();
    }
    t.out += resp.out_frames();
  } else if (a.finish) {
    // A first request is always answered.
    if (first && !was_finished && t.responses == 0 && a.status.code() != absl::StatusCode::kCancelled &&
        a.status.code() != absl::StatusCode::kDeadlineExceeded) {
      __builtin_trap();
    }
    if (a.status.ok()) __builtin_trap();
  }
  if (a.finish != (t.stream.finished() && !was_finished)) __builtin_trap();
}

void Send(Tracked& t, const grpc::gcp::HandshakerReq& req) {
  const std::string bytes = req.SerializeAsString();
  size_t in = 0;
  if (req.has_next()) in = req.next().in_bytes().size();
  if (req.has_server_start()) in = req.server_start().in_bytes().size();
  const bool was_finished = t.stream.finished();
  const bool first = !t.stream.started();
  StreamAction a = t.stream.OnRequest(AsBytes(bytes));
  Check(t, was_finished, first, in, a);
}

void RunOne(const uint8_t* data, size_t size) {
  Tracked s(Identities());
  Tracked p(Identities());
  size_t offset = 0;
  int ops = 0;
  while (offset + 3 <= size && ops++ < 64) {
    const uint8_t op = data[offset];
    const size_t length = (size_t{data[offset + 1]} << 8) | data[offset + 2];
    offset += 3;
    const size_t n = std::min(length, size - offset);
    std::string payload(reinterpret_cast<const char*>(data + offset), n);
    offset += n;
    const uint8_t b0 = payload.empty() ? 0 : static_cast<uint8_t>(payload[0]);
    switch (op % 8) {
      case 0: {
        const bool was_finished = s.stream.finished();
        const bool first = !s.stream.started();
        StreamAction a = s.stream.OnRequest(AsBytes(payload));
        grpc::gcp::HandshakerReq req;
        size_t in = SIZE_MAX;  // unknown: do not check consumption exactly
        if (req.ParseFromString(payload)) {
          if (req.has_next()) in = req.next().in_bytes().size();
          if (req.has_server_start()) in = req.server_start().in_bytes().size();
          if (req.has_client_start()) in = 0;
        }
        if (in == SIZE_MAX) {
          // Only the structure is checked for requests that do not parse.
          if (a.write) {
            grpc::gcp::HandshakerResp resp;
            if (!resp.ParseFromString(a.response) || !resp.has_status()) __builtin_trap();
            if (resp.status().code() == 0 || !a.finish || !first) __builtin_trap();
            ++s.responses;
          }
          if (was_finished && (a.write || a.finish)) __builtin_trap();
        } else {
          Check(s, was_finished, first, in, a);
        }
        break;
      }
      case 1:
        Send(s, Next(payload));
        break;
      case 2:
        Send(s, ClientStart(b0, payload.size() > 1 ? payload.substr(1) : ""));
        break;
      case 3:
        Send(s, ServerStart(payload.size() > 1 ? payload.substr(1) : "", b0));
        break;
      case 4: {
        std::string bytes = std::move(p.out);
        p.out.clear();
        if (payload.size() >= 2 && !bytes.empty()) {
          bytes[static_cast<uint8_t>(payload[1]) % bytes.size()] ^= payload[0];
        }
        Send(s, s.stream.started() || s.stream.finished() ? Next(std::move(bytes))
                                                          : ServerStart(std::move(bytes), 0));
        break;
      }
      case 5: {
        std::string bytes = std::move(s.out);
        s.out.clear();
        Send(p, p.stream.started() || p.stream.finished() ? Next(std::move(bytes))
                                                          : ServerStart(std::move(bytes), 0));
        break;
      }
      case 6:
        Send(p, ClientStart(1, "server@fuzz"));
        break;
      case 7: {
        const bool was_finished = s.stream.finished();
        StreamAction a;
        switch (b0 % 4) {
          case 0:
            a = s.stream.OnHalfClose();
            break;
          case 1:
            a = s.stream.OnDeadline(false);
            break;
          case 2:
            a = s.stream.OnDeadline(true);
            break;
          case 3:
            s.stream.OnCancel();
            break;
        }
        if (was_finished && (a.write || a.finish)) __builtin_trap();
        if (a.finish && a.status.ok()) __builtin_trap();
        if (a.write) ++s.responses;
        break;
      }
    }
    if (!s.key.empty() && !p.key.empty() && s.key != p.key) __builtin_trap();
  }
}

}  // namespace
}  // namespace alts::handshaker_service

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  alts::handshaker_service::RunOne(data, size);
  return 0;
}
