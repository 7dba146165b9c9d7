#ifndef ALTS_BENCHMARKS_COMMON_SYSCALL_COUNTER_H_
#define ALTS_BENCHMARKS_COMMON_SYSCALL_COUNTER_H_

// Counting system calls from inside a benchmark: a perf counter on the
// raw_syscalls:sys_enter tracepoint (every system call entry, whatever the
// call), opened for the calling thread and inherited by every thread it
// starts afterwards. Reading it sums the live threads' counts and those of
// threads that have exited. vDSO calls (clock_gettime, gettimeofday) are not
// system calls and are not counted.
//
// It needs tracefs (/sys/kernel/tracing or /sys/kernel/debug/tracing) and
// permission to open tracepoint counters (root, or CAP_PERFMON); where either
// is missing Create fails and the benchmark reports the figure as missing.

#include <cstdint>

#include "absl/status/statusor.h"

namespace alts::bench {

// SyscallCounter owns one inherited tracepoint counter. Move-only.
class SyscallCounter {
 public:
  // Create opens the counter for the calling thread and the threads it
  // starts from now on. Returns kUnavailable if tracefs or perf events are
  // missing or not permitted.
  static absl::StatusOr<SyscallCounter> Create();

  SyscallCounter(SyscallCounter&& other) noexcept;
  SyscallCounter& operator=(SyscallCounter&& other) noexcept;
  SyscallCounter(const SyscallCounter&) = delete;
  SyscallCounter& operator=(const SyscallCounter&) = delete;
  ~SyscallCounter();

  // Read returns the system calls counted so far (the read itself included),
  // or 0 if the counter cannot be read.
  uint64_t Read() const;

 private:
  explicit SyscallCounter(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_SYSCALL_COUNTER_H_
