#ifndef ALTS_BENCHMARKS_COMMON_JSON_WRITER_H_
#define ALTS_BENCHMARKS_COMMON_JSON_WRITER_H_

// A minimal JSON writer for benchmark results: a document
// {"results":[{...},{...}]} whose rows hold string, number and boolean
// fields in insertion order.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace alts::bench {

// JsonQuote returns `text` as a JSON string literal, quotes included:
// '"' and '\\' are escaped, control characters become \n, \t, ... or
// \u00XX. Other bytes (UTF-8 included) are copied as they are.
std::string JsonQuote(std::string_view text);

// JsonRow is one JSON object. Keys are not checked for duplicates.
class JsonRow {
 public:
  // AddString adds a string field. Returns *this for chaining.
  JsonRow& AddString(std::string_view key, std::string_view value);
  // AddInt adds a signed integer field.
  JsonRow& AddInt(std::string_view key, int64_t value);
  // AddUint adds an unsigned integer field.
  JsonRow& AddUint(std::string_view key, uint64_t value);
  // AddDouble adds a number in shortest round-trip form; NaN and infinities,
  // which JSON cannot represent, are written as null.
  JsonRow& AddDouble(std::string_view key, double value);
  // AddBool adds true or false.
  JsonRow& AddBool(std::string_view key, bool value);
  // AddDoubleArray adds an array of numbers, each as AddDouble writes it.
  JsonRow& AddDoubleArray(std::string_view key, const std::vector<double>& values);

  // ToString returns the object, e.g. {"name":"x","ops":12}.
  std::string ToString() const;

  // empty returns true if no field was added.
  bool empty() const { return fields_.empty(); }

 private:
  JsonRow& AddRaw(std::string_view key, std::string_view json_value);

  // fields_ holds "key":value pairs separated by commas.
  std::string fields_;
};

// JsonResults collects rows into the results document.
class JsonResults {
 public:
  // Add appends a row.
  void Add(JsonRow row) { rows_.push_back(std::move(row)); }

  // size returns the number of rows.
  size_t size() const { return rows_.size(); }

  // ToString returns {"results":[row,row,...]} followed by a newline.
  std::string ToString() const;

  // WriteToFile writes ToString() to `path`, or to stdout if path is "-".
  // Returns the errno-derived status if the file cannot be written (e.g.
  // kNotFound for a missing directory).
  absl::Status WriteToFile(const std::string& path) const;

 private:
  std::vector<JsonRow> rows_;
};

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_JSON_WRITER_H_
