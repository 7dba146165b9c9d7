// rpc_bench: gRPC calls over our channel and server side by side with
// grpc-go, same machine, same run, separate processes on loopback.
//
//   rpc_bench [--json=PATH] [--rounds=5] [--seconds=2] [--idle_conns=1000]
//             [--scenarios=unary_pingpong,unary_concurrent64,bidi_pingpong,
//                          bulk_stream,idle_memory]
//             [--go_peer=PATH]
//
// Both sides serve gRPC's interop service (grpc.testing.TestService): ours
// is tools/interop_server, grpc-go's the Go peer built by tests/interop.
// Clients: ours is this program (the callback API on one reactor thread);
// grpc-go's is the Go peer's benchmark client. Scenarios:
//   unary_pingpong      UnaryCall, 1 KiB request and response, 1 in flight
//   unary_concurrent64  the same with 64 calls in flight on one connection
//   bidi_pingpong       FullDuplexCall, 1 KiB each way, one at a time
//   bulk_stream         StreamingInputCall, 64 KiB messages one way (MB/s)
//   idle_memory         N connections after one call each: the server's
//                       heap per connection (ours: interposed malloc; grpc-go:
//                       HeapInuse + StackInuse after GC)
// Each round runs ours then grpc-go; figures are medians over the rounds.
// CPU is client + server process CPU (both processes) per call/message.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/heap_accounting.h"
#include "benchmarks/common/json_writer.h"
#include "conn/buffer_pool.h"
#include "conn/storage_pool.h"
#include "rpc/channel.h"
#include "rpc/proto.h"
#include "rpc/server.h"
#include "tests/interop/proto/test.pb.h"
#include "tools/interop_server/test_service.h"

ABSL_FLAG(std::string, json, "", "write the results here");
ABSL_FLAG(int, rounds, 5, "alternating rounds per scenario (medians are reported)");
ABSL_FLAG(double, seconds, 2.0, "duration of each timed run");
ABSL_FLAG(int, idle_conns, 1000, "connections in the idle_memory scenario");
ABSL_FLAG(std::string, scenarios,
          "unary_pingpong,unary_concurrent64,bidi_pingpong,bulk_stream,idle_memory",
          "comma-separated scenarios");
ABSL_FLAG(std::string, interop_server, ALTS_INTEROP_SERVER_PATH, "our TestService server");
ABSL_FLAG(std::string, go_peer, ALTS_GO_PEER_PATH, "the grpc-go peer (empty: skip grpc-go)");
// Internal roles (the program runs itself as the idle-memory peers).
ABSL_FLAG(std::string, role, "", "internal: idle_clients");
ABSL_FLAG(std::string, target, "", "internal: server address for --role");

namespace alts::bench {
namespace {

namespace pb = ::grpc::testing;

constexpr size_t kSmall = 1024;
constexpr size_t kBulk = 64 * 1024;
constexpr char kUnary[] = "/grpc.testing.TestService/UnaryCall";
constexpr char kDuplex[] = "/grpc.testing.TestService/FullDuplexCall";
constexpr char kInput[] = "/grpc.testing.TestService/StreamingInputCall";

// ---------------------------------------------------------------------------
// Child processes.

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;  // the child's stdout
};

absl::StatusOr<Child> Spawn(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe(fds) != 0) return ErrnoError("pipe");
  const pid_t pid = fork();
  if (pid < 0) return ErrnoError("fork");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::perror("execv");
    _exit(127);
  }
  close(fds[1]);
  Child c;
  c.pid = pid;
  c.out = fdopen(fds[0], "r");
  return c;
}

