#include "benchmarks/common/bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>

#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "conn/socket_util.h"

namespace alts::bench {

absl::Status ErrnoError(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::Status SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return ErrnoError("fcntl");
  return absl::OkStatus();
}

absl::Status WaitFds(absl::Span<pollfd> fds, absl::Duration stall_timeout) {
  const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(stall_timeout));
  for (;;) {
    for (pollfd& p : fds) p.revents = 0;
    const int r = poll(fds.data(), fds.size(), timeout_ms);
    if (r > 0) return absl::OkStatus();
    if (r == 0) return absl::DeadlineExceededError("no progress on the sockets");
    if (errno != EINTR) return ErrnoError("poll");
  }
}

absl::Status WaitFd(int fd, short events, absl::Duration stall_timeout) {
  pollfd p{fd, events, 0};
  return WaitFds(absl::MakeSpan(&p, 1), stall_timeout);
}

absl::StatusOr<int> ListenLoopback() {
  absl::StatusOr<SocketAddress> address = ParseSocketAddress("127.0.0.1:0");
  if (!address.ok()) return address.status();
  return ListenTcp(*address);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double MedianOf(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

bool RaiseFdLimit(rlim_t need, rlim_t* got) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  *got = rl.rlim_cur;
  return rl.rlim_cur >= need;
}

void ParseCommandLineWithDashes(int argc, char** argv) {
  std::vector<std::string> storage(argv, argv + argc);
  std::vector<char*> args;
  for (std::string& arg : storage) {
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      const size_t end = std::min(arg.find('='), arg.size());
      std::replace(arg.begin() + 2, arg.begin() + static_cast<std::ptrdiff_t>(end), '-', '_');
    }
    args.push_back(arg.data());
  }
  absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
}

bool WriteJsonResults(const JsonResults& json, const std::string& path, absl::string_view program) {
  if (absl::Status s = json.WriteToFile(path); !s.ok()) {
    std::fprintf(stderr, "%s: %s\n", std::string(program).c_str(), s.ToString().c_str());
    return false;
  }
  return true;
}

}  // namespace alts::bench
