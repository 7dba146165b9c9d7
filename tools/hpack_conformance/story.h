#ifndef ALTS_TOOLS_HPACK_CONFORMANCE_STORY_H_
#define ALTS_TOOLS_HPACK_CONFORMANCE_STORY_H_

// Reading and checking hpack-test-case stories (the format is described in
// tests/data/hpack-test-case/README.md): one JSON file per story, whose
// cases share one compression context. Header-only: the hpack_conformance
// tool and the corpus tests use it.

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "http2/hpack/decoder.h"
#include "nlohmann/json.hpp"

namespace alts::hpack::story {

// HeaderList is one case's header list: order and duplicates matter.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case is one header block of a story.
struct Case {
  int64_t seqno = 0;
  // header_table_size is the SETTINGS_HEADER_TABLE_SIZE acknowledged just
  // before this case, if the case says (null and absent mean "unchanged").
  std::optional<uint32_t> header_table_size;
  // wire is the encoded block (absent in raw-data stories).
  std::optional<std::vector<uint8_t>> wire;
  HeaderList headers;
};

// Story is one story file.
struct Story {
  std::string path;
  std::vector<Case> cases;
};

// ParseHex decodes an even number of hex digits, or returns nullopt.
inline std::optional<std::vector<uint8_t>> ParseHex(absl::string_view hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

// Load reads a story file. Returns kNotFound if it cannot be read,
// kInvalidArgument (naming the file) if it is not a story.
inline absl::StatusOr<Story> Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json doc =
      nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  auto bad = [&path](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  };
  if (doc.is_discarded()) return bad("not JSON");
  if (!doc.is_object() || !doc.contains("cases") || !doc["cases"].is_array()) {
    return bad("no \"cases\" array");
  }
  Story story;
  story.path = path;
  for (const nlohmann::json& c : doc["cases"]) {
    if (!c.is_object()) return bad("a case is not an object");
    Case out;
    out.seqno = static_cast<int64_t>(story.cases.size());
    if (c.contains("seqno") && c["seqno"].is_number_integer()) out.seqno = c["seqno"].get<int64_t>();
    if (c.contains("header_table_size") && !c["header_table_size"].is_null()) {
      if (!c["header_table_size"].is_number_unsigned() ||
          c["header_table_size"].get<uint64_t>() > UINT32_MAX) {
        return bad(absl::StrCat("case ", out.seqno, ": bad header_table_size"));
      }
      out.header_table_size = c["header_table_size"].get<uint32_t>();
    }
    if (c.contains("wire")) {
      if (!c["wire"].is_string()) return bad(absl::StrCat("case ", out.seqno, ": wire not a string"));
      const std::string& hex = c["wire"].get_ref<const std::string&>();
      std::optional<std::vector<uint8_t>> wire = ParseHex(hex);
      if (!wire) return bad(absl::StrCat("case ", out.seqno, ": wire is not hex"));
      out.wire = std::move(*wire);
    }
    if (!c.contains("headers") || !c["headers"].is_array()) {
      return bad(absl::StrCat("case ", out.seqno, ": no headers array"));
    }
    for (const nlohmann::json& h : c["headers"]) {
      if (!h.is_object() || h.size() != 1 || !h.begin().value().is_string()) {
        return bad(absl::StrCat("case ", out.seqno, ": a header is not {name: value}"));
      }
      out.headers.emplace_back(h.begin().key(), h.begin().value().get<std::string>());
    }
    story.cases.push_back(std::move(out));
  }
  return story;
}

// Result is what checking a story's wire found.
struct Result {
  size_t cases = 0;  // cases with a wire
  size_t ok = 0;     // of those, decoded to exactly their list
  std::vector<std::string> mismatches;  // one line per failed case
};

// FirstTableSize returns the SETTINGS_HEADER_TABLE_SIZE a story starts
// with (its first case's, else the default).
inline uint32_t FirstTableSize(const Story& story) {
  if (!story.cases.empty() && story.cases[0].header_table_size) {
    return *story.cases[0].header_table_size;
  }
  return kDefaultHeaderTableSize;
}

// FormatList prints a list briefly, for mismatch lines.
inline std::string FormatList(const HeaderList& list) {
  std::string s = "[";
  for (const auto& [n, v] : list) {
    absl::StrAppend(&s, s.size() > 1 ? ", " : "", absl::CHexEscape(n), ": ", absl::CHexEscape(v));
  }
  return s + "]";
}

// CheckDecode decodes every case with a wire through one Decoder, as the
// README says: the first case's header_table_size is in force from the
// start, a later one is acknowledged just before its case.
inline Result CheckDecode(const Story& story) {
  Result r;
  Decoder decoder(FirstTableSize(story));
  for (size_t i = 0; i < story.cases.size(); ++i) {
    const Case& c = story.cases[i];
    if (i > 0 && c.header_table_size) decoder.SetMaxTableSize(*c.header_table_size);
    if (!c.wire) continue;
    ++r.cases;
    HeaderList got;
    absl::Status s = decoder.Decode(*c.wire, ~size_t{0}, [&got](absl::string_view n, absl::string_view v) {
      got.emplace_back(std::string(n), std::string(v));
      return absl::OkStatus();
    });
    if (!s.ok()) {
      r.mismatches.push_back(absl::StrCat(story.path, ": case ", c.seqno, ": ", s.ToString()));
    } else if (got != c.headers) {
      r.mismatches.push_back(absl::StrCat(story.path, ": case ", c.seqno, ": decoded ",
                                          FormatList(got), ", want ", FormatList(c.headers)));
    } else {
      ++r.ok;
    }
  }
  return r;
}

}  // namespace alts::hpack::story

#endif  // ALTS_TOOLS_HPACK_CONFORMANCE_STORY_H_
