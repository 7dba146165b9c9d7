#include "tests/interop/interop_test_util.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace alts::interop::testing {

using alts::testing::Process;
using alts::testing::ProcessResult;

RunningServer StartServer(const std::string& binary, std::vector<std::string> args) {
  args.push_back("--host=127.0.0.1");
  args.push_back("--port=0");
  RunningServer server;
  server.process = Process::Start(binary.c_str(), args);
  if (server.process == nullptr) return server;
  const std::string line = server.process->WaitForLine("LISTENING ");
  const size_t colon = line.rfind(':');
  if (colon == std::string::npos) {
    ADD_FAILURE() << binary << " printed no LISTENING line:\n" << server.process->Wait();
    return server;
  }
  server.port = line.substr(colon + 1);
  return server;
}

ClientRun RunClient(const std::string& binary, const std::string& port,
                    std::vector<std::string> args) {
  std::vector<std::string> all = {"--server_host=127.0.0.1",
                                  absl::StrCat("--server_port=", port)};
  bool chose_case = false;
  for (std::string& a : args) {
    chose_case = chose_case || absl::StartsWith(a, "--test_case=");
    all.push_back(std::move(a));
  }
  if (!chose_case) all.push_back("--test_case=all");
  ClientRun run;
  run.result = alts::testing::RunToEnd(binary.c_str(), all);
  for (absl::string_view line : absl::StrSplit(run.result.out, '\n')) {
    for (absl::string_view prefix : {"PASS ", "FAIL "}) {
      if (!absl::StartsWith(line, prefix)) continue;
      absl::string_view rest = line.substr(prefix.size());
      const size_t end = rest.find_first_of(" :");
      run.lines[std::string(rest.substr(0, end))] = std::string(line);
    }
  }
  return run;
}

void ExpectAllPass(const ClientRun& run) {
  for (const char* name : kInteropCases) {
    auto it = run.lines.find(name);
    if (it == run.lines.end()) {
      ADD_FAILURE() << name << ": no result line";
    } else {
      EXPECT_TRUE(absl::StartsWith(it->second, "PASS ")) << it->second;
    }
  }
  EXPECT_EQ(run.result.exit_code, 0) << run.result;
}

TempDir::TempDir() {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / "alts_interop_test.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
  }
  dir_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string TempDir::Path(absl::string_view name) const { return absl::StrCat(dir_, "/", name); }

}  // namespace alts::interop::testing
