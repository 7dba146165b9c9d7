// hpack_conformance DIR... — decodes every hpack-test-case story (*.json)
// under the given directories, recursively, with this project's HPACK
// decoder, and checks each case against its header list.
//
// Prints one line per mismatch or unreadable story, then
// "hpack: K/N cases OK". Exits 0 if every case matched, 1 on any mismatch or
// error, 2 on bad usage. Stories without wire data (raw-data) are skipped.
// `hpack_conformance --version` prints "hpack_conformance <version>".

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "alts_ondemand/version.h"
#include "tools/hpack_conformance/story.h"

namespace {

constexpr char kUsage[] =
    "usage: hpack_conformance DIR...\n"
    "Decodes every hpack-test-case story (*.json) under each DIR and checks\n"
    "each case's decoded header list. Exit: 0 all OK, 1 mismatch or error,\n"
    "2 bad usage.\n";

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--version") {
      std::printf("hpack_conformance %s\n", alts::kVersion);
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "hpack_conformance: unknown option %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
    dirs.push_back(arg);
  }
  if (dirs.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }

  size_t cases = 0, ok = 0, errors = 0;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      std::printf("%s: not a directory\n", dir.c_str());
      ++errors;
      continue;
    }
    std::vector<std::string> files;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && it->path().extension() == ".json") {
        files.push_back(it->path().string());
      }
    }
    if (ec) {
      std::printf("%s: %s\n", dir.c_str(), ec.message().c_str());
      ++errors;
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
      absl::StatusOr<alts::hpack::story::Story> story = alts::hpack::story::Load(file);
      if (!story.ok()) {
        std::printf("%s\n", std::string(story.status().message()).c_str());
        ++errors;
        continue;
      }
      const alts::hpack::story::Result r = alts::hpack::story::CheckDecode(*story);
      for (const std::string& m : r.mismatches) std::printf("%s\n", m.c_str());
      cases += r.cases;
      ok += r.ok;
    }
  }
  std::printf("hpack: %zu/%zu cases OK\n", ok, cases);
  return (ok == cases && errors == 0) ? 0 : 1;
}
