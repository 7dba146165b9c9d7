// handshaker_service_bench: handshakes per second through
// tools/alts_handshaker_service, next to the in-process engine, in one run
// with alternating rounds:
//   engine in-process     client and server HandshakerEngine in this thread
//   service, rpc Channel  both sides' DoHandshake streams driven by this
//                         project's RPC channel, bytes relayed in memory
//   service, grpc-go      grpc-go 1.33's own ALTS client and server
//                         (tests/handshaker_service/go hss_go_peer -mode bench),
//                         both using the service, over loopback TCP
// All full handshakes (the service runs with --no-resumption). grpc-go only
// does ALTS where /sys/class/dmi/id/product_name says Google Compute
// Engine: elsewhere, as root, this program first moves itself into a new
// mount and network namespace with an overlay on /sys/class that says so
// (the host is untouched); without root the grpc-go row is skipped.
//
//   handshaker_service_bench [--seconds=S] [--rounds=N] [--concurrency=N]
//       [--service=PATH] [--go_peer=PATH] [--json=PATH]
//
// --service and --go_peer default to the build tree next to this program.
// Exit status: 0, or 1 if a row that ran had errors.

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "benchmarks/common/bench_pki.h"
#include "benchmarks/common/bench_util.h"
#include "benchmarks/common/json_writer.h"
#include "conn/buffer_pool.h"
#include "conn/reactor.h"
#include "conn/storage_pool.h"
#include "handshaker/credential_file.h"
#include "handshaker/handshaker_engine.h"
#include "rpc/blocking.h"
#include "rpc/channel.h"

ABSL_FLAG(double, seconds, 2.0, "Seconds per row per round.");
ABSL_FLAG(int, rounds, 3, "Alternating rounds; rows report the median.");
ABSL_FLAG(int, concurrency, 8, "Handshakes in flight for the service rows.");
ABSL_FLAG(std::string, service, "", "alts_handshaker_service binary (default: build tree).");
ABSL_FLAG(std::string, go_peer, "", "hss_go_peer binary (default: build tree).");
ABSL_FLAG(std::string, json, "", "Also write the results as JSON to this path ('-' for stdout).");

namespace alts::bench {
namespace {

constexpr char kMethod[] = "/grpc.gcp.HandshakerService/DoHandshake";

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s;
}

// EnterGceNamespace makes grpc-go's platform check pass for this process
// and its children. Returns "" when grpc-go can run, else why not. Must run
// before any thread starts (namespaces belong to the calling thread).
std::string EnterGceNamespace(std::string* scratch) {
  std::string name(absl::StripAsciiWhitespace(ReadSmallFile("/sys/class/dmi/id/product_name")));
  if (name == "Google" || name == "Google Compute Engine") return "";
  if (geteuid() != 0) return "not root: cannot make a namespace that passes grpc-go's GCE check";
  if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) return absl::StrCat("unshare: ", strerror(errno));
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return absl::StrCat("mount --make-rprivate /: ", strerror(errno));
  }
  char dir[] = "/tmp/hss_bench_XXXXXX";
  if (mkdtemp(dir) == nullptr) return absl::StrCat("mkdtemp: ", strerror(errno));
  *scratch = dir;
  std::filesystem::create_directories(absl::StrCat(dir, "/upper/dmi/id"));
  std::filesystem::create_directories(absl::StrCat(dir, "/work"));
  std::ofstream(absl::StrCat(dir, "/upper/dmi/id/product_name")) << "Google Compute Engine\n";
  const std::string options =
      absl::StrCat("lowerdir=/sys/class,upperdir=", dir, "/upper,workdir=", dir, "/work");
  if (mount("overlay", "/sys/class", "overlay", 0, options.c_str()) != 0) {
    return absl::StrCat("overlay on /sys/class: ", strerror(errno));
  }
  const int s = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return "cannot read lo's flags";
  ifr.ifr_flags |= IFF_UP;
  const bool up = ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  close(s);
  return up ? "" : "cannot bring lo up";
}

