#ifndef ALTS_TESTS_TOOLS_PROCESS_RUNNER_H_
#define ALTS_TESTS_TOOLS_PROCESS_RUNNER_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace alts::testing {

// kProcessDeadline: a tool run (or a wait on one of its sockets) that takes
// longer is hung; the process is killed. Generous because sanitizer builds
// run the tools several times slower.
inline constexpr std::chrono::seconds kProcessDeadline{120};

// kPollSliceMs is how often waiting loops re-check for output, data or exit.
inline constexpr int kPollSliceMs = 20;

// ProcessResult is how a process ended.
struct ProcessResult {
  int exit_code = -1;  // -1: killed at the deadline; 128+N: killed by signal N
  std::string out;
  std::string err;
};

// operator<< prints the exit code and both outputs, for failure messages.
std::ostream& operator<<(std::ostream& os, const ProcessResult& r);

// Process is one running program with its stdout and stderr on pipes. The
// destructor kills it if it is still running. Failures to start or to end in
// time are reported as test failures (ADD_FAILURE), not as errors.
class Process {
 public:
  // Start spawns `binary` with `args` (argv[0] is `binary`); fails the test
  // and returns null if it cannot.
  static std::unique_ptr<Process> Start(const char* binary, const std::vector<std::string>& args);

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  // WaitForLine returns the first complete stdout line not returned before
  // that contains `needle`, or "" if the process closes stdout or the
  // deadline passes first. Earlier lines are skipped (they stay in the
  // output Wait returns).
  std::string WaitForLine(absl::string_view needle);

  // ReadLine returns the first stdout line (without '\n') and removes it from
  // the output Wait returns, or returns "" if the process closes stdout or
  // the deadline passes first.
  std::string ReadLine();

  // Signal sends `signal` to the process.
  void Signal(int signal);

  // Wait waits for the exit (killing the process at kProcessDeadline) and
  // returns the exit code and everything written to stdout (but the lines
  // ReadLine took) and stderr.
  ProcessResult Wait();

 private:
  Process(std::string binary, pid_t pid, int out_fd, int err_fd);

  // Drain waits up to `timeout_ms` for output and appends it. Returns false
  // if nothing arrived.
  bool Drain(int timeout_ms);

  std::string binary_;
  pid_t pid_;
  int out_fd_;
  int err_fd_;
  bool out_open_ = true;
  bool err_open_ = true;
  bool exited_ = false;
  size_t scanned_ = 0;  // stdout bytes WaitForLine has looked at
  ProcessResult result_;
};

// RunToEnd runs `binary` with `args` to completion; a default result (exit
// code -1, no output) if it cannot be started (the test has failed then).
ProcessResult RunToEnd(const char* binary, const std::vector<std::string>& args);

// Line returns the stdout line of `r` starting with `prefix`, or "".
std::string Line(const ProcessResult& r, absl::string_view prefix);

}  // namespace alts::testing

#endif  // ALTS_TESTS_TOOLS_PROCESS_RUNNER_H_
