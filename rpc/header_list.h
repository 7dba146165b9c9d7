#ifndef ALTS_RPC_HEADER_LIST_H_
#define ALTS_RPC_HEADER_LIST_H_

#include <deque>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "http2/hpack/header_field.h"
#include "rpc/wire.h"

namespace alts::rpc {

// HeaderList builds one header block to submit: views of strings that
// outlive the submit, plus strings it owns (formatted values). One per
// thread (ThreadHeaderList), reused, so steady-state calls allocate nothing
// for their headers. Build and submit without running other code between.
class HeaderList {
 public:
  void Clear() {
    fields_.clear();
    owned_used_ = 0;
  }
  // Add appends a field whose strings outlive the submit.
  void Add(absl::string_view name, absl::string_view value,
           hpack::Indexing indexing = hpack::Indexing::kAuto) {
    fields_.push_back({name, value, indexing});
  }
  // AddOwned appends a field whose value the list keeps.
  void AddOwned(absl::string_view name, std::string value,
                hpack::Indexing indexing = hpack::Indexing::kAuto) {
    if (owned_used_ == owned_.size()) owned_.emplace_back();
    std::string& slot = owned_[owned_used_++];
    slot.assign(value);  // keeps the slot's capacity from earlier blocks
    fields_.push_back({name, slot, indexing});
  }
  // AddMetadata appends custom metadata ("-bin" values base64-encoded).
  void AddMetadata(const Metadata& md) {
    for (const auto& [key, value] : md.entries()) {
      if (IsBinaryHeader(key)) {
        AddOwned(key, EncodeBinaryHeader(value), hpack::Indexing::kWithout);
      } else {
        Add(key, value);
      }
    }
  }
  absl::Span<const hpack::HeaderField> fields() const { return fields_; }

 private:
  std::vector<hpack::HeaderField> fields_;
  std::deque<std::string> owned_;  // a deque keeps views into its strings valid
  size_t owned_used_ = 0;
};

// ThreadHeaderList returns the calling thread's builder, cleared.
inline HeaderList& ThreadHeaderList() {
  thread_local HeaderList list;
  list.Clear();
  return list;
}

// ReceivedMetadata fills `out` with the custom metadata of a received block:
// every regular field that is not reserved, "-bin" values decoded (entries
// that do not decode are dropped, as gRPC does).
inline void ReceivedMetadata(absl::Span<const hpack::HeaderField> fields, Metadata* out) {
  for (const hpack::HeaderField& f : fields) {
    if (f.name.empty() || f.name[0] == ':' || IsReservedHeader(f.name)) continue;
    if (IsBinaryHeader(f.name)) {
      std::optional<std::string> raw = DecodeBinaryHeader(f.value);
      if (raw.has_value()) out->Add(std::string(f.name), std::move(*raw));
      continue;
    }
    out->Add(std::string(f.name), std::string(f.value));
  }
}

}  // namespace alts::rpc

#endif  // ALTS_RPC_HEADER_LIST_H_
