// alts-test-labels: threads
// The handshaker service on the RPC server, driven through this project's
// RPC channel over h2c as gRPC clients drive it: both roles, chunked next
// requests, how errors reach the client (first response vs stream status),
// the stream ending without the client's half-close, the request size limit,
// the concurrency limit (queued, not dropped; a full queue refused), the
// handshake deadline, clients that go away mid-handshake, and many
// handshakes at once.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "gtest/gtest.h"
#include "rpc/blocking.h"
#include "rpc/channel.h"
#include "rpc/server.h"
#include "tests/handshaker_service/hss_test_util.h"
#include "tools/alts_handshaker_service/handshaker_service.h"

namespace alts::handshaker_service {
namespace {

using testing::ClientStart;
using testing::Exchange;
using testing::Next;
using testing::PairRun;
using testing::RunPair;
using testing::Sender;
using testing::ServerStart;
using testing::ServicePki;

// WaitFor polls `done` until it holds or 20 s pass (the events it waits for
// happen on the service's reactor threads).
template <typename F>
bool WaitFor(F done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// ServiceEnv is a service on a plaintext RPC server over loopback and a
// channel to it.
class ServiceEnv {
 public:
  ServiceEnv(std::shared_ptr<const ServiceIdentities> identities,
             HandshakerServiceOptions options = {}) {
    group_ = std::move(*ReactorGroup::Create());
    read_pool_ = std::move(*BufferPool::Create());
    write_pool_ = std::move(*BufferPool::Create());
    storage_ = std::move(*StoragePool::Create());
    resources_.read_pool = read_pool_.get();
    resources_.write_pool = write_pool_.get();
    resources_.storage = storage_.get();
    service_ = std::make_unique<HandshakerService>(std::move(identities), std::move(options));
    rpc::ServerOptions so;
    so.group = group_.get();
    so.resources = &resources_;
    HandshakerService::ConfigureServer(so);
    server_ = std::move(*rpc::Server::Create(std::move(so)));
    EXPECT_TRUE(service_->Register(*server_).ok());
    absl::StatusOr<std::string> address = server_->AddListener("127.0.0.1:0");
    EXPECT_TRUE(address.ok()) << address.status();
    address_ = *address;
    channel_ = NewChannel();
  }
  ~ServiceEnv() {
    channel_.reset();
    server_->Shutdown();
    group_->Shutdown();
  }

  std::unique_ptr<rpc::Channel> NewChannel() {
    rpc::ChannelOptions co;
    co.group = group_.get();
    co.resources = &resources_;
    return std::move(*rpc::Channel::Create(address_, std::move(co)));
  }

  std::unique_ptr<rpc::BlockingCall> Open(rpc::Channel* channel = nullptr) {
    rpc::CallOptions o;
    o.deadline = absl::Now() + absl::Seconds(30);
    return rpc::BlockingCall::Start(channel != nullptr ? *channel : *channel_, kDoHandshakeMethod,
                                    std::move(o));
  }

  HandshakerService& service() { return *service_; }
  rpc::Channel& channel() { return *channel_; }

 private:
  std::unique_ptr<ReactorGroup> group_;
  std::unique_ptr<BufferPool> read_pool_, write_pool_;
  std::unique_ptr<StoragePool> storage_;
  ConnectionResources resources_;
  std::unique_ptr<HandshakerService> service_;
  std::unique_ptr<rpc::Server> server_;
  std::string address_;
  std::unique_ptr<rpc::Channel> channel_;
};

// Send writes one request and reads what comes back. A response that ends
// the handshake (result or failure) must be followed by the end of the
// stream without the client half-closing (rule 5).
Exchange Send(rpc::BlockingCall& call, const grpc::gcp::HandshakerReq& req) {
  Exchange ex;
  std::string bytes;
  req.SerializeToString(&bytes);
  // The service may answer and end the stream before the client's write
  // completion is reported, so a failed write can still have a response.
  (void)call.Write(Bytes(bytes));
  std::string msg;
  if (!call.Read(&msg)) {
    ex.ended = true;
    ex.status = call.Finish();
    return ex;
  }
  ex.has_response = true;
  EXPECT_TRUE(ex.resp.ParseFromString(msg));
  if (ex.resp.has_result() || ex.resp.status().code() != 0) {
    std::string extra;
    EXPECT_FALSE(call.Read(&extra)) << "a response after the last one";
    ex.ended = true;
    ex.status = call.Finish();
  }
  return ex;
}

Sender CallSender(rpc::BlockingCall& call) {
  return [&call](const grpc::gcp::HandshakerReq& req) { return Send(call, req); };
}

class HandshakerServiceTest : public ::testing::Test {
 protected:
  ServicePki pki_;
};

TEST_F(HandshakerServiceTest, BothRolesThroughTheRpcChannel) {
  ServiceEnv env(pki_.Identities({"server@test", "client@test"}));
  for (size_t chunk : {SIZE_MAX, size_t{7}}) {
    auto client = env.Open();
    auto server = env.Open();
    PairRun run = RunPair(CallSender(*client), CallSender(*server),
                          ClientStart({"server@test"}, "client@test"), chunk);
    ASSERT_TRUE(run.client_done) << run.client_status;
    ASSERT_TRUE(run.server_done) << run.server_status << " after " << run.requests << " requests";
    EXPECT_EQ(run.client_result.key_data(), run.server_result.key_data());
    EXPECT_EQ(run.server_result.peer_identity().service_account(), "client@test");
    EXPECT_EQ(run.client_result.peer_identity().service_account(), "server@test");
  }
  ASSERT_TRUE(WaitFor([&] { return env.service().stats().completed == 4; }));
  const ServiceStats stats = env.service().stats();
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.open, 0u);
  EXPECT_EQ(stats.running, 0u);
}

TEST_F(HandshakerServiceTest, FirstRequestErrorIsAResponseAndTheStatus) {
  ServiceEnv env(pki_.Identities({"server@test"}));
  auto call = env.Open();
  Exchange ex = Send(*call, Next("hello"));
  ASSERT_TRUE(ex.has_response);
  EXPECT_EQ(ex.resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ex.status.code(), absl::StatusCode::kFailedPrecondition) << ex.status;

  auto unknown = env.Open();
  Exchange nf = Send(*unknown, ClientStart({}, "nobody@test"));
  ASSERT_TRUE(nf.has_response);
  EXPECT_EQ(nf.resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kNotFound));
  EXPECT_EQ(nf.status.code(), absl::StatusCode::kNotFound);
}

TEST_F(HandshakerServiceTest, LaterErrorIsTheStreamStatusWithoutAResponse) {
  ServiceEnv env(pki_.Identities({"server@test", "client@test"}));
  auto client = env.Open();
  auto server = env.Open();
  PairRun run = RunPair(CallSender(*client), CallSender(*server),
                        ClientStart({"not-this-one@test"}, "client@test"));
  EXPECT_FALSE(run.client_done);
  EXPECT_EQ(run.client_status.code(), absl::StatusCode::kPermissionDenied) << run.client_status;
  // The server side waits for a ClientFinished that never comes; the client
  // that drives it goes away.
  server->Cancel();
  ASSERT_TRUE(WaitFor([&] { return env.service().stats().open == 0; }));
  EXPECT_EQ(env.service().stats().failed, 1u);
  EXPECT_EQ(env.service().stats().abandoned, 1u);
}

TEST_F(HandshakerServiceTest, OversizedRequestIsRefused) {
  ServiceEnv env(pki_.Identities({"server@test"}));
  auto call = env.Open();
  Exchange ex = Send(*call, ServerStart(std::string(kMaxHandshakerRequestSize + 1, 'x')));
  EXPECT_FALSE(ex.has_response);
  EXPECT_EQ(ex.status.code(), absl::StatusCode::kResourceExhausted) << ex.status;
  ASSERT_TRUE(WaitFor([&] { return env.service().stats().open == 0; }));
}

TEST_F(HandshakerServiceTest, HalfCloseBeforeTheResultIsCancelled) {
  ServiceEnv env(pki_.Identities({"server@test"}));
  auto call = env.Open();
  Exchange ex = Send(*call, ClientStart());
  ASSERT_TRUE(ex.has_response);
  call->WritesDone();
  std::string extra;
  EXPECT_FALSE(call->Read(&extra));
  EXPECT_EQ(call->Finish().code(), absl::StatusCode::kCancelled);
}

TEST_F(HandshakerServiceTest, ConcurrencyLimitQueuesAndAFullQueueRefuses) {
  HandshakerServiceOptions options;
  options.max_concurrent = 1;
  options.max_queued = 1;
  ServiceEnv env(pki_.Identities({"server@test"}), options);
  auto first = env.Open();
  Exchange a = Send(*first, ClientStart());
  ASSERT_TRUE(a.has_response);
  ASSERT_EQ(a.resp.status().code(), 0u);
  EXPECT_EQ(env.service().stats().running, 1u);

  // The second waits for the slot: written, not answered.
  auto second = env.Open();
  std::string start;
  ClientStart().SerializeToString(&start);
  ASSERT_TRUE(second->Write(Bytes(start)));
  ASSERT_TRUE(WaitFor([&] { return env.service().stats().queued == 1; }));

  // The third finds the queue full: refused on its first response.
  auto third = env.Open();
  Exchange c = Send(*third, ClientStart());
  ASSERT_TRUE(c.has_response);
  EXPECT_EQ(c.resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(c.status.code(), absl::StatusCode::kResourceExhausted);

  // The first goes away; the second gets the slot and its answer.
  first->Cancel();
  std::string msg;
  ASSERT_TRUE(second->Read(&msg));
  grpc::gcp::HandshakerResp resp;
  ASSERT_TRUE(resp.ParseFromString(msg));
  EXPECT_EQ(resp.status().code(), 0u) << resp.status().details();
  EXPECT_FALSE(resp.out_frames().empty());
  EXPECT_EQ(env.service().stats().queued, 0u);
  second->Cancel();
  ASSERT_TRUE(WaitFor([&] {
    const ServiceStats s = env.service().stats();
    return s.open == 0 && s.running == 0;
  }));
}

TEST_F(HandshakerServiceTest, ClientAndServerSidesHaveTheirOwnSlots) {
  // One slot per role: a client handshake holding its slot must not keep
  // out the server side it waits for (both ends through one service).
  HandshakerServiceOptions options;
  options.max_concurrent = 1;
  ServiceEnv env(pki_.Identities({"server@test", "client@test"}), options);
  auto client = env.Open();
  auto server = env.Open();
  PairRun run = RunPair(CallSender(*client), CallSender(*server), ClientStart());
  EXPECT_TRUE(run.client_done && run.server_done) << run.client_status << run.server_status;
}

TEST_F(HandshakerServiceTest, DeadlineEndsStalledAndQueuedHandshakes) {
  HandshakerServiceOptions options;
  options.max_concurrent = 1;
  ServiceEnv env(pki_.Identities({"server@test"}, [](ServiceOptions& o) {
                   o.handshake_timeout = absl::Milliseconds(300);
                 }),
                 options);
  auto stalled = env.Open();
  Exchange a = Send(*stalled, ClientStart());
  ASSERT_EQ(a.resp.status().code(), 0u);
  auto queued = env.Open();
  std::string start;
  ClientStart().SerializeToString(&start);
  ASSERT_TRUE(queued->Write(Bytes(start)));
  // The stalled one ends with DEADLINE_EXCEEDED and no response ...
  std::string msg;
  EXPECT_FALSE(stalled->Read(&msg));
  EXPECT_EQ(stalled->Finish().code(), absl::StatusCode::kDeadlineExceeded);
  // ... the queued one (same deadline, or its own after it got the slot)
  // ends too; if it had not started, its first response says why.
  // If it got the slot in time its first response is a success; it then
  // waits for the next request until its deadline. Read on rather than
  // Finish at once: Finish half-closes, and a half-close that beats the
  // deadline ends the handshake as CANCELLED.
  if (queued->Read(&msg)) {
    grpc::gcp::HandshakerResp resp;
    ASSERT_TRUE(resp.ParseFromString(msg));
    if (resp.status().code() != 0) {
      EXPECT_EQ(resp.status().code(), static_cast<uint32_t>(absl::StatusCode::kDeadlineExceeded));
    }
    EXPECT_FALSE(queued->Read(&msg)) << "a response after the first";
  }
  EXPECT_EQ(queued->Finish().code(), absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(WaitFor([&] { return env.service().stats().open == 0; }));
  EXPECT_EQ(env.service().stats().running, 0u);
}

TEST_F(HandshakerServiceTest, ClientsThatGoAwayMidHandshakeFreeEverything) {
  ServiceEnv env(pki_.Identities({"server@test", "client@test"}));
  // Cancelled streams.
  for (int i = 0; i < 5; ++i) {
    auto client = env.Open();
    Exchange c = Send(*client, ClientStart({}, "client@test"));
    auto server = env.Open();
    Exchange s = Send(*server, ServerStart(c.resp.out_frames()));
    ASSERT_EQ(s.resp.status().code(), 0u);
    client->Cancel();
    server->Cancel();
  }
  ASSERT_TRUE(WaitFor([&] {
    const ServiceStats s = env.service().stats();
    return s.open == 0 && s.running == 0;
  }));
  EXPECT_EQ(env.service().stats().abandoned, 10u);
  // A whole connection lost mid-handshake.
  {
    std::unique_ptr<rpc::Channel> channel = env.NewChannel();
    auto client = env.Open(channel.get());
    Exchange c = Send(*client, ClientStart());
    ASSERT_TRUE(c.has_response);
    EXPECT_EQ(env.service().stats().running, 1u);
    channel->Shutdown();
    (void)client->Finish();
  }
  ASSERT_TRUE(WaitFor([&] {
    const ServiceStats s = env.service().stats();
    return s.open == 0 && s.running == 0;
  }));
  // The service still works.
  auto client = env.Open();
  auto server = env.Open();
  PairRun run = RunPair(CallSender(*client), CallSender(*server), ClientStart());
  EXPECT_TRUE(run.client_done && run.server_done);
}

TEST_F(HandshakerServiceTest, ManyConcurrentHandshakes) {
  HandshakerServiceOptions options;
  options.max_concurrent = 4;  // fewer slots than handshakes: some wait
  ServiceEnv env(pki_.Identities({"server@test", "client@test"}), options);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 15;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto client = env.Open();
        auto server = env.Open();
        PairRun run = RunPair(CallSender(*client), CallSender(*server),
                              ClientStart({"server@test"}, "client@test"));
        if (run.client_done && run.server_done &&
            run.client_result.key_data() == run.server_result.key_data()) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  ASSERT_TRUE(WaitFor([&] { return env.service().stats().open == 0; }));
  EXPECT_EQ(env.service().stats().completed, 2u * kThreads * kPerThread);
  EXPECT_EQ(env.service().stats().running, 0u);
}

}  // namespace
}  // namespace alts::handshaker_service
