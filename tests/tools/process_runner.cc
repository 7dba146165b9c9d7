#include "tests/tools/process_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

extern char** environ;

namespace alts::testing {
namespace {

using Clock = std::chrono::steady_clock;

// kDrainChunk is how much output one read takes from a pipe.
constexpr size_t kDrainChunk = 4096;

}  // namespace

std::ostream& operator<<(std::ostream& os, const ProcessResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout:\n" << r.out << "--- stderr:\n" << r.err;
}

std::unique_ptr<Process> Process::Start(const char* binary, const std::vector<std::string>& args) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return nullptr;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    close(out_pipe[0]);
    close(out_pipe[1]);
    return nullptr;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, binary, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn " << binary << ": " << std::strerror(rc);
    close(out_pipe[0]);
    close(err_pipe[0]);
    return nullptr;
  }
  return std::unique_ptr<Process>(new Process(binary, pid, out_pipe[0], err_pipe[0]));
}

Process::Process(std::string binary, pid_t pid, int out_fd, int err_fd)
    : binary_(std::move(binary)), pid_(pid), out_fd_(out_fd), err_fd_(err_fd) {}

Process::~Process() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  close(out_fd_);
  close(err_fd_);
}

std::string Process::WaitForLine(absl::string_view needle) {
  const auto deadline = Clock::now() + kProcessDeadline;
  for (;;) {
    size_t nl;
    while ((nl = result_.out.find('\n', scanned_)) != std::string::npos) {
      std::string line = result_.out.substr(scanned_, nl - scanned_);
      scanned_ = nl + 1;
      if (absl::StrContains(line, needle)) return line;
    }
    if (Clock::now() >= deadline || (!Drain(kPollSliceMs) && !out_open_)) return "";
  }
}

std::string Process::ReadLine() {
  const auto deadline = Clock::now() + kProcessDeadline;
  while (result_.out.find('\n') == std::string::npos && Clock::now() < deadline) {
    if (!Drain(kPollSliceMs) && !out_open_) break;
  }
  const size_t nl = result_.out.find('\n');
  if (nl == std::string::npos) return "";
  std::string line = result_.out.substr(0, nl);
  result_.out.erase(0, nl + 1);
  scanned_ = scanned_ > nl + 1 ? scanned_ - (nl + 1) : 0;
  return line;
}

void Process::Signal(int signal) { kill(pid_, signal); }

ProcessResult Process::Wait() {
  const auto deadline = Clock::now() + kProcessDeadline;
  while (!exited_) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      if (WIFEXITED(status)) {
        result_.exit_code = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        result_.exit_code = 128 + WTERMSIG(status);
      }
      break;
    }
    if (Clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      exited_ = true;
      result_.exit_code = -1;
      ADD_FAILURE() << binary_ << " did not finish in time; killed";
      break;
    }
    Drain(kPollSliceMs);
  }
  while (out_open_ || err_open_) {
    if (!Drain(kPollSliceMs)) break;
  }
  return result_;
}

bool Process::Drain(int timeout_ms) {
  pollfd fds[2] = {{out_open_ ? out_fd_ : -1, POLLIN, 0}, {err_open_ ? err_fd_ : -1, POLLIN, 0}};
  if (poll(fds, 2, timeout_ms) <= 0) return false;
  bool got = false;
  char buf[kDrainChunk];
  for (int i = 0; i < 2; ++i) {
    if (fds[i].revents == 0) continue;
    const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
    if (n > 0) {
      (i == 0 ? result_.out : result_.err).append(buf, static_cast<size_t>(n));
      got = true;
    } else if (n == 0 || errno != EINTR) {
      (i == 0 ? out_open_ : err_open_) = false;
      got = true;
    }
  }
  return got;
}

ProcessResult RunToEnd(const char* binary, const std::vector<std::string>& args) {
  std::unique_ptr<Process> p = Process::Start(binary, args);
  if (p == nullptr) return {};
  return p->Wait();
}

std::string Line(const ProcessResult& r, absl::string_view prefix) {
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (absl::StartsWith(line, prefix)) return std::string(line);
  }
  return "";
}

}  // namespace alts::testing
