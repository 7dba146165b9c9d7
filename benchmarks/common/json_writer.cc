#include "benchmarks/common/json_writer.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace alts::bench {

std::string JsonQuote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('"');
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

JsonRow& JsonRow::AddRaw(std::string_view key, std::string_view json_value) {
  if (!fields_.empty()) fields_.push_back(',');
  fields_ += JsonQuote(key);
  fields_.push_back(':');
  fields_.append(json_value.data(), json_value.size());
  return *this;
}

JsonRow& JsonRow::AddString(std::string_view key, std::string_view value) {
  return AddRaw(key, JsonQuote(value));
}

JsonRow& JsonRow::AddInt(std::string_view key, int64_t value) {
  return AddRaw(key, absl::StrCat(value));
}

JsonRow& JsonRow::AddUint(std::string_view key, uint64_t value) {
  return AddRaw(key, absl::StrCat(value));
}

JsonRow& JsonRow::AddDouble(std::string_view key, double value) {
  if (!std::isfinite(value)) return AddRaw(key, "null");
  // Shortest form that reads back as the same double; kMaxDoubleChars
  // covers the longest such form (24 characters, e.g. -2.2250738585072014e-308).
  constexpr size_t kMaxDoubleChars = 32;
  char buf[kMaxDoubleChars];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), value);
  return AddRaw(key, std::string_view(buf, r.ptr - buf));
}

JsonRow& JsonRow::AddDoubleArray(std::string_view key, const std::vector<double>& values) {
  // Each element is formatted by AddDouble on a scratch row, then unwrapped.
  std::string array = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    JsonRow element;
    element.AddDouble("", values[i]);
    const std::string text = element.ToString();  // {"":<number>}
    absl::StrAppend(&array, i > 0 ? "," : "", text.substr(4, text.size() - 5));
  }
  array.push_back(']');
  return AddRaw(key, array);
}

JsonRow& JsonRow::AddBool(std::string_view key, bool value) {
  return AddRaw(key, value ? "true" : "false");
}

std::string JsonRow::ToString() const { return absl::StrCat("{", fields_, "}"); }

std::string JsonResults::ToString() const {
  std::string out = "{\"results\":[";
  for (size_t i = 0; i < rows_.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, rows_[i].ToString());
  }
  out += "]}\n";
  return out;
}

absl::Status JsonResults::WriteToFile(const std::string& path) const {
  const std::string text = ToString();
  const bool to_stdout = path == "-";
  FILE* file = to_stdout ? stdout : std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::ErrnoToStatus(errno, absl::StrCat("open ", path));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), file) ==
                       text.size();
  const int write_errno = errno;
  const bool closed = to_stdout ? std::fflush(file) == 0 : std::fclose(file) == 0;
  if (!written || !closed) {
    return absl::ErrnoToStatus(written ? errno : write_errno,
                               absl::StrCat("write ", path));
  }
  return absl::OkStatus();
}

}  // namespace alts::bench
