#ifndef ALTS_TESTS_INTEROP_INTEROP_TEST_UTIL_H_
#define ALTS_TESTS_INTEROP_INTEROP_TEST_UTIL_H_

// Running interop servers and clients (ours and the grpc-go peers) as child
// processes over loopback, and reading the per-case results they print.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tests/tools/process_runner.h"

namespace alts::interop::testing {

// kInteropCases are the cases both clients implement, in --test_case=all
// order.
inline constexpr const char* kInteropCases[] = {
    "empty_unary",          "large_unary",
    "client_streaming",     "server_streaming",
    "ping_pong",            "empty_stream",
    "timeout_on_sleeping_server", "cancel_after_begin",
    "cancel_after_first_response", "custom_metadata",
    "status_code_and_message", "special_status_message",
    "unimplemented_method", "unimplemented_service",
};

// RunningServer is an interop server started with --host=127.0.0.1
// --port=0; it is killed on destruction.
struct RunningServer {
  std::unique_ptr<alts::testing::Process> process;
  std::string port;  // "" if it did not print LISTENING (the test failed)
};

// StartServer starts `binary` with `args` plus the loopback and port-0
// flags and waits for its LISTENING line (a test failure if none comes).
RunningServer StartServer(const std::string& binary, std::vector<std::string> args);

// ClientRun is what a client run printed: each case's PASS/FAIL line, by
// case name, and the whole result.
struct ClientRun {
  std::map<std::string, std::string> lines;
  alts::testing::ProcessResult result;
};

// RunClient runs `binary` against 127.0.0.1:`port` with `args` (and
// --test_case=all unless they choose a case), to its end.
ClientRun RunClient(const std::string& binary, const std::string& port,
                    std::vector<std::string> args = {});

// ExpectAllPass checks that every case of kInteropCases passed in `run`
// and that the client exited 0; failures name each case and its reason.
void ExpectAllPass(const ClientRun& run);

// TempDir is a temporary directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Path returns `name` inside the directory.
  std::string Path(absl::string_view name) const;

 private:
  std::string dir_;
};

}  // namespace alts::interop::testing

#endif  // ALTS_TESTS_INTEROP_INTEROP_TEST_UTIL_H_
