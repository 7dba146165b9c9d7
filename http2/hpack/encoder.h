#ifndef ALTS_HTTP2_HPACK_ENCODER_H_
#define ALTS_HTTP2_HPACK_ENCODER_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"
#include "http2/hpack/dynamic_table.h"
#include "http2/hpack/header_field.h"

namespace alts::hpack {

// Encoder encodes HPACK header blocks (RFC 7541) for one direction of one
// connection. Its only persistent memory is the dynamic table, stored in
// space sized to the entries it holds. Strings are Huffman-coded when that
// is shorter. Not thread-safe.
class Encoder {
 public:
  // Encoder starts with the default table size both sides assume
  // (kDefaultHeaderTableSize), capped at `own_max_table_size` (the most this
  // encoder is willing to keep, at most kMaxHeaderTableSize; if below the
  // default, the first block opens with a size update).
  explicit Encoder(uint32_t own_max_table_size = kDefaultHeaderTableSize);
  ~Encoder();
  Encoder(Encoder&&) noexcept;
  Encoder& operator=(Encoder&&) noexcept;
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // SetPeerMaxTableSize records the peer's SETTINGS_HEADER_TABLE_SIZE. The
  // encoder uses min(peer, own cap); if that changes the table size it will
  // use, the next block opens with the size update(s) RFC 7541 4.2 requires
  // (the smallest value seen since the last block, then the final one).
  void SetPeerMaxTableSize(uint32_t peer_max_table_size);

  // MaxEncodedSize returns an upper bound on the bytes Encode writes for
  // `fields` (including any pending size update).
  size_t MaxEncodedSize(absl::Span<const HeaderField> fields) const;

  // Encode writes the header block for `fields`, in order, to `out`, which
  // must hold at least MaxEncodedSize(fields) bytes, and returns the bytes
  // written. Names must already be lowercase (HTTP/2 requires it; the
  // encoder does not change them). Never fails.
  size_t Encode(absl::Span<const HeaderField> fields, absl::Span<uint8_t> out);

  // SetUseHuffman turns Huffman coding on (the default: each string is
  // Huffman-coded when that is strictly shorter) or off (strings are always
  // raw, e.g. to reproduce fixed byte sequences).
  void SetUseHuffman(bool use_huffman) { huffman_ = use_huffman; }

  // table_size returns the dynamic table's size (RFC 7541 4.1 accounting).
  size_t table_size() const;
  // entry_count returns the number of dynamic table entries.
  size_t entry_count() const { return table_.entry_count(); }
  // max_table_size returns the size limit the encoder uses now.
  uint32_t max_table_size() const;
  // HeapBytes returns the heap bytes this encoder holds (its table storage).
  size_t HeapBytes() const;
  // ShrinkToFit gives back table storage beyond what the entries need
  // (storage grows with slack so that insertions rarely reallocate): call
  // it when the connection goes idle. Costs one reallocation, none if
  // already tight.
  void ShrinkToFit() { table_.ShrinkToFit(); }

 private:
  uint8_t* EncodeField(const HeaderField& field, uint8_t* out);
  Indexing AutoIndexing(const HeaderField& field, uint32_t name_hash, bool name_indexed) const;

  DynamicTable table_;
  // own_max_ caps the table size whatever the peer allows.
  uint32_t own_max_;
  // pending_min_ is the smallest size used since the last block, when
  // pending_update_ says the next block must open with size updates.
  uint32_t pending_min_ = 0;
  bool pending_update_ = false;
  bool huffman_ = true;
};

}  // namespace alts::hpack

#endif  // ALTS_HTTP2_HPACK_ENCODER_H_