// Child is a spawned program with its stdout on a pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string buffered;

  static Child Spawn(const std::vector<std::string>& args) {
    Child c;
    int fds[2];
    if (pipe(fds) != 0) return c;
    c.pid = fork();
    if (c.pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    c.out = fds[0];
    return c;
  }
  // ReadLine returns the next stdout line ("" at EOF or after `timeout`).
  std::string ReadLine(absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time until = absl::Now() + timeout;
    while (true) {
      const size_t nl = buffered.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffered.substr(0, nl);
        buffered.erase(0, nl + 1);
        return line;
      }
      pollfd p{out, POLLIN, 0};
      const int ms = static_cast<int>(absl::ToInt64Milliseconds(until - absl::Now()));
      if (ms <= 0 || poll(&p, 1, ms) <= 0) return "";
      char buf[4096];
      const ssize_t n = read(out, buf, sizeof(buf));
      if (n <= 0) return "";
      buffered.append(buf, static_cast<size_t>(n));
    }
  }
  int Wait() {
    int status = 0;
    if (pid > 0) waitpid(pid, &status, 0);
    if (out >= 0) close(out);
    pid = -1;
    out = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

grpc::gcp::HandshakerReq ClientStart(bool name_local) {
  grpc::gcp::HandshakerReq req;
  auto* s = req.mutable_client_start();
  s->set_handshake_security_protocol(grpc::gcp::ALTS);
  s->add_application_protocols("grpc");
  s->add_record_protocols("ALTSRP_GCM_AES128_REKEY");
  s->add_target_identities()->set_service_account("server@bench");
  if (name_local) s->mutable_local_identity()->set_service_account("client@bench");
  auto* v = s->mutable_rpc_versions();
  v->mutable_max_rpc_version()->set_major(2);
  v->mutable_max_rpc_version()->set_minor(1);
  v->mutable_min_rpc_version()->set_major(2);
  v->mutable_min_rpc_version()->set_minor(1);
  return req;
}

grpc::gcp::HandshakerReq ServerStart(const std::string& in) {
  grpc::gcp::HandshakerReq req;
  auto* s = req.mutable_server_start();
  s->add_application_protocols("grpc");
  (*s->mutable_handshake_parameters())[grpc::gcp::ALTS].add_record_protocols(
      "ALTSRP_GCM_AES128_REKEY");
  s->set_in_bytes(in);
  *s->mutable_rpc_versions() = ClientStart(false).client_start().rpc_versions();
  return req;
}

grpc::gcp::HandshakerReq Next(const std::string& in) {
  grpc::gcp::HandshakerReq req;
  req.mutable_next()->set_in_bytes(in);
  return req;
}

// RunEngine: full handshakes between two engines in this thread.
absl::StatusOr<double> RunEngine(const std::shared_ptr<const HandshakerConfig>& client_config,
                                 const std::shared_ptr<const HandshakerConfig>& server_config,
                                 double seconds, uint64_t* errors) {
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  uint64_t n = 0;
  const grpc::gcp::HandshakerReq client_start = ClientStart(false);
  while (std::chrono::steady_clock::now() < until) {
    HandshakerEngine client(client_config), server(server_config);
    grpc::gcp::HandshakerResp c = client.Next(client_start);
    grpc::gcp::HandshakerResp s = server.Next(ServerStart(c.out_frames()));
    c = client.Next(Next(s.out_frames()));
    s = server.Next(Next(c.out_frames()));
    if (!c.has_result() || !s.has_result() || c.result().key_data() != s.result().key_data()) {
      ++*errors;
    } else {
      ++n;
    }
    WipeHandshakerResp(&c);
    WipeHandshakerResp(&s);
  }
  return n / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Exchange sends one request and returns the response (nullopt if the
// stream ended without one).
std::optional<grpc::gcp::HandshakerResp> Exchange(rpc::BlockingCall& call,
                                                  const grpc::gcp::HandshakerReq& req) {
  const std::string bytes = req.SerializeAsString();
  (void)call.Write(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(bytes.data()),
                                       bytes.size()));
  std::string msg;
  if (!call.Read(&msg)) return std::nullopt;
  grpc::gcp::HandshakerResp resp;
  if (!resp.ParseFromString(msg)) return std::nullopt;
  return resp;
}

bool OneServiceHandshake(rpc::Channel& channel) {
  rpc::CallOptions o;
  o.deadline = absl::Now() + absl::Seconds(30);
  auto client = rpc::BlockingCall::Start(channel, kMethod, o);
  auto server = rpc::BlockingCall::Start(channel, kMethod, o);
  auto c = Exchange(*client, ClientStart(true));
  if (!c || c->status().code() != 0) return false;
  auto s = Exchange(*server, ServerStart(c->out_frames()));
  if (!s || s->status().code() != 0) return false;
  c = Exchange(*client, Next(s->out_frames()));
  if (!c || !c->has_result()) return false;
  s = Exchange(*server, Next(c->out_frames()));
  if (!s || !s->has_result()) return false;
  const bool ok = c->result().key_data() == s->result().key_data();
  WipeHandshakerResp(&*c);
  WipeHandshakerResp(&*s);
  return ok && client->Finish().ok() && server->Finish().ok();
}

// RunChannel: `concurrency` threads each running handshakes through the
// service with this project's RPC channel (one shared connection).
double RunChannel(rpc::Channel& channel, int concurrency, double seconds, uint64_t* errors) {
  std::atomic<uint64_t> ok{0}, bad{0};
  const auto start = std::chrono::steady_clock::now();
  const auto until = start + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      while (std::chrono::steady_clock::now() < until) {
        (OneServiceHandshake(channel) ? ok : bad)++;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  *errors += bad.load();
  return ok.load() / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// RunGo: hss_go_peer's bench mode against the service.
absl::StatusOr<double> RunGo(const std::string& go_peer, const std::string& service,
                             int concurrency, double seconds, uint64_t* errors) {
  Child c = Child::Spawn({go_peer, "-mode", "bench", "-handshaker", service, "-duration",
                          absl::StrCat(static_cast<int64_t>(seconds * 1000), "ms"), "-concurrency",
                          absl::StrCat(concurrency), "-target_sa", "server@bench"});
  const std::string line = c.ReadLine(absl::Seconds(seconds + 60));
  const int rc = c.Wait();
  // {"handshakes":N,"seconds":S,"per_second":R,"errors":E,...}
  auto field = [&](absl::string_view key) -> double {
    const size_t at = line.find(absl::StrCat("\"", key, "\":"));
    if (at == std::string::npos) return -1;
    double v = -1;
    size_t end = line.find_first_of(",}", at);
    (void)absl::SimpleAtod(line.substr(at + key.size() + 3, end - at - key.size() - 3), &v);
    return v;
  };
  const double rate = field("per_second");
  const double errs = field("errors");
  if (rate < 0) return absl::InternalError(absl::StrCat("hss_go_peer exited ", rc, ": ", line));
  if (errs > 0) *errors += static_cast<uint64_t>(errs);
  return rate;
}

struct Row {
  std::string name;
  std::string what;
  int concurrency = 1;
  std::vector<double> rates;
  uint64_t errors = 0;
  std::string skipped;
};

int Main(int argc, char** argv) {
  // Before any thread: the namespace is this thread's (and its children's).
  std::string scratch;
  const std::string go_skip_namespace = EnterGceNamespace(&scratch);
  absl::ParseCommandLine(argc, argv);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
  const std::filesystem::path exe_dir =
      std::filesystem::canonical("/proc/self/exe").parent_path().parent_path();
  std::string service_bin = absl::GetFlag(FLAGS_service);
  if (service_bin.empty()) {
    service_bin = (exe_dir / "tools/alts_handshaker_service/alts_handshaker_service").string();
  }
  std::string go_peer = absl::GetFlag(FLAGS_go_peer);
  if (go_peer.empty()) go_peer = (exe_dir / "tests/handshaker_service/go-bin/hss_go_peer").string();

  absl::StatusOr<BenchPki> pki = BenchPki::Create();
  if (!pki.ok()) return std::cerr << pki.status() << "\n", 1;
  auto server_config = pki->Config("server@bench");
  auto client_config = pki->Config("client@bench");
  if (!server_config.ok() || !client_config.ok()) return std::cerr << "config failed\n", 1;
  (*client_config)->accepted_client_identities.clear();

  char dir[] = "/tmp/hss_bench_files_XXXXXX";
  if (mkdtemp(dir) == nullptr) return std::cerr << "mkdtemp failed\n", 1;
  const std::string files = dir;
  bool files_ok =
      WriteWorkloadCredential(files + "/server.chain", files + "/server.key",
                              *(*server_config)->credential)
          .ok() &&
      WriteWorkloadCredential(files + "/client.chain", files + "/client.key",
                              *(*client_config)->credential)
          .ok();
  const TrustRoot root = TrustRoot::FromSigningKey(pki->root());
  files_ok = files_ok && WritePublicFile(files + "/root.root", EncodeTrustRoots({&root, 1})).ok();
  if (!files_ok) return std::cerr << "cannot write credentials under " << files << "\n", 1;

  std::vector<Row> rows(3);
  rows[0] = {"engine_in_process", "client and server HandshakerEngine, one thread", 1, {}, 0, ""};
  rows[1] = {"service_rpc_channel", "both sides through the service, this project's RPC channel",
             concurrency, {}, 0, ""};
  rows[2] = {"service_grpc_go", "grpc-go ALTS client and server, both through the service",
             concurrency, {}, 0, ""};

  Child service;
  std::string service_address;
  if (access(service_bin.c_str(), X_OK) != 0) {
    rows[1].skipped = rows[2].skipped = absl::StrCat("no service binary at ", service_bin);
  } else {
    service = Child::Spawn({service_bin, "--listen", "127.0.0.1:0", "--cert",
                            files + "/server.chain", "--key", files + "/server.key", "--cert",
                            files + "/client.chain", "--key", files + "/client.key", "--roots",
                            files + "/root.root", "--no-resumption"});
    const std::string line = service.ReadLine();
    if (!absl::StartsWith(line, "LISTENING ")) {
      rows[1].skipped = rows[2].skipped = "the service did not start";
    } else {
      service_address = line.substr(10);
    }
  }
  if (rows[2].skipped.empty()) {
    if (!go_skip_namespace.empty()) {
      rows[2].skipped = go_skip_namespace;
    } else if (access(go_peer.c_str(), X_OK) != 0) {
      rows[2].skipped = absl::StrCat("no grpc-go peer at ", go_peer);
    }
  }

  std::unique_ptr<ReactorGroup> group = std::move(*ReactorGroup::Create());
  std::unique_ptr<BufferPool> pool = std::move(*BufferPool::Create());
  std::unique_ptr<StoragePool> storage = std::move(*StoragePool::Create());
  ConnectionResources resources;
  resources.read_pool = pool.get();
  resources.storage = storage.get();
  std::unique_ptr<rpc::Channel> channel;
  if (rows[1].skipped.empty()) {
    rpc::ChannelOptions co;
    co.group = group.get();
    co.resources = &resources;
    channel = std::move(*rpc::Channel::Create(service_address, co));
  }

  for (int r = 0; r < rounds; ++r) {
    uint64_t e = 0;
    absl::StatusOr<double> engine = RunEngine(*client_config, *server_config, seconds, &e);
    rows[0].rates.push_back(*engine);
    rows[0].errors += e;
    if (rows[1].skipped.empty()) {
      rows[1].rates.push_back(RunChannel(*channel, concurrency, seconds, &rows[1].errors));
    }
    if (rows[2].skipped.empty()) {
      absl::StatusOr<double> go = RunGo(go_peer, service_address, concurrency, seconds, &rows[2].errors);
      if (go.ok()) {
        rows[2].rates.push_back(*go);
      } else {
        rows[2].skipped = std::string(go.status().message());
      }
    }
  }
  channel.reset();
  group->Shutdown();
  if (service.pid > 0) {
    kill(service.pid, SIGTERM);
    service.Wait();
  }
  std::error_code ec;
  std::filesystem::remove_all(files, ec);
  if (!scratch.empty()) {
    umount("/sys/class");
    std::filesystem::remove_all(scratch, ec);
  }

  std::printf("handshakes per second, full handshakes, median of %d rounds of %.1f s\n", rounds,
              seconds);
  std::printf("%-22s %6s %12s %12s %12s %7s\n", "row", "conc", "median/s", "min/s", "max/s",
              "errors");
  JsonResults json;
  bool failed = false;
  for (const Row& row : rows) {
    JsonRow j;
    j.AddString("name", row.name).AddString("what", row.what).AddInt("concurrency", row.concurrency);
    if (!row.skipped.empty() || row.rates.empty()) {
      std::printf("%-22s skipped: %s\n", row.name.c_str(), row.skipped.c_str());
      j.AddBool("skipped", true).AddString("reason", row.skipped);
    } else {
      const double median = MedianOf(row.rates);
      const double lo = *std::min_element(row.rates.begin(), row.rates.end());
      const double hi = *std::max_element(row.rates.begin(), row.rates.end());
      std::printf("%-22s %6d %12.0f %12.0f %12.0f %7llu\n", row.name.c_str(), row.concurrency,
                  median, lo, hi, static_cast<unsigned long long>(row.errors));
      j.AddBool("skipped", false)
          .AddDouble("handshakes_per_s", median)
          .AddDoubleArray("rounds_per_s", row.rates)
          .AddUint("errors", row.errors);
      failed = failed || row.errors > 0;
    }
    json.Add(std::move(j));
  }
  const std::string json_path = absl::GetFlag(FLAGS_json);
  if (!json_path.empty() && !WriteJsonResults(json, json_path, "handshaker_service_bench")) return 1;
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace alts::bench

int main(int argc, char** argv) { return alts::bench::Main(argc, argv); }
