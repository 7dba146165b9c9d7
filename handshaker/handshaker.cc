#include "handshaker/handshaker.h"

#include <openssl/curve25519.h>
#include <openssl/mem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "handshaker/proto/alts_handshake.pb.h"

namespace alts {
namespace {

const char* StateName(int state) {
  static const char* const kNames[] = {
      "start",          "wait ServerInit",  "wait ServerFinished", "wait ClientInit",
      "wait retried ClientInit", "wait ClientFinished", "done", "failed"};
  return state >= 0 && state < 8 ? kNames[state] : "?";
}

absl::Span<const uint8_t> Tail(const std::string& s, size_t start) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()) + start,
                                   s.size() - start);
}

// ChainView lists a received chain's certificates without copying them.
absl::InlinedVector<absl::Span<const uint8_t>, kMaxChainCertificates> ChainView(
    const google::protobuf::RepeatedPtrField<std::string>& chain) {
  absl::InlinedVector<absl::Span<const uint8_t>, kMaxChainCertificates> view;
  for (const std::string& certificate : chain) view.push_back(AsBytes(certificate));
  return view;
}

bool Offered(const google::protobuf::RepeatedPtrField<std::string>& offers,
             absl::string_view name) {
  return std::any_of(offers.begin(), offers.end(),
                     [&](const std::string& offer) { return offer == name; });
}

