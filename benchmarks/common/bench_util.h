#ifndef ALTS_BENCHMARKS_COMMON_BENCH_UTIL_H_
#define ALTS_BENCHMARKS_COMMON_BENCH_UTIL_H_

// Small pieces the whole-system benchmark programs share: an owned file
// descriptor, errno statuses, waiting on sockets with a stall timeout, a
// loopback listener, thread CPU time, the descriptor limit, flags spelled
// with dashes and writing the --json results.

#include <poll.h>
#include <sys/resource.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "benchmarks/common/json_writer.h"

namespace alts::bench {

// ErrnoError returns kInternal naming `what` and errno's text.
absl::Status ErrnoError(absl::string_view what);

// UniqueFd owns a file descriptor and closes it when destroyed, unless it
// was released. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  // UniqueFd takes ownership of `fd` (-1: none).
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  // get returns the fd, or -1.
  int get() const { return fd_; }
  // Release gives up ownership and returns the fd.
  int Release() { return std::exchange(fd_, -1); }
  // Reset closes the fd now.
  void Reset();

 private:
  int fd_ = -1;
};

// SetNonBlocking puts `fd` in non-blocking mode. Returns kInternal if fcntl
// fails.
absl::Status SetNonBlocking(int fd);

// WaitFds waits until one of `fds` has one of its events (or an error or
// hang-up, which the next call on it reports); revents says which. Returns
// kDeadlineExceeded after `stall_timeout` without any, kInternal if poll
// fails. A stuck peer must not hang a benchmark, so every wait is bounded.
absl::Status WaitFds(absl::Span<pollfd> fds, absl::Duration stall_timeout);

// WaitFd waits for `events` on one fd (see WaitFds).
absl::Status WaitFd(int fd, short events, absl::Duration stall_timeout);

// ListenLoopback opens a non-blocking TCP listener on 127.0.0.1 with an
// ephemeral port and returns its fd (the caller owns it). Errors as
// ListenTcp.
absl::StatusOr<int> ListenLoopback();

// ThreadCpuSeconds returns this thread's CPU time (user + system), which is
// less sensitive than wall time to other processes sharing the cores.
double ThreadCpuSeconds();

// MedianOf returns the median of `values` (the mean of the middle two for an
// even count), 0 for none.
double MedianOf(std::vector<double> values);

// RaiseFdLimit raises RLIMIT_NOFILE to its hard limit and stores the
// resulting limit in *got; false if that is still below `need`.
bool RaiseFdLimit(rlim_t need, rlim_t* got);

// ParseCommandLineWithDashes parses the flags as absl::ParseCommandLine
// does, after rewriting "--churn-per-s=5" as "--churn_per_s=5" (the name part
// only), so flags may be spelled either way; Abseil knows only the
// underscore names.
void ParseCommandLineWithDashes(int argc, char** argv);

// WriteJsonResults writes `json` to `path` ('-' for stdout). On failure it
// prints "<program>: <status>" to stderr and returns false; the program
// then exits with status 1.
bool WriteJsonResults(const JsonResults& json, const std::string& path, absl::string_view program);

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_BENCH_UTIL_H_
