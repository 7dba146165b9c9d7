#include "tests/rpc/rpc_test_util.h"

#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace alts::rpc::testing {
namespace {

// Unary echo with status and metadata control.
class UnaryEcho final : public ServerCallHandler {
 public:
  UnaryEcho(ServerCall* call, TestEnv* env) : call_(call), env_(env) {}
  void OnMessage(absl::Span<const uint8_t> m) override {
    request_.assign(reinterpret_cast<const char*>(m.data()), m.size());
  }
  void OnHalfClose() override {
    const Metadata& md = call_->client_metadata();
    if (call_->peer() != nullptr) env_->last_peer = call_->peer()->service_account();
    Metadata trailers;
    for (absl::string_view v : md.GetAll("x-echo")) {
      (void)call_->AddInitialMetadata("x-echo", std::string(v));
      trailers.Add("x-echo-trailer", std::string(v));
    }
    if (std::optional<absl::string_view> bin = md.Get("x-bin-bin")) {
      trailers.Add("x-bin-bin", std::string(*bin));
    }
    if (std::optional<absl::string_view> st = md.Get("x-status")) {
      std::pair<std::string, std::string> parts = absl::StrSplit(*st, absl::MaxSplits(' ', 1));
      int code = 0;
      (void)absl::SimpleAtoi(parts.first, &code);
      // "special" stands for a message metadata could not carry.
      const std::string message = parts.second == "special" ? kSpecialMessage : parts.second;
      call_->Finish(absl::Status(static_cast<absl::StatusCode>(code), message), trailers);
      return;
    }
    trailers_ = std::move(trailers);
    if (md.Get("x-compress").has_value()) call_->SetResponseCompression("gzip");
    (void)call_->Write(Bytes(request_), WriteOptions{md.Get("x-compress").has_value()});
  }
  void OnWriteDone(bool ok) override { call_->Finish(absl::OkStatus(), std::move(trailers_)); }
  void OnCancel() override { env_->cancels++; }
  void OnDone() override { env_->dones++; }

 private:
  ServerCall* call_;
  TestEnv* env_;
  std::string request_;
  Metadata trailers_;
};

class ServerStream final : public ServerCallHandler {
 public:
  ServerStream(ServerCall* call, TestEnv* env) : call_(call), env_(env) {}
  void OnMessage(absl::Span<const uint8_t> m) override {
    std::string req(reinterpret_cast<const char*>(m.data()), m.size());
    std::pair<std::string, std::string> p = absl::StrSplit(req, ' ');
    (void)absl::SimpleAtoi(p.first, &left_);
    (void)absl::SimpleAtoi(p.second, &size_);
  }
  void OnHalfClose() override { Next(); }
  void OnWriteDone(bool ok) override {
    if (ok) Next();
  }
  void OnCancel() override { env_->cancels++; }
  void OnDone() override { env_->dones++; }

 private:
  void Next() {
    if (left_ == 0) {
      call_->Finish(absl::OkStatus());
      return;
    }
    buf_ = Pattern(size_, static_cast<uint32_t>(left_));
    --left_;
    (void)call_->Write(Bytes(buf_));
  }
  ServerCall* call_;
  TestEnv* env_;
  int left_ = 0;
  size_t size_ = 0;
  std::string buf_;
};

class ClientStream final : public ServerCallHandler {
 public:
  ClientStream(ServerCall* call, TestEnv* env) : call_(call), env_(env) {}
  void OnMessage(absl::Span<const uint8_t> m) override { total_ += m.size(); }
  void OnHalfClose() override {
    reply_ = absl::StrCat(total_);
    (void)call_->Write(Bytes(reply_));
  }
  void OnWriteDone(bool ok) override { call_->Finish(absl::OkStatus()); }
  void OnCancel() override { env_->cancels++; }
  void OnDone() override { env_->dones++; }

 private:
  ServerCall* call_;
  TestEnv* env_;
  size_t total_ = 0;
  std::string reply_;
};

class Bidi final : public ServerCallHandler {
 public:
  Bidi(ServerCall* call, TestEnv* env) : call_(call), env_(env) {}
  void OnMessage(absl::Span<const uint8_t> m) override {
    queue_.emplace_back(reinterpret_cast<const char*>(m.data()), m.size());
    if (queue_.size() == 1) (void)call_->Write(Bytes(queue_.front()));
  }
  void OnWriteDone(bool ok) override {
    queue_.erase(queue_.begin());
    if (!queue_.empty()) {
      (void)call_->Write(Bytes(queue_.front()));
    } else if (half_closed_) {
      call_->Finish(absl::OkStatus());
    }
  }
  void OnHalfClose() override {
    half_closed_ = true;
    if (queue_.empty()) call_->Finish(absl::OkStatus());
  }
  void OnCancel() override { env_->cancels++; }
  void OnDone() override { env_->dones++; }

