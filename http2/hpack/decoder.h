#ifndef ALTS_HTTP2_HPACK_DECODER_H_
#define ALTS_HTTP2_HPACK_DECODER_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "http2/hpack/dynamic_table.h"
#include "http2/hpack/header_field.h"

namespace alts::hpack {

// FieldCallback receives one decoded field; name and value are valid only
// during the call. Returning a non-OK status stops decoding (Decode returns
// that status; the dynamic table is then out of sync with the encoder, so the
// caller must treat it as a connection error).
using FieldCallback = absl::FunctionRef<absl::Status(absl::string_view name,
                                                     absl::string_view value)>;

// Decoder decodes HPACK header blocks (RFC 7541) of one direction of one
// connection. Its only persistent memory is the dynamic table, stored in
// space sized to the entries it holds (an empty table holds nothing);
// decoded strings are built in per-thread scratch space, never in per-
// decoder buffers. Not thread-safe; one decoder per connection direction.
class Decoder {
 public:
  // Decoder starts with `max_table_size` as the limit the encoder may use
  // (the SETTINGS_HEADER_TABLE_SIZE we advertise; at most
  // kMaxHeaderTableSize).
  explicit Decoder(uint32_t max_table_size = kDefaultHeaderTableSize);
  ~Decoder();
  Decoder(Decoder&&) noexcept;
  Decoder& operator=(Decoder&&) noexcept;
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // SetMaxTableSize changes the limit the encoder may use: call when a
  // SETTINGS frame changing our SETTINGS_HEADER_TABLE_SIZE is acknowledged.
  // The encoder must then open its next block with a size update at most
  // this large (RFC 7541 4.2); if it lowered the limit below the table's
  // size, entries are evicted at once.
  void SetMaxTableSize(uint32_t max_table_size);

  // Decode decodes one complete header block (the HEADERS/PUSH_PROMISE
  // payload plus its CONTINUATIONs, padding removed) and calls `on_field`
  // for each field in order.
  //
  // `max_header_list_size` bounds the decoded list (sum of FieldSize): it is
  // enforced while decoding, before any string is copied, so a small block
  // that would decode to a huge list costs nothing. Once the list is over the
  // limit, decoding goes on only to keep the dynamic table in sync (no more
  // fields are reported, no string is materialised unless the table keeps
  // it) and Decode returns kResourceExhausted at the end: the connection
  // stays usable and the caller refuses just that stream.
  //
  // Errors (all but kResourceExhausted leave the table out of sync: a
  // connection error, COMPRESSION_ERROR): kInvalidArgument for a malformed
  // block: index 0 or out of range, truncated integer or string, integer
  // overflow, invalid Huffman (EOS, padding longer than 7 bits or not all
  // ones), a size update above the limit or not at the start of the block,
  // or a missing size update the limit change requires; the callback's own
  // status if it fails.
  absl::Status Decode(absl::Span<const uint8_t> block, size_t max_header_list_size,
                      FieldCallback on_field);

  // max_table_size returns the current limit.
  uint32_t max_table_size() const;
  // table_size returns the dynamic table's size (RFC 7541 4.1 accounting).
  size_t table_size() const;
  // entry_count returns the number of dynamic table entries.
  size_t entry_count() const;
  // HeapBytes returns the heap bytes this decoder holds (its table storage).
  size_t HeapBytes() const;
  // ShrinkToFit gives back table storage beyond what the entries need
  // (storage grows with slack so that insertions rarely reallocate): call
  // it when the connection goes idle. Costs one reallocation, none if
  // already tight.
  void ShrinkToFit() { table_.ShrinkToFit(); }

 private:
  // DecodeBlock is Decode but for the limit: a list over it sets
  // *over_limit_size to the list's size and returns OK.
  absl::Status DecodeBlock(absl::Span<const uint8_t> block, size_t max_header_list_size,
                           FieldCallback on_field, size_t* over_limit_size);

  DynamicTable table_;
  // limit_ is the SETTINGS_HEADER_TABLE_SIZE in force (what a size update
  // may ask for); table_.max_size() is what the encoder last chose.
  uint32_t limit_;
  // required_max_ is the smallest limit set since the last block, when a
  // lowered limit obliges the next block to open with a size update.
  uint32_t required_max_ = 0;
  bool update_required_ = false;
  // status_ is the first error that left the table out of sync; Decode
  // returns it from then on.
  absl::Status status_;
};

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_DECODER_H_
