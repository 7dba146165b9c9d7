#include "benchmarks/common/progress_line.h"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>

namespace alts::bench {

ProgressLine::ProgressLine(std::string_view verb, std::string_view noun,
                           uint64_t total)
    : ProgressLine(verb, noun, total, stderr, isatty(STDERR_FILENO) == 1) {}

ProgressLine::ProgressLine(std::string_view verb, std::string_view noun,
                           uint64_t total, std::FILE* out, bool tty)
    : verb_(verb), noun_(noun), total_(total), out_(out), tty_(tty) {}

ProgressLine::~ProgressLine() { Finish(); }

void ProgressLine::PrintLocked(uint64_t done) {
  std::fprintf(out_, "%s  %s %" PRIu64 "/%" PRIu64 " %s%s", tty_ ? "\r" : "",
               verb_.c_str(), done, total_, noun_.c_str(), tty_ ? "" : "\n");
  std::fflush(out_);
  last_printed_ = done;
}

void ProgressLine::Update(uint64_t done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || total_ == 0) return;
  done = std::min(done, total_);
  done_ = done;
  const uint64_t steps = tty_ ? kTtyStepsPerTotal : kLogSteps;
  // 128-bit so done * steps cannot overflow for any total.
  const uint64_t step = static_cast<uint64_t>(
      static_cast<unsigned __int128>(done) * steps / total_);
  if (step > last_step_ || (done == total_ && last_printed_ != total_)) {
    last_step_ = step;
    if (done != last_printed_) PrintLocked(done);
  }
}

void ProgressLine::Finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return;
  finished_ = true;
  if (last_printed_ != done_ || last_printed_ == UINT64_MAX) {
    PrintLocked(done_);
  }
  if (tty_) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

}  // namespace alts::bench