 private:
  ServerCall* call_;
  TestEnv* env_;
  std::vector<std::string> queue_;
  bool half_closed_ = false;
};

class Sleep final : public ServerCallHandler {
 public:
  explicit Sleep(TestEnv* env) : env_(env) { env_->sleeping++; }
  void OnCancel() override { env_->cancels++; }
  void OnDone() override {
    env_->sleeping--;
    env_->dones++;
  }

 private:
  TestEnv* env_;
};

}  // namespace

std::string Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TestEnv::TestEnv(bool alts, size_t threads) : alts_(alts) {
  ReactorGroupOptions go;
  go.threads = threads;
  group_ = std::move(*ReactorGroup::Create(std::move(go)));
  pool_ = std::move(*BufferPool::Create());
  write_pool_ = std::move(*BufferPool::Create());
  storage_ = std::move(*StoragePool::Create());
  resources_.read_pool = pool_.get();
  resources_.write_pool = write_pool_.get();
  resources_.storage = storage_.get();
  if (alts_) {
    pki_ = std::make_unique<alts::testing::TestPki>(absl::Now());
    server_config_ = alts::testing::MakeConfig(pki_->Leaf("server@test"), pki_->Verifier(), nullptr);
    client_config_ = alts::testing::MakeConfig(pki_->Leaf("client@test"), pki_->Verifier(), nullptr);
  }
}

TestEnv::~TestEnv() {
  StopServer();
  group_->Shutdown();
}

void TestEnv::StopServer(absl::Duration grace) {
  if (server_ != nullptr) server_->Shutdown(grace);
}

std::string TestEnv::StartServer(std::function<void(ServerOptions&)> tune,
                                 std::function<void(Server&)> extra) {
  ServerOptions o;
  o.group = group_.get();
  o.resources = &resources_;
  if (alts_) o.alts = server_config_;
  o.log_errors = getenv("ALTS_RPC_TEST_LOG") != nullptr;
  if (tune) tune(o);
  server_ = std::move(*Server::Create(std::move(o)));
  TestEnv* env = this;
  EXPECT_TRUE(server_->RegisterMethod("/test.Echo/Unary", [env](ServerCall* c) {
    return std::make_unique<UnaryEcho>(c, env);
  }).ok());
  EXPECT_TRUE(server_->RegisterMethod("/test.Echo/ServerStream", [env](ServerCall* c) {
    return std::make_unique<ServerStream>(c, env);
  }).ok());
  EXPECT_TRUE(server_->RegisterMethod("/test.Echo/ClientStream", [env](ServerCall* c) {
    return std::make_unique<ClientStream>(c, env);
  }).ok());
  EXPECT_TRUE(server_->RegisterMethod("/test.Echo/Bidi", [env](ServerCall* c) {
    return std::make_unique<Bidi>(c, env);
  }).ok());
  EXPECT_TRUE(server_->RegisterMethod("/test.Echo/Sleep", [env](ServerCall*) {
    return std::make_unique<Sleep>(env);
  }).ok());
  if (extra) extra(*server_);
  absl::StatusOr<std::string> addr = server_->AddListener(address_.empty() ? "127.0.0.1:0" : address_);
  EXPECT_TRUE(addr.ok()) << addr.status();
  if (addr.ok()) address_ = *addr;
  return address_;
}

HandshakeParams TestEnv::client_params() const {
  HandshakeParams params;
  params.target_identities = {{"server@test", {}}};
  return params;
}

std::unique_ptr<Channel> TestEnv::NewChannel(std::function<void(ChannelOptions&)> tune) {
  return NewChannelTo(address_, std::move(tune));
}

std::unique_ptr<Channel> TestEnv::NewChannelTo(const std::string& address,
                                               std::function<void(ChannelOptions&)> tune) {
  ChannelOptions o;
  o.group = group_.get();
  o.resources = &resources_;
  if (alts_) {
    o.alts = client_config_;
    o.alts_params = client_params();
  }
  if (tune) tune(o);
  absl::StatusOr<std::unique_ptr<Channel>> ch = Channel::Create(address, std::move(o));
  EXPECT_TRUE(ch.ok()) << ch.status();
  return ch.ok() ? std::move(*ch) : nullptr;
}

}  // namespace alts::rpc::testing
