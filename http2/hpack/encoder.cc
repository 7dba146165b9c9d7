#include "http2/hpack/encoder.h"

#include <algorithm>

#include "http2/hpack/name_hash.h"
#include "http2/hpack/primitives.h"
#include "http2/hpack/static_table.h"

namespace alts::hpack {
namespace {

// kMaxIndexSize is the longest encoding of any index we write (static plus
// the most entries a kMaxHeaderTableSize table holds) in the smallest
// prefix, 4 bits.
constexpr size_t kMaxIndexSize = IntegerSize(kStaticTableSize + kMaxHeaderTableSize / kEntryOverhead, 4);

// kMaxUpdateSize is the longest table size update.
constexpr size_t kMaxUpdateSize = IntegerSize(kMaxHeaderTableSize, 5);

// kShortCookieLength: cookies shorter than this are never indexed, as
// short secrets are the ones a compression oracle can guess (RFC 7541
// 7.1.3).
constexpr size_t kShortCookieLength = 20;

struct KnownName {
  absl::string_view name;
  uint32_t hash;
};

constexpr KnownName Known(absl::string_view name) { return KnownName{name, HashName(name)}; }

// kVolatileNames are fields whose values change from one block to the next
// (lengths, deadlines, validators, dates of one resource, redirect targets,
// cookies being set): indexing them would only evict entries that repeat.
constexpr KnownName kVolatileNames[] = {
    Known("grpc-timeout"), Known("content-length"),    Known("age"),
    Known("etag"),         Known("if-modified-since"), Known("if-none-match"),
    Known("location"),     Known("set-cookie"),
};

// kSecretNames are never indexed (RFC 7541 7.1.3), and intermediaries are
// told so.
constexpr KnownName kSecretNames[] = {Known("authorization"), Known("proxy-authorization")};

constexpr KnownName kCookie = Known("cookie");
constexpr KnownName kPath = Known(":path");

bool Is(const KnownName& known, absl::string_view name, uint32_t hash) {
  return known.hash == hash && known.name == name;
}

}  // namespace

Encoder::Encoder(uint32_t own_max_table_size)
    : table_(std::min({own_max_table_size, kMaxHeaderTableSize, kDefaultHeaderTableSize})),
      own_max_(std::min(own_max_table_size, kMaxHeaderTableSize)) {
  if (own_max_ < kDefaultHeaderTableSize) {
    pending_update_ = true;
    pending_min_ = own_max_;
  }
}

Encoder::~Encoder() = default;
Encoder::Encoder(Encoder&&) noexcept = default;
Encoder& Encoder::operator=(Encoder&&) noexcept = default;

void Encoder::SetPeerMaxTableSize(uint32_t peer_max_table_size) {
  const uint32_t size = std::min(peer_max_table_size, own_max_);
  if (size == table_.max_size() && !pending_update_) return;
  pending_min_ = pending_update_ ? std::min(pending_min_, size) : size;
  pending_update_ = true;
  table_.SetMaxSize(size);
}

size_t Encoder::table_size() const { return table_.size(); }
uint32_t Encoder::max_table_size() const { return table_.max_size(); }
size_t Encoder::HeapBytes() const { return table_.HeapBytes(); }

size_t Encoder::MaxEncodedSize(absl::Span<const HeaderField> fields) const {
  size_t n = pending_update_ ? 2 * kMaxUpdateSize : 0;
  for (const HeaderField& f : fields) {
    n += kMaxIndexSize + MaxStringSize(f.name) + MaxStringSize(f.value);
  }
  return n;
}

size_t Encoder::Encode(absl::Span<const HeaderField> fields, absl::Span<uint8_t> out) {
  uint8_t* p = out.data();
  if (pending_update_) {
    // RFC 7541 4.2: the smallest size since the last block, then the
    // final one, so the decoder evicts exactly what we did.
    if (pending_min_ < table_.max_size()) p = EncodeInteger(p, 0x20, 5, pending_min_);
    p = EncodeInteger(p, 0x20, 5, table_.max_size());
    pending_update_ = false;
  }
  for (const HeaderField& f : fields) p = EncodeField(f, p);
  return static_cast<size_t>(p - out.data());
}

Indexing Encoder::AutoIndexing(const HeaderField& field, uint32_t name_hash,
                               bool name_indexed) const {
  for (const KnownName& k : kSecretNames) {
    if (Is(k, field.name, name_hash)) return Indexing::kNever;
  }
  if (Is(kCookie, field.name, name_hash) && field.value.size() < kShortCookieLength) {
    return Indexing::kNever;
  }
  // A field taking over half the table would evict most of what the next
  // blocks reference.
  if (FieldSize(field.name, field.value) > table_.max_size() / 2) return Indexing::kWithout;
  bool is_volatile = Is(kPath, field.name, name_hash) &&
                     field.value.find('?') != absl::string_view::npos;  // queries vary
  for (const KnownName& k : kVolatileNames) {
    if (is_volatile) break;
    is_volatile = Is(k, field.name, name_hash);
  }
  // A volatile field whose name no table holds is indexed once, so that
  // the blocks after it can refer to the name (grpc-timeout on every call).
  if (is_volatile) return name_indexed ? Indexing::kWithout : Indexing::kIncremental;
  return Indexing::kIncremental;
}

uint8_t* Encoder::EncodeField(const HeaderField& field, uint8_t* out) {
  const uint32_t hash = HashName(field.name);
  const StaticMatch in_static = FindStatic(field.name, field.value, hash);
  Indexing indexing = field.indexing;
  const bool may_index = indexing == Indexing::kAuto || indexing == Indexing::kIncremental;
  if (may_index && in_static.exact != 0) return EncodeInteger(out, 0x80, 7, in_static.exact);
  const DynamicTable::Match in_table = table_.Find(field.name, field.value, hash);
  if (may_index && in_table.exact != 0) {
    return EncodeInteger(out, 0x80, 7, kStaticTableSize + in_table.exact);
  }
  // Static names first: their indices are small and never go stale.
  const uint32_t name_index = in_static.name != 0  ? in_static.name
                              : in_table.name != 0 ? kStaticTableSize + in_table.name
                                                   : 0;
  if (indexing == Indexing::kAuto) indexing = AutoIndexing(field, hash, name_index != 0);
  if (indexing == Indexing::kIncremental &&
      FieldSize(field.name, field.value) > table_.max_size()) {
    // Inserting it would only empty the table (RFC 7541 4.4).
    indexing = Indexing::kWithout;
  }
  switch (indexing) {
    case Indexing::kAuto:
    case Indexing::kIncremental:
      out = EncodeInteger(out, 0x40, 6, name_index);
      break;
    case Indexing::kWithout:
      out = EncodeInteger(out, 0x00, 4, name_index);
      break;
    case Indexing::kNever:
      out = EncodeInteger(out, 0x10, 4, name_index);
      break;
  }
  if (name_index == 0) out = EncodeString(out, field.name, huffman_);
  out = EncodeString(out, field.value, huffman_);
  if (indexing == Indexing::kIncremental) table_.Insert(field.name, field.value, hash);
  return out;
}

}  // namespace alts::hpack