absl::string_view Name(RecordProtocol protocol) {
  const std::string_view name = RecordProtocolName(protocol);
  return absl::string_view(name.data(), name.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Handshaker>> Handshaker::Create(
    Side side, std::shared_ptr<const HandshakerConfig> config, HandshakeParams params) {
  if (config == nullptr || config->credential == nullptr || config->verifier == nullptr) {
    return absl::InvalidArgumentError("handshaker config needs a credential and a verifier");
  }
  if (params.application_protocols.empty() || params.record_protocols.empty()) {
    return absl::InvalidArgumentError("handshake needs application and record protocols");
  }
  if (params.application_protocols.size() > kMaxOfferedProtocols ||
      params.record_protocols.size() > kMaxOfferedProtocols) {
    return absl::InvalidArgumentError("too many protocols");
  }
  for (const std::string& name : params.application_protocols) {
    if (name.empty() || name.size() > kMaxProtocolNameSize) {
      return absl::InvalidArgumentError("bad application protocol name");
    }
  }
  if (params.max_frame_size != 0 && params.max_frame_size < kMinMaxFrameSize) {
    return absl::InvalidArgumentError("max_frame_size below kMinMaxFrameSize");
  }
  params.max_frame_size =
      std::min<uint32_t>(params.max_frame_size, static_cast<uint32_t>(kMaxMaxFrameSize));
  const Clock* clock = config->clock != nullptr ? config->clock : &SystemClock();
  const absl::Time deadline = clock->Now() + config->deadline;
  return std::unique_ptr<Handshaker>(
      new Handshaker(side, std::move(config), std::move(params), deadline));
}

Handshaker::Handshaker(Side side, std::shared_ptr<const HandshakerConfig> config,
                       HandshakeParams params, absl::Time deadline)
    : side_(side),
      config_(std::move(config)),
      params_(std::move(params)),
      clock_(config_->clock != nullptr ? config_->clock : &SystemClock()),
      deadline_(deadline),
      state_(side == Side::kClient ? State::kStart : State::kWaitClientInit) {
  result_.side = side;
}

Handshaker::~Handshaker() = default;  // SecretArray members wipe themselves

absl::Status Handshaker::Fail(absl::Status status) {
  state_ = State::kFailed;
  status_ = status;
  WipeSecrets();
  result_.key_data.Wipe();
  return status;
}

void Handshaker::WipeSecrets() {
  ephemeral_private_.Wipe();
  ck_.Wipe();
  new_resumption_secret_.Wipe();
  if (offered_session_.has_value()) offered_session_->resumption_secret.Wipe();
}

absl::Status Handshaker::CheckDeadline() {
  if (Now() >= deadline_) {
    return Fail(absl::DeadlineExceededError("handshake deadline exceeded"));
  }
  return absl::OkStatus();
}

absl::Status Handshaker::FillRandom(absl::Span<uint8_t> out) const {
  if (config_->random_for_testing) {
    config_->random_for_testing(out);
    return absl::OkStatus();
  }
  if (!RAND_bytes(out.data(), out.size())) return absl::InternalError("RAND_bytes failed");
  return absl::OkStatus();
}

absl::Status Handshaker::NewEphemeral() {
  if (absl::Status s = FillRandom(ephemeral_private_.span()); !s.ok()) return s;
  X25519_public_from_private(ephemeral_public_.data(), ephemeral_private_.data());
  return absl::OkStatus();
}

void Handshaker::AppendAndHash(MessageType type, absl::Span<const uint8_t> body,
                               std::string* out) {
  const size_t start = out->size();
  AppendRawMessage(type, body, out);
  transcript_.Update(Tail(*out, start));
}

std::string SessionCacheKey(absl::string_view session_key,
                            const WorkloadCredential& credential) {
  std::string key(session_key);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(credential.public_key().data()),
             credential.public_key().size());
  return key;
}

std::string Handshaker::SessionCacheKey() const {
  return alts::SessionCacheKey(params_.session_key, *config_->credential);
}

absl::Status Handshaker::Start(std::string* out) {
  if (state_ == State::kFailed) return status_;
  if (side_ != Side::kClient || state_ != State::kStart) {
    return absl::FailedPreconditionError("Start is for a client that has not started");
  }
  if (absl::Status s = CheckDeadline(); !s.ok()) return s;
  if (config_->session_cache != nullptr && !params_.session_key.empty()) {
    std::optional<ClientSession> session =
        config_->session_cache->Take(SessionCacheKey(), Now());
    // A session resumes only while its server chain's root is still
    // trusted: a removed root ends resumption as well as full handshakes.
    if (session.has_value() && config_->verifier->TrustsRoot(session->server_root_key_id) &&
        (params_.target_identities.empty() ||
         IdentityAllowed(params_.target_identities, session->server_identity))) {
      offered_session_ = std::move(session);
    }
  }
  if (absl::Status s = SendClientInit(out); !s.ok()) return Fail(s);
  return absl::OkStatus();
}

absl::StatusOr<size_t> Handshaker::Step(absl::Span<const uint8_t> in, std::string* out) {
  if (state_ == State::kFailed) return status_;
  if (state_ == State::kDone) {
    return absl::FailedPreconditionError("handshake already complete");
  }
  if (state_ == State::kStart) {
    return Fail(absl::FailedPreconditionError("client must Start before Step"));
  }
  if (absl::Status s = CheckDeadline(); !s.ok()) return s;
  size_t consumed = 0;
  while (consumed < in.size()) {
    absl::StatusOr<size_t> n = reader_.Consume(in.subspan(consumed));
    if (!n.ok()) return Fail(n.status());
    consumed += *n;
    if (!reader_.ready()) break;
    absl::Status s = HandleMessage(out);
    reader_.Reset();
    if (!s.ok()) return Fail(s);
    if (state_ == State::kDone) break;
  }
  return consumed;
}

absl::Status Handshaker::HandleMessage(std::string* out) {
  const MessageType type = reader_.type();
  switch (state_) {
    case State::kWaitServerInit:
      if (type == MessageType::kServerInit) return HandleServerInit(out);
      if (type == MessageType::kServerRetry) {
        if (!offered_session_.has_value() || retried_ || !reader_.body().empty()) {
          return absl::InvalidArgumentError("unexpected ServerRetry");
        }
        transcript_.Update(reader_.message());
        offered_session_.reset();
        retried_ = true;
        return SendClientInit(out);
      }
      break;
    case State::kWaitServerFinished:
      if (type == MessageType::kServerFinished) return HandleServerFinished(out);
      break;
    case State::kWaitClientInit:
    case State::kWaitRetriedClientInit:
      if (type == MessageType::kClientInit) return HandleClientInit(out);
      break;
    case State::kWaitClientFinished:
      if (type == MessageType::kClientFinished) return HandleClientFinished();
      break;
    default:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat("unexpected ", MessageTypeName(type), " in state ",
                                                 StateName(static_cast<int>(state_))));
}

absl::Status Handshaker::SendClientInit(std::string* out) {
  handshake::ClientInit init;
  std::array<uint8_t, kRandomSize> random;
  if (absl::Status s = FillRandom(absl::MakeSpan(random)); !s.ok()) return s;
  if (absl::Status s = NewEphemeral(); !s.ok()) return s;
  init.set_random(random.data(), random.size());
  init.set_ephemeral_key(ephemeral_public_.data(), ephemeral_public_.size());
  if (offered_session_.has_value()) {
    init.set_ticket(offered_session_->ticket);
  } else {
    for (const std::string& certificate : config_->credential->chain()) {
      init.add_certificate_chain(certificate);
    }
  }
  for (RecordProtocol protocol : params_.record_protocols) {
    const absl::string_view name = Name(protocol);
    init.add_record_protocols(name.data(), name.size());
  }
  for (const std::string& name : params_.application_protocols) {
    init.add_application_protocols(name);
  }
  RpcVersionsToProto(params_.rpc_versions, init.mutable_rpc_versions());
  init.set_max_frame_size(params_.max_frame_size);
  const size_t start = out->size();
  if (absl::Status s = AppendMessage(MessageType::kClientInit, init, out); !s.ok()) return s;
  transcript_.Update(Tail(*out, start));
  th1_ = transcript_.Hash();
  state_ = State::kWaitServerInit;
  return absl::OkStatus();
}

absl::Status Handshaker::HandleServerInit(std::string* out) {
  handshake::ServerInit init;
  if (absl::Status s = ParseServerInit(reader_.body(), &init); !s.ok()) return s;
  transcript_.Update(reader_.message());
  th2_ = transcript_.Hash();

  // The server may only choose what we offered.
  absl::StatusOr<RecordProtocol> record = ParseRecordProtocol(init.record_protocol());
  if (!record.ok() || std::find(params_.record_protocols.begin(), params_.record_protocols.end(),
                                *record) == params_.record_protocols.end()) {
    return absl::InvalidArgumentError("server chose a record protocol we did not offer");
  }
  if (std::find(params_.application_protocols.begin(), params_.application_protocols.end(),
                init.application_protocol()) == params_.application_protocols.end()) {
    return absl::InvalidArgumentError("server chose an application protocol we did not offer");
  }
  std::optional<RpcVersionRange> peer_versions = RpcVersionsFromProto(init.rpc_versions());
  if (!peer_versions.has_value()) {
    return absl::FailedPreconditionError("server stated no RPC versions");
  }
  if (absl::StatusOr<RpcVersion> v = NegotiateRpcVersions(params_.rpc_versions, *peer_versions);
      !v.ok()) {
    return v.status();
  }

  SecretArray<32> dh;
  if (init.resumed()) {
    if (!offered_session_.has_value()) {
      return absl::InvalidArgumentError("resumed ServerInit but no ticket was offered");
    }
    result_.peer_identity = offered_session_->server_identity;
    peer_not_after_ = offered_session_->server_not_after;
    peer_root_key_id_ = offered_session_->server_root_key_id;
    ck_ = InitialChainingKey(/*resumed=*/true);
    if (absl::Status s = X25519Agree(ephemeral_private_, AsBytes(init.ephemeral_key()), dh);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
    if (absl::Status s = MixKey(ck_, offered_session_->resumption_secret.span(), th1_); !s.ok()) {
      return s;
    }
  } else {
    if (offered_session_.has_value()) {
      return absl::InvalidArgumentError("full ServerInit in answer to a ticket");
    }
    absl::StatusOr<std::shared_ptr<const VerifiedChain>> chain =
        config_->verifier->Verify(ChainView(init.certificate_chain()), Now());
    if (!chain.ok()) return chain.status();
    const VerifiedChain& server = **chain;
    if (!params_.target_identities.empty() &&
        !IdentityAllowed(params_.target_identities, server.identity)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "server identity ", server.identity.service_account, " is not a target identity"));
    }
    result_.peer_identity = server.identity;
    peer_not_after_ = server.not_after;
    peer_root_key_id_ = server.root_key_id;
    ck_ = InitialChainingKey(/*resumed=*/false);
    // ee, es, se in that order.
    if (absl::Status s = X25519Agree(ephemeral_private_, AsBytes(init.ephemeral_key()), dh);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
    if (absl::Status s = X25519Agree(ephemeral_private_, server.static_key, dh); !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
    if (absl::Status s = X25519Agree(config_->credential->private_key(),
                                     AsBytes(init.ephemeral_key()), dh);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
  }
  ephemeral_private_.Wipe();
  if (absl::Status s = Derive(ck_, kLabelResumption, th1_, new_resumption_secret_.span());
      !s.ok()) {
    return s;
  }

  result_.application_protocol = init.application_protocol();
  result_.record_protocol = *record;
  result_.peer_rpc_versions = *peer_versions;
  result_.peer_max_frame_size = PeerMaxFrameSizeForResult(init.max_frame_size());
  result_.local_max_frame_size = params_.max_frame_size;
  result_.resumed = init.resumed();
  received_ticket_ = std::move(*init.mutable_new_ticket());
  received_ticket_lifetime_s_ = init.ticket_lifetime_seconds();
  state_ = State::kWaitServerFinished;
  return absl::OkStatus();
}

absl::Status Handshaker::VerifyPeerFinished(absl::string_view name, absl::string_view label,
                                            const TranscriptHash& th) {
  if (reader_.body().size() != kMacSize) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be 32 bytes"));
  }
  SecretArray<32> finished_key;
  if (absl::Status s = Derive(ck_, label, th, finished_key.span()); !s.ok()) return s;
  std::array<uint8_t, 32> expected;
  if (absl::Status s = FinishedMac(finished_key, th, expected); !s.ok()) return s;
  if (CRYPTO_memcmp(expected.data(), reader_.body().data(), kMacSize) != 0) {
    return absl::DataLossError(absl::StrCat(name, " MAC mismatch"));
  }
  transcript_.Update(reader_.message());
  return absl::OkStatus();
}

absl::Status Handshaker::HandleServerFinished(std::string* out) {
  if (absl::Status s = VerifyPeerFinished("ServerFinished", kLabelServerFinished, th2_);
      !s.ok()) {
    return s;
  }
  th3_ = transcript_.Hash();
  SecretArray<32> finished_key;
  if (absl::Status s = Derive(ck_, kLabelClientFinished, th3_, finished_key.span()); !s.ok()) {
    return s;
  }
  std::array<uint8_t, 32> mac;
  if (absl::Status s = FinishedMac(finished_key, th3_, mac); !s.ok()) return s;
  AppendAndHash(MessageType::kClientFinished, mac, out);
  const TranscriptHash th4 = transcript_.Hash();
  if (absl::Status s = Derive(ck_, kLabelKeyData, th4, result_.key_data.span()); !s.ok()) return s;
  result_.local_identity = config_->credential->identity();

  if (!received_ticket_.empty() && config_->session_cache != nullptr &&
      !params_.session_key.empty()) {
    ClientSession session;
    session.ticket = std::move(received_ticket_);
    session.resumption_secret = new_resumption_secret_.Copy();
    session.server_identity = result_.peer_identity;
    session.server_not_after = peer_not_after_;
    session.server_root_key_id = peer_root_key_id_;
    session.expiry = std::min(Now() + absl::Seconds(received_ticket_lifetime_s_), peer_not_after_);
    config_->session_cache->Put(SessionCacheKey(), std::move(session));
  }
  WipeSecrets();
  state_ = State::kDone;
  return absl::OkStatus();
}

absl::Status Handshaker::HandleClientInit(std::string* out) {
  handshake::ClientInit init;
  if (absl::Status s = ParseClientInit(reader_.body(), &init); !s.ok()) return s;
  transcript_.Update(reader_.message());
  th1_ = transcript_.Hash();

  // Negotiate in the server's preference order.
  const RecordProtocol* record = nullptr;
  for (const RecordProtocol& p : params_.record_protocols) {
    if (Offered(init.record_protocols(), Name(p))) {
      record = &p;
      break;
    }
  }
  if (record == nullptr) return absl::FailedPreconditionError("no common record protocol");
  const std::string* application = nullptr;
  for (const std::string& p : params_.application_protocols) {
    if (Offered(init.application_protocols(), p)) {
      application = &p;
      break;
    }
  }
  if (application == nullptr) {
    return absl::FailedPreconditionError("no common application protocol");
  }
  std::optional<RpcVersionRange> peer_versions = RpcVersionsFromProto(init.rpc_versions());
  if (!peer_versions.has_value()) {
    return absl::FailedPreconditionError("client stated no RPC versions");
  }
  if (absl::StatusOr<RpcVersion> v = NegotiateRpcVersions(params_.rpc_versions, *peer_versions);
      !v.ok()) {
    return v.status();
  }

  bool resumed = false;
  SecretArray<32> dh;
  if (!init.ticket().empty()) {
    if (state_ == State::kWaitRetriedClientInit) {
      return absl::InvalidArgumentError("ticket offered again after ServerRetry");
    }
    absl::StatusOr<TicketContents> ticket =
        config_->ticket_keys != nullptr
            ? config_->ticket_keys->Open(AsBytes(init.ticket()))
            : absl::StatusOr<TicketContents>(absl::NotFoundError("no ticket keys"));
    // A ticket resumes only with the server identity that issued it (servers
    // sharing ticket keys do not resume each other's sessions) and while the
    // root the client chain was verified under is still trusted.
    if (ticket.ok() && ticket->server_identity != config_->credential->identity()) {
      ticket = absl::PermissionDeniedError("ticket was issued by another server identity");
    }
    if (ticket.ok() && !config_->verifier->TrustsRoot(ticket->client_root_key_id)) {
      ticket = absl::UnauthenticatedError("ticket's client root is no longer trusted");
    }
    if (!ticket.ok()) {
      // Unknown, tampered, expired or not ours: fall back to a full handshake.
      AppendAndHash(MessageType::kServerRetry, {}, out);
      state_ = State::kWaitRetriedClientInit;
      return absl::OkStatus();
    }
    if (!IdentityAllowed(config_->accepted_client_identities, ticket->client_identity)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "client identity ", ticket->client_identity.service_account, " is not accepted"));
    }
    resumed = true;
    result_.peer_identity = std::move(ticket->client_identity);
    peer_not_after_ = ticket->client_not_after;
    peer_root_key_id_ = ticket->client_root_key_id;
    if (absl::Status s = NewEphemeral(); !s.ok()) return s;
    ck_ = InitialChainingKey(/*resumed=*/true);
    if (absl::Status s = X25519Agree(ephemeral_private_, AsBytes(init.ephemeral_key()), dh);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
    if (absl::Status s = MixKey(ck_, ticket->resumption_secret.span(), th1_); !s.ok()) return s;
  } else {
    absl::StatusOr<std::shared_ptr<const VerifiedChain>> chain =
        config_->verifier->Verify(ChainView(init.certificate_chain()), Now());
    if (!chain.ok()) return chain.status();
    const VerifiedChain& client = **chain;
    if (!IdentityAllowed(config_->accepted_client_identities, client.identity)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "client identity ", client.identity.service_account, " is not accepted"));
    }
    result_.peer_identity = client.identity;
    peer_not_after_ = client.not_after;
    peer_root_key_id_ = client.root_key_id;
    if (absl::Status s = NewEphemeral(); !s.ok()) return s;
    ck_ = InitialChainingKey(/*resumed=*/false);
    // ee, es, se in that order (es = DH(server static, client eph) here).
    if (absl::Status s = X25519Agree(ephemeral_private_, AsBytes(init.ephemeral_key()), dh);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
    if (absl::Status s = X25519Agree(config_->credential->private_key(),
                                     AsBytes(init.ephemeral_key()), dh);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
    if (absl::Status s = X25519Agree(ephemeral_private_, client.static_key, dh); !s.ok()) {
      return s;
    }
    if (absl::Status s = MixKey(ck_, dh.span(), th1_); !s.ok()) return s;
  }
  ephemeral_private_.Wipe();
  if (absl::Status s = Derive(ck_, kLabelResumption, th1_, new_resumption_secret_.span());
      !s.ok()) {
    return s;
  }

  handshake::ServerInit reply;
  std::array<uint8_t, kRandomSize> random;
  if (absl::Status s = FillRandom(absl::MakeSpan(random)); !s.ok()) return s;
  reply.set_random(random.data(), random.size());
  reply.set_ephemeral_key(ephemeral_public_.data(), ephemeral_public_.size());
  if (!resumed) {
    for (const std::string& certificate : config_->credential->chain()) {
      reply.add_certificate_chain(certificate);
    }
  }
  const absl::string_view record_name = Name(*record);
  reply.set_record_protocol(record_name.data(), record_name.size());
  reply.set_application_protocol(*application);
  RpcVersionsToProto(params_.rpc_versions, reply.mutable_rpc_versions());
  reply.set_max_frame_size(params_.max_frame_size);
  reply.set_resumed(resumed);
  if (config_->ticket_keys != nullptr) {
    TicketContents contents;
    contents.resumption_secret = new_resumption_secret_.Copy();
    contents.client_identity = result_.peer_identity;
    contents.client_not_after = peer_not_after_;
    contents.server_identity = config_->credential->identity();
    contents.client_root_key_id = peer_root_key_id_;
    contents.expiry = std::min(Now() + config_->ticket_keys->ticket_lifetime(), peer_not_after_);
    absl::StatusOr<std::string> ticket = config_->ticket_keys->Seal(contents);
    if (!ticket.ok()) return ticket.status();
    reply.set_new_ticket(std::move(*ticket));
    reply.set_ticket_lifetime_seconds(static_cast<uint32_t>(
        absl::ToInt64Seconds(config_->ticket_keys->ticket_lifetime())));
  }
  const size_t start = out->size();
  if (absl::Status s = AppendMessage(MessageType::kServerInit, reply, out); !s.ok()) return s;
  transcript_.Update(Tail(*out, start));
  th2_ = transcript_.Hash();

  SecretArray<32> finished_key;
  if (absl::Status s = Derive(ck_, kLabelServerFinished, th2_, finished_key.span()); !s.ok()) {
    return s;
  }
  std::array<uint8_t, 32> mac;
  if (absl::Status s = FinishedMac(finished_key, th2_, mac); !s.ok()) return s;
  AppendAndHash(MessageType::kServerFinished, mac, out);
  th3_ = transcript_.Hash();

  result_.application_protocol = *application;
  result_.record_protocol = *record;
  result_.peer_rpc_versions = *peer_versions;
  result_.peer_max_frame_size = PeerMaxFrameSizeForResult(init.max_frame_size());
  result_.local_max_frame_size = params_.max_frame_size;
  result_.resumed = resumed;
  state_ = State::kWaitClientFinished;
  return absl::OkStatus();
}

absl::Status Handshaker::HandleClientFinished() {
  if (absl::Status s = VerifyPeerFinished("ClientFinished", kLabelClientFinished, th3_);
      !s.ok()) {
    return s;
  }
  const TranscriptHash th4 = transcript_.Hash();
  if (absl::Status s = Derive(ck_, kLabelKeyData, th4, result_.key_data.span()); !s.ok()) return s;
  result_.local_identity = config_->credential->identity();
  WipeSecrets();
  state_ = State::kDone;
  return absl::OkStatus();
}

}  // namespace alts
