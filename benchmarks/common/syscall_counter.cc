#include "benchmarks/common/syscall_counter.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace alts::bench {
namespace {

// kTracepointIdFiles: where tracefs keeps the tracepoint's id, newer mount
// point first.
constexpr const char* kTracepointIdFiles[] = {
    "/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
    "/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
};

// TracepointId returns the id of raw_syscalls:sys_enter, or -1.
long TracepointId() {
  for (const char* path : kTracepointIdFiles) {
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) continue;
    long id = -1;
    const int got = std::fscanf(f, "%ld", &id);
    std::fclose(f);
    if (got == 1 && id >= 0) return id;
  }
  return -1;
}

}  // namespace

absl::StatusOr<SyscallCounter> SyscallCounter::Create() {
  const long id = TracepointId();
  if (id < 0) {
    return absl::UnavailableError("raw_syscalls:sys_enter not found in tracefs");
  }
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = static_cast<uint64_t>(id);
  attr.inherit = 1;  // threads started after this count too
  const long fd = syscall(SYS_perf_event_open, &attr, /*pid=*/0, /*cpu=*/-1,
                          /*group_fd=*/-1, /*flags=*/0);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("perf_event_open(raw_syscalls:sys_enter): ", std::strerror(errno)));
  }
  return SyscallCounter(static_cast<int>(fd));
}

SyscallCounter::SyscallCounter(SyscallCounter&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

SyscallCounter& SyscallCounter::operator=(SyscallCounter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

SyscallCounter::~SyscallCounter() {
  if (fd_ >= 0) close(fd_);
}

uint64_t SyscallCounter::Read() const {
  uint64_t value = 0;
  if (fd_ < 0 || read(fd_, &value, sizeof(value)) != static_cast<ssize_t>(sizeof(value))) {
    return 0;
  }
  return value;
}

}  // namespace alts::bench