// ReadLine returns the child's next stdout line (without the newline), or ""
// at EOF.
std::string ReadLine(Child& c) {
  char buf[8192];
  if (fgets(buf, sizeof(buf), c.out) == nullptr) return "";
  std::string s(buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// WaitForLine reads lines until one starts with `prefix`; returns the rest.
absl::StatusOr<std::string> WaitForLine(Child& c, absl::string_view prefix) {
  for (int i = 0; i < 1000; ++i) {
    std::string line = ReadLine(c);
    if (line.empty() && feof(c.out)) break;
    if (absl::StartsWith(line, prefix)) return line.substr(prefix.size());
  }
  return absl::InternalError(absl::StrCat("child ", c.pid, " exited before printing ", prefix));
}

// ProcessCpuSeconds reads utime + stime of `pid` from /proc.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream f(absl::StrCat("/proc/", pid, "/stat"));
  std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const size_t close_paren = content.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(content.substr(close_paren + 2), ' ');
  if (fields.size() < 15) return 0;
  double utime = 0, stime = 0;
  (void)absl::SimpleAtod(fields[11], &utime);
  (void)absl::SimpleAtod(fields[12], &stime);
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

void Stop(Child& c) {
  if (c.pid <= 0) return;
  kill(c.pid, SIGTERM);
  int status = 0;
  waitpid(c.pid, &status, 0);
  if (c.out != nullptr) fclose(c.out);
  c.pid = -1;
  c.out = nullptr;
}

// ---------------------------------------------------------------------------
// Results.

struct Run {
  double value = 0;  // calls/s, messages/s or MB/s
  double p50_us = 0, p99_us = 0;
  double cpu_us_per_op = 0;
  bool ok = false;
};

double Percentile(std::vector<uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return v[k];
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ---------------------------------------------------------------------------
// Our client: the callback API, driven on the channel's reactor thread.

class Waiter {
 public:
  void Done() {
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return done_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

// UnaryLoop keeps `inflight` UnaryCalls going until `until`.
class UnaryLoop {
 public:
  UnaryLoop(rpc::Channel* ch, int inflight, absl::Time until) : ch_(ch), until_(until) {
    pb::SimpleRequest req;
    req.set_response_size(kSmall);
    req.mutable_payload()->set_body(std::string(kSmall, 'q'));
    req.SerializeToString(&request_);
    latencies_.reserve(1 << 20);
    for (int i = 0; i < inflight; ++i) slots_.push_back(std::make_unique<Slot>(this));
  }
  void Start() {
    running_ = static_cast<int>(slots_.size());
    for (auto& s : slots_) s->Start();
  }
  void Wait() { waiter_.Wait(); }
  uint64_t calls() const { return calls_; }
  bool failed() const { return failed_; }
  std::vector<uint32_t>& latencies() { return latencies_; }

 private:
  struct Slot final : rpc::ClientCallHandler {
    explicit Slot(UnaryLoop* loop) : loop(loop) {}
    void Start() {
      started = absl::Now();
      rpc::ClientCall* call = loop->ch_->StartCall(kUnary, {}, this);
      call->Write(rpc::AsBytes(loop->request_), /*last=*/true);
    }
    void OnMessage(absl::Span<const uint8_t> m) override {
      if (m.size() < kSmall) loop->failed_ = true;
    }
    void OnDone(const absl::Status& s, const rpc::Metadata&) override {
      if (!s.ok()) {
        std::fprintf(stderr, "rpc_bench: UnaryCall: %s\n", s.ToString().c_str());
        loop->failed_ = true;
      }
      const absl::Time now = absl::Now();
      ++loop->calls_;
      if (loop->latencies_.size() < loop->latencies_.capacity()) {
        loop->latencies_.push_back(static_cast<uint32_t>(absl::ToInt64Microseconds(now - started)));
      }
      if (now < loop->until_ && !loop->failed_) {
        Start();
      } else if (--loop->running_ == 0) {
        loop->waiter_.Done();
      }
    }
    UnaryLoop* loop;
    absl::Time started;
  };

  rpc::Channel* ch_;
  absl::Time until_;
  std::string request_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<uint32_t> latencies_;
  uint64_t calls_ = 0;
  int running_ = 0;
  bool failed_ = false;
  Waiter waiter_;
};

// DuplexLoop runs one FullDuplexCall: a request, its response, the next.
class DuplexLoop final : public rpc::ClientCallHandler {
 public:
  DuplexLoop(rpc::Channel* ch, absl::Time until) : ch_(ch), until_(until) {
    pb::StreamingOutputCallRequest req;
    req.add_response_parameters()->set_size(kSmall);
    req.mutable_payload()->set_body(std::string(kSmall, 'q'));
    req.SerializeToString(&request_);
    latencies_.reserve(1 << 20);
  }
  void Start() {
    call_ = ch_->StartCall(kDuplex, {}, this);
    Send();
  }
  void Send() {
    sent_ = absl::Now();
    call_->Write(rpc::AsBytes(request_));
  }
  void OnMessage(absl::Span<const uint8_t> m) override {
    const absl::Time now = absl::Now();
    ++messages_;
    if (latencies_.size() < latencies_.capacity()) {
      latencies_.push_back(static_cast<uint32_t>(absl::ToInt64Microseconds(now - sent_)));
    }
    if (now < until_) {
      Send();
    } else {
      call_->WritesDone();
    }
  }
  void OnDone(const absl::Status& s, const rpc::Metadata&) override {
    if (!s.ok()) {
      std::fprintf(stderr, "rpc_bench: FullDuplexCall: %s\n", s.ToString().c_str());
      failed_ = true;
    }
    waiter_.Done();
  }
  void Wait() { waiter_.Wait(); }
  uint64_t messages() const { return messages_; }
  bool failed() const { return failed_; }
  std::vector<uint32_t>& latencies() { return latencies_; }

 private:
  rpc::Channel* ch_;
  absl::Time until_;
  rpc::ClientCall* call_ = nullptr;
  std::string request_;
  absl::Time sent_;
  std::vector<uint32_t> latencies_;
  uint64_t messages_ = 0;
  bool failed_ = false;
  Waiter waiter_;
};

// kMaxBulkCallBytes: one StreamingInputCall sends at most this much, since
// the peer sums the sizes in an int32 (grpc.testing's aggregated size).
constexpr uint64_t kMaxBulkCallBytes = uint64_t{1} << 30;

// BulkLoop streams 64 KiB StreamingInputCall requests until `until` (or
// kMaxBulkCallBytes) on one call.
class BulkLoop final : public rpc::ClientCallHandler {
 public:
  BulkLoop(rpc::Channel* ch, absl::Time until) : ch_(ch), until_(until) {
    pb::StreamingInputCallRequest req;
    req.mutable_payload()->set_body(std::string(kBulk, 'b'));
    req.SerializeToString(&request_);
  }
  void Start() {
    call_ = ch_->StartCall(kInput, {}, this);
    call_->Write(rpc::AsBytes(request_));
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return;
    bytes_ += kBulk;
    if (absl::Now() < until_ && bytes_ + kBulk <= kMaxBulkCallBytes) {
      call_->Write(rpc::AsBytes(request_));
    } else {
      call_->WritesDone();
    }
  }
  void OnMessage(absl::Span<const uint8_t> m) override {
    pb::StreamingInputCallResponse resp;
    if (!rpc::ParseMessage(m, &resp) ||
        static_cast<uint64_t>(resp.aggregated_payload_size()) != bytes_) {
      failed_ = true;
    }
  }
  void OnDone(const absl::Status& s, const rpc::Metadata&) override {
    if (!s.ok()) {
      std::fprintf(stderr, "rpc_bench: StreamingInputCall: %s\n", s.ToString().c_str());
      failed_ = true;
    }
    waiter_.Done();
  }
  void Wait() { waiter_.Wait(); }
  uint64_t messages() const { return bytes_ / kBulk; }
  bool failed() const { return failed_; }

 private:
  rpc::Channel* ch_;
  absl::Time until_;
  rpc::ClientCall* call_ = nullptr;
  std::string request_;
  uint64_t bytes_ = 0;
  bool failed_ = false;
  Waiter waiter_;
};

// Resources for our channels.
struct Stack {
  Stack() {
    ReactorGroupOptions o;
    o.threads = 1;
    group = std::move(*ReactorGroup::Create(std::move(o)));
    read_pool = std::move(*BufferPool::Create());
    write_pool = std::move(*BufferPool::Create());
    storage = std::move(*StoragePool::Create());
    resources.read_pool = read_pool.get();
    resources.write_pool = write_pool.get();
    resources.storage = storage.get();
  }
  std::unique_ptr<rpc::Channel> NewChannel(const std::string& target) {
    if (options == nullptr) {
      auto o = std::make_shared<rpc::ChannelOptions>();
      o->group = group.get();
      o->resources = &resources;
      options = std::move(o);
    }
    return std::move(*rpc::Channel::Create(target, options));
  }
  std::shared_ptr<const rpc::ChannelOptions> options;
  // PoolBytes returns the memory of every pool buffer that exists (leased or
  // cached): shared by all connections, so per-connection figures leave it
  // out and report leased buffers separately.
  int64_t PoolBytes() const {
    return static_cast<int64_t>(read_pool->stats().allocated * read_pool->buffer_size() +
                                write_pool->stats().allocated * write_pool->buffer_size());
  }
  std::unique_ptr<ReactorGroup> group;
  std::unique_ptr<BufferPool> read_pool, write_pool;
  std::unique_ptr<StoragePool> storage;
  ConnectionResources resources;
};

// RunOurs runs one scenario of our client against our server process.
Run RunOurs(const std::string& scenario, absl::Duration duration) {
  Run run;
  absl::StatusOr<Child> server = Spawn({absl::GetFlag(FLAGS_interop_server), "--port=0"});
  if (!server.ok()) return run;
  absl::StatusOr<std::string> address = WaitForLine(*server, "LISTENING ");
  if (!address.ok()) {
    std::fprintf(stderr, "rpc_bench: %s\n", std::string(address.status().message()).c_str());
    Stop(*server);
    return run;
  }
  Stack stack;
  std::unique_ptr<rpc::Channel> ch = stack.NewChannel(*address);
  // Warm up: connect, and one call.
  {
    UnaryLoop warm(ch.get(), 1, absl::Now() + absl::Milliseconds(100));
    warm.Start();
    warm.Wait();
  }
  const double server_cpu0 = ProcessCpuSeconds(server->pid), self_cpu0 = SelfCpuSeconds();
  uint64_t ops = 0;
  bool failed = false;
  const absl::Time start = absl::Now();
  if (scenario == "unary_pingpong" || scenario == "unary_concurrent64") {
    UnaryLoop loop(ch.get(), scenario == "unary_pingpong" ? 1 : 64, start + duration);
    loop.Start();
    loop.Wait();
    ops = loop.calls();
    failed = loop.failed();
    run.value = ops / absl::ToDoubleSeconds(absl::Now() - start);
    run.p50_us = Percentile(loop.latencies(), 0.50);
    run.p99_us = Percentile(loop.latencies(), 0.99);
  } else if (scenario == "bidi_pingpong") {
    DuplexLoop loop(ch.get(), start + duration);
    loop.Start();
    loop.Wait();
    ops = loop.messages();
    failed = loop.failed();
    run.value = ops / absl::ToDoubleSeconds(absl::Now() - start);
    run.p50_us = Percentile(loop.latencies(), 0.50);
    run.p99_us = Percentile(loop.latencies(), 0.99);
  } else if (scenario == "bulk_stream") {
    // Calls one after another until the time is up.
    do {
      BulkLoop loop(ch.get(), start + duration);
      loop.Start();
      loop.Wait();
      ops += loop.messages();
      failed = failed || loop.failed();
    } while (!failed && absl::Now() < start + duration);
    run.value = static_cast<double>(ops * kBulk) / 1e6 / absl::ToDoubleSeconds(absl::Now() - start);
  }
  const double cpu = (ProcessCpuSeconds(server->pid) - server_cpu0) + (SelfCpuSeconds() - self_cpu0);
  run.cpu_us_per_op = ops > 0 ? cpu * 1e6 / static_cast<double>(ops) : 0;
  run.ok = !failed && ops > 0;
  ch.reset();
  stack.group->Shutdown();
  Stop(*server);
  return run;
}

// RunGo runs one scenario of the grpc-go client against the grpc-go server.
// The peer prints "LISTENING host:port" as a server, and one JSON line
// {"value":..,"p50_us":..,"p99_us":..,"ops":..,"cpu_s":..} as a client.
Run RunGo(const std::string& scenario, absl::Duration duration) {
  Run run;
  const std::string peer = absl::GetFlag(FLAGS_go_peer);
  absl::StatusOr<Child> server = Spawn({peer, "--mode=server", "--port=0"});
  if (!server.ok()) return run;
  absl::StatusOr<std::string> address = WaitForLine(*server, "LISTENING ");
  if (!address.ok()) {
    Stop(*server);
    return run;
  }
  const double server_cpu0 = ProcessCpuSeconds(server->pid);
  absl::StatusOr<Child> client =
      Spawn({peer, "--mode=bench", absl::StrCat("--target=", *address),
             absl::StrCat("--scenario=", scenario),
             absl::StrCat("--seconds=", absl::ToDoubleSeconds(duration))});
  if (!client.ok()) {
    Stop(*server);
    return run;
  }
  std::string line;
  for (std::string l = ReadLine(*client); !l.empty() || !feof(client->out); l = ReadLine(*client)) {
    if (absl::StartsWith(l, "{")) line = l;
  }
  int status = 0;
  waitpid(client->pid, &status, 0);
  fclose(client->out);
  const double server_cpu = ProcessCpuSeconds(server->pid) - server_cpu0;
  Stop(*server);
  auto field = [&](absl::string_view key) {
    const std::string pat = absl::StrCat("\"", key, "\":");
    const size_t at = line.find(pat);
    double v = 0;
    if (at == std::string::npos) return v;
    const size_t end = line.find_first_of(",}", at + pat.size());
    (void)absl::SimpleAtod(line.substr(at + pat.size(), end - at - pat.size()), &v);
    return v;
  };
  if (line.empty()) return run;
  run.value = field("value");
  run.p50_us = field("p50_us");
  run.p99_us = field("p99_us");
  const double ops = field("ops");
  run.cpu_us_per_op = ops > 0 ? (field("cpu_s") + server_cpu) * 1e6 / ops : 0;
  run.ok = run.value > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return run;
}

// ---------------------------------------------------------------------------
// Idle memory.

// IdleClients (a child process) opens `n` channels to `target`, makes one
// call on each, prints "IDLE <client bytes per connection>", and waits for
// stdin to close.
int IdleClients(const std::string& target, int n) {
  Stack stack;
  std::vector<std::unique_ptr<rpc::Channel>> channels;
  channels.reserve(static_cast<size_t>(n));
  const HeapSnapshot before = TakeHeapSnapshot();
  const int64_t pool_before = stack.PoolBytes();
  for (int i = 0; i < n; ++i) {
    channels.push_back(stack.NewChannel(target));
    pb::SimpleRequest req;
    req.set_response_size(16);
    absl::StatusOr<pb::SimpleResponse> r =
        rpc::UnaryCall<pb::SimpleResponse>(*channels.back(), kUnary, req);
    if (!r.ok()) {
      std::fprintf(stderr, "rpc_bench idle client: %s\n", r.status().ToString().c_str());
      return 1;
    }
  }
  const HeapDelta d = Diff(before, TakeHeapSnapshot());
  const int64_t pools = stack.PoolBytes() - pool_before;
  std::printf("IDLE %.0f\n", static_cast<double>(d.bytes - pools) / n);
  std::fflush(stdout);
  char c;
  while (read(STDIN_FILENO, &c, 1) > 0) {
  }
  return 0;
}

// IdleOurs measures our server's heap per idle connection: an in-process
// server, `n` connections from a child process, heap and RSS deltas here.
struct IdleResult {
  double server_bytes = 0;
  double client_bytes = 0;
  double server_rss = 0;
  size_t leased = 0;
};

IdleResult IdleOurs(int n) {
  IdleResult res;
  Stack stack;
  rpc::ServerOptions so;
  so.group = stack.group.get();
  so.resources = &stack.resources;
  std::unique_ptr<rpc::Server> server = std::move(*rpc::Server::Create(std::move(so)));
  (void)interop::RegisterTestService(*server);
  absl::StatusOr<std::string> address = server->AddListener("127.0.0.1:0");
  if (!address.ok()) return res;
  // Warm the server (pools, caches, scratch) with one connection first.
  {
    std::unique_ptr<rpc::Channel> warm = stack.NewChannel(*address);
    pb::SimpleRequest req;
    (void)rpc::UnaryCall<pb::SimpleResponse>(*warm, kUnary, req);
  }
  const HeapSnapshot before = TakeHeapSnapshot();
  const int64_t pool_before = stack.PoolBytes();
  const size_t rss_before = CurrentRssBytes();
  int to_child[2];
  if (pipe(to_child) != 0) return res;
  char self[4096];
  const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len <= 0) return res;
  self[len] = 0;
  int from_child[2];
  if (pipe(from_child) != 0) return res;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(to_child[0], STDIN_FILENO);
    dup2(from_child[1], STDOUT_FILENO);
    close(to_child[1]);
    close(from_child[0]);
    execl(self, self, "--role=idle_clients", absl::StrCat("--target=", *address).c_str(),
          absl::StrCat("--idle_conns=", n).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  Child child;
  child.pid = pid;
  child.out = fdopen(from_child[0], "r");
  absl::StatusOr<std::string> client = WaitForLine(child, "IDLE ");
  if (client.ok()) {
    (void)absl::SimpleAtod(*client, &res.client_bytes);
    // Let the last responses' buffers go back before reading.
    absl::SleepFor(absl::Milliseconds(200));
    const HeapDelta d = Diff(before, TakeHeapSnapshot());
    res.server_bytes = static_cast<double>(d.bytes - (stack.PoolBytes() - pool_before)) / n;
    res.server_rss = (static_cast<double>(CurrentRssBytes()) - rss_before) / n;
    res.leased = stack.read_pool->stats().outstanding;
  }
  close(to_child[1]);
  int status;
  waitpid(pid, &status, 0);
  fclose(child.out);
  server->Shutdown();
  stack.group->Shutdown();
  return res;
}

// IdleGo asks the Go peer for its server's heap + stacks per idle
// connection: it prints {"heap_per_conn":..,"stack_per_conn":..}.
double IdleGo(int n) {
  const std::string peer = absl::GetFlag(FLAGS_go_peer);
  absl::StatusOr<Child> c = Spawn({peer, "--mode=idle", absl::StrCat("--conns=", n)});
  if (!c.ok()) return 0;
  std::string line;
  for (std::string l = ReadLine(*c); !l.empty() || !feof(c->out); l = ReadLine(*c)) {
    if (absl::StartsWith(l, "{")) line = l;
  }
  int status;
  waitpid(c->pid, &status, 0);
  fclose(c->out);
  double heap = 0, stack = 0;
  auto get = [&](absl::string_view key, double* out) {
    const std::string pat = absl::StrCat("\"", key, "\":");
    const size_t at = line.find(pat);
    if (at == std::string::npos) return;
    const size_t end = line.find_first_of(",}", at + pat.size());
    (void)absl::SimpleAtod(line.substr(at + pat.size(), end - at - pat.size()), out);
  };
  get("heap_per_conn", &heap);
  get("stack_per_conn", &stack);
  return heap + stack;
}

// ---------------------------------------------------------------------------

const char* UnitOf(const std::string& scenario) {
  if (scenario == "bulk_stream") return "mb_per_s";
  if (scenario == "bidi_pingpong") return "messages_per_s";
  if (scenario == "idle_memory") return "bytes_per_endpoint";
  return "calls_per_s";
}

int Main() {
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  const absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  std::string go_peer = absl::GetFlag(FLAGS_go_peer);
  const bool go = !go_peer.empty() && access(go_peer.c_str(), X_OK) == 0;
  if (!go) {
    std::printf("rpc_bench: no grpc-go peer at '%s': grpc-go rows skipped\n", go_peer.c_str());
  }
  JsonResults json;
  bool all_ok = true;
  std::printf("%-20s %-8s %14s %10s %10s %14s\n", "scenario", "impl", "value", "p50_us", "p99_us",
              "cpu_us/op");
  for (absl::string_view sv : absl::StrSplit(absl::GetFlag(FLAGS_scenarios), ',')) {
    const std::string scenario(sv);
    if (scenario == "idle_memory") {
      const int n = absl::GetFlag(FLAGS_idle_conns);
      std::vector<double> ours_server, ours_client, go_bytes;
      size_t leased = 0;
      for (int r = 0; r < rounds; ++r) {
        IdleResult ours = IdleOurs(n);
        ours_server.push_back(ours.server_bytes);
        ours_client.push_back(ours.client_bytes);
        leased = std::max(leased, ours.leased);
        if (go) go_bytes.push_back(IdleGo(n));
      }
      const double ours_med = Median(ours_server);
      std::printf("%-20s %-8s %12.0f B  (client %.0f B; %zu pool buffers held)\n",
                  scenario.c_str(), "ours", ours_med, Median(ours_client), leased);
      json.Add(JsonRow()
                   .AddString("impl", "ours")
                   .AddString("security", "plaintext")
                   .AddString("scenario", scenario)
                   .AddDouble("value", ours_med)
                   .AddString("unit", UnitOf(scenario))
                   .AddDouble("client_bytes_per_endpoint", Median(ours_client))
                   .AddUint("pool_buffers_held", leased)
                   .AddString("counts",
                              "heap per idle connection (interposed malloc), shared pool "
                              "buffers excluded and reported as pool_buffers_held"));
      if (go) {
        const double g = Median(go_bytes);
        std::printf("%-20s %-8s %12.0f B  (heap + goroutine stacks)\n", scenario.c_str(),
                    "grpc-go", g);
        json.Add(JsonRow()
                     .AddString("impl", "grpc-go")
                     .AddString("security", "plaintext")
                     .AddString("scenario", scenario)
                     .AddDouble("value", g)
                     .AddString("unit", UnitOf(scenario))
                     .AddString("counts", "server HeapInuse + StackInuse per idle connection"));
        std::printf("  ours / grpc-go = 1/%.1f\n", ours_med > 0 ? g / ours_med : 0);
      }
      continue;
    }
    std::vector<Run> ours, gos;
    for (int r = 0; r < rounds; ++r) {
      ours.push_back(RunOurs(scenario, duration));
      if (go) gos.push_back(RunGo(scenario, duration));
    }
    auto summarize = [&](const char* impl, std::vector<Run>& runs) {
      std::vector<double> v, p50, p99, cpu;
      bool ok = true;
      for (const Run& r : runs) {
        ok = ok && r.ok;
        v.push_back(r.value);
        p50.push_back(r.p50_us);
        p99.push_back(r.p99_us);
        cpu.push_back(r.cpu_us_per_op);
      }
      Run m;
      m.value = Median(v);
      m.p50_us = Median(p50);
      m.p99_us = Median(p99);
      m.cpu_us_per_op = Median(cpu);
      m.ok = ok;
      std::printf("%-20s %-8s %14.1f %10.0f %10.0f %14.1f%s\n", scenario.c_str(), impl, m.value,
                  m.p50_us, m.p99_us, m.cpu_us_per_op, ok ? "" : "  (FAILED)");
      JsonRow row;
      row.AddString("impl", impl)
          .AddString("security", "plaintext")
          .AddString("scenario", scenario)
          .AddDouble("value", m.value)
          .AddString("unit", UnitOf(scenario))
          .AddDouble("cpu_us_per_call", m.cpu_us_per_op);
      if (scenario != "bulk_stream") row.AddDouble("p50_us", m.p50_us).AddDouble("p99_us", m.p99_us);
      row.AddBool("ok", ok);
      json.Add(std::move(row));
      return m;
    };
    Run o = summarize("ours", ours);
    all_ok = all_ok && o.ok;
    if (go) {
      Run g = summarize("grpc-go", gos);
      if (g.value > 0) std::printf("  ours / grpc-go = %.2fx\n", o.value / g.value);
    }
  }
  const std::string path = absl::GetFlag(FLAGS_json);
  if (!path.empty() && !WriteJsonResults(json, path, "rpc_bench")) return 1;
  return all_ok ? 0 : 1;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_role) == "idle_clients") {
    return alts::bench::IdleClients(absl::GetFlag(FLAGS_target), absl::GetFlag(FLAGS_idle_conns));
  }
  return alts::bench::Main();
}
