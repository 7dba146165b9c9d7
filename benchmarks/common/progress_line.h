#ifndef ALTS_BENCHMARKS_COMMON_PROGRESS_LINE_H_
#define ALTS_BENCHMARKS_COMMON_PROGRESS_LINE_H_

// ProgressLine reports the progress of a long setup phase, e.g.
// "  set up 1234/2000 connections". On a terminal it rewrites one line in
// place ("\r..."); otherwise (logs, CI) it prints a full line each time
// another 10% is done, so logs stay short.

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace alts::bench {

// ProgressLine prints "  <verb> <done>/<total> <noun>". Thread-safe.
class ProgressLine {
 public:
  // kTtyStepsPerTotal: on a terminal, redraw at most this many times over
  // the whole run, so updating per item costs nothing visible even for
  // millions of items.
  static constexpr uint64_t kTtyStepsPerTotal = 1000;
  // kLogSteps: elsewhere, print a line at every tenth of the total.
  static constexpr uint64_t kLogSteps = 10;

  // ProgressLine writes to stderr, in terminal mode if stderr is a TTY.
  ProgressLine(std::string_view verb, std::string_view noun, uint64_t total);

  // ProgressLine writes to `out` in the given mode (for tests and for
  // callers that know better).
  ProgressLine(std::string_view verb, std::string_view noun, uint64_t total,
               std::FILE* out, bool tty);

  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // ~ProgressLine calls Finish.
  ~ProgressLine();

  // Update records that `done` items are complete (values above total are
  // clamped) and prints if a step boundary was crossed.
  void Update(uint64_t done);

  // Finish prints the final count if it was not printed yet and ends the
  // terminal line. Idempotent.
  void Finish();

 private:
  void PrintLocked(uint64_t done);

  std::mutex mu_;
  const std::string verb_;
  const std::string noun_;
  const uint64_t total_;
  std::FILE* const out_;
  const bool tty_;
  // Guarded by mu_.
  uint64_t last_step_ = 0;
  uint64_t last_printed_ = UINT64_MAX;
  uint64_t done_ = 0;
  bool finished_ = false;
};

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_PROGRESS_LINE_H_
