// Fuzzes RecordProtector::OpenNext, both protocols and both sides, with the
// spec's fixed keys (so the spec frames in the seed corpus are genuine).
//
// Input byte 0 picks the mode (bit 0), protocol (bit 1), side (bit 2) and
// byte-at-a-time feeding (bit 3).
//
// Stream mode (bit 0 clear): byte 1 is a count k (mod 9) of split points,
// then k little-endian 16-bit piece sizes, then the byte stream itself, fed
// to OpenNext in those pieces (then whatever is left in one piece).
//
// Ops mode (bit 0 set): byte 1 picks the max frame size; then a list of ops
// builds the stream from frames the peer really sealed (a round trip of
// fuzzer plaintext), raw bytes, bit flips, replays and feed points. Whatever
// the stream, the plaintext delivered must be a prefix of what the peer
// sealed: no forged, replayed or reordered byte ever gets through.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "alts/record_protector.h"
#include "alts/record_protocol.h"
#include "frame/frame_format.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

// Spec section 5.2 keys.
constexpr uint8_t kKeyA[16] = {0x1f, 0x8b, 0x08, 0x00, 0x00, 0x09, 0x6e, 0x88,
                               0x02, 0xff, 0xe2, 0xd2, 0x4c, 0xce, 0x4f, 0x49};

std::vector<uint8_t> KeyFor(alts::RecordProtocol protocol) {
  if (protocol == alts::RecordProtocol::kAes128Gcm) {
    return std::vector<uint8_t>(kKeyA, kKeyA + sizeof(kKeyA));
  }
  std::vector<uint8_t> key(44);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  return key;
}

// Reader is the layer above OpenNext: a buffer that grows as bytes arrive.
class Reader {
 public:
  explicit Reader(alts::RecordProtector& protector) : protector_(protector) {}

  void Feed(absl::Span<const uint8_t> bytes) {
    if (!status_.ok()) {
      // Sticky: once failed, every call fails the same way.
      absl::StatusOr<alts::OpenResult> again = protector_.OpenNext(absl::MakeSpan(buffer_));
      Check(!again.ok() && again.status().code() == status_.code());
      return;
    }
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
    size_t start = 0;
    while (true) {
      absl::Span<uint8_t> input = absl::MakeSpan(buffer_).subspan(start);
      absl::StatusOr<alts::OpenResult> r = protector_.OpenNext(input);
      if (!r.ok()) {
        status_ = r.status();
        Check(status_.code() == absl::StatusCode::kInvalidArgument ||
              status_.code() == absl::StatusCode::kDataLoss);
        break;
      }
      if (r->consumed == 0) {
        Check(r->bytes_needed > 0);
        Check(r->plaintext.empty());
        if (r->pending_frame_size != 0) {
          Check(r->pending_frame_size == input.size() + r->bytes_needed);
        }
        break;
      }
      Check(r->consumed >= alts::kMinFrameSize && r->consumed <= input.size());
      Check(r->plaintext.size() == r->consumed - alts::kFrameOverhead);
      Check(r->plaintext.data() == input.data() + alts::kFrameHeaderSize);
      plaintext_.insert(plaintext_.end(), r->plaintext.begin(), r->plaintext.end());
      start += r->consumed;
    }
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(start));
  }

  absl::Status Eof() {
    absl::Status eof = protector_.EndOfStream(buffer_);
    if (!status_.ok()) Check(eof.code() == status_.code());
    return eof;
  }

  const absl::Status& status() const { return status_; }
  const std::vector<uint8_t>& plaintext() const { return plaintext_; }

 private:
  alts::RecordProtector& protector_;
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> plaintext_;
  absl::Status status_;
};

// Input is a cursor over the fuzzer's bytes.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(data, size) {}
  bool empty() const { return rest_.empty(); }
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const uint8_t b = rest_[0];
    rest_.remove_prefix(1);
    return b;
  }
  uint16_t U16() { return static_cast<uint16_t>(Byte() | Byte() << 8); }
  absl::Span<const uint8_t> Bytes(size_t n) {
    n = std::min(n, rest_.size());
    absl::Span<const uint8_t> out = rest_.first(n);
    rest_.remove_prefix(n);
    return out;
  }
  absl::Span<const uint8_t> Rest() { return Bytes(rest_.size()); }

 private:
  absl::Span<const uint8_t> rest_;
};

void FeedInPieces(Reader& reader, absl::Span<const uint8_t> stream,
                  const std::vector<size_t>& points, bool byte_at_a_time) {
  if (byte_at_a_time) {
    for (size_t i = 0; i < stream.size(); ++i) reader.Feed(stream.subspan(i, 1));
    return;
  }
  size_t offset = 0;
  for (size_t point : points) {
    if (point < offset || point > stream.size()) continue;
    reader.Feed(stream.subspan(offset, point - offset));
    offset = point;
  }
  reader.Feed(stream.subspan(offset));
}

void StreamMode(Input& in, alts::RecordProtector& me, bool byte_at_a_time) {
  const size_t splits = in.Byte() % 9;
  std::vector<size_t> points;
  size_t at = 0;
  for (size_t i = 0; i < splits; ++i) {
    at += in.U16() % 2048;
    points.push_back(at);
  }
  const absl::Span<const uint8_t> stream = in.Rest();
  Reader reader(me);
  FeedInPieces(reader, stream, points, byte_at_a_time);
  const absl::Status eof = reader.Eof();
  // A stream that ends between frames with no error is a clean end.
  if (reader.status().ok() && !eof.ok()) {
    Check(eof.code() == absl::StatusCode::kDataLoss ||
          eof.code() == absl::StatusCode::kInvalidArgument);
  }
}

void OpsMode(Input& in, alts::RecordProtector& me, alts::RecordProtector& peer,
             bool byte_at_a_time) {
  std::vector<uint8_t> stream;
  std::vector<uint8_t> sealed_plaintext;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<size_t> points;
  bool tampered = false;
  std::vector<uint8_t> out;
  for (int ops = 0; ops < 64 && !in.empty(); ++ops) {
    switch (in.Byte() % 5) {
      case 0: {  // the peer seals fuzzer plaintext
        absl::Span<const uint8_t> msg = in.Bytes(in.U16() % 4096);
        out.resize(peer.SealedSize(msg.size()));
        absl::StatusOr<size_t> n = peer.Seal(msg, absl::MakeSpan(out));
        Check(n.ok() && *n == out.size());
        stream.insert(stream.end(), out.begin(), out.end());
        sealed_plaintext.insert(sealed_plaintext.end(), msg.begin(), msg.end());
        frames.push_back(out);
        break;
      }
      case 1: {  // raw bytes
        absl::Span<const uint8_t> raw = in.Bytes(in.Byte() % 65);
        stream.insert(stream.end(), raw.begin(), raw.end());
        tampered = tampered || !raw.empty();
        break;
      }
      case 2: {  // flip a bit
        if (stream.empty()) break;
        const size_t pos = in.U16() % stream.size();
        stream[pos] ^= static_cast<uint8_t>(1 << (in.Byte() % 8));
        tampered = true;
        break;
      }
      case 3: {  // replay an earlier sealed message
        if (frames.empty()) break;
        const std::vector<uint8_t>& again = frames[in.Byte() % frames.size()];
        stream.insert(stream.end(), again.begin(), again.end());
        tampered = true;
        break;
      }
      case 4:  // a read boundary here
        points.push_back(stream.size());
        break;
    }
  }
  Reader reader(me);
  FeedInPieces(reader, stream, points, byte_at_a_time);
  const absl::Status eof = reader.Eof();
  const std::vector<uint8_t>& got = reader.plaintext();
  Check(got.size() <= sealed_plaintext.size());
  Check(std::equal(got.begin(), got.end(), sealed_plaintext.begin()));
  if (!tampered) {
    Check(reader.status().ok() && eof.ok());
    Check(got == sealed_plaintext);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t flags = in.Byte();
  const bool ops_mode = flags & 1;
  const alts::RecordProtocol protocol =
      flags & 2 ? alts::RecordProtocol::kAes128GcmRekey : alts::RecordProtocol::kAes128Gcm;
  const alts::Side side = flags & 4 ? alts::Side::kClient : alts::Side::kServer;
  const alts::Side peer_side =
      side == alts::Side::kClient ? alts::Side::kServer : alts::Side::kClient;
  const bool byte_at_a_time = flags & 8;
  const std::vector<uint8_t> key = KeyFor(protocol);

  absl::StatusOr<alts::RecordProtector> me = alts::RecordProtector::Create(protocol, side, key);
  Check(me.ok());
  if (!ops_mode) {
    StreamMode(in, *me, byte_at_a_time);
    return 0;
  }
  const size_t max_frame_sizes[] = {alts::kMinMaxFrameSize, 100, 1024, alts::kDefaultMaxFrameSize};
  const size_t max_frame = max_frame_sizes[in.Byte() % 4];
  absl::StatusOr<alts::RecordProtector> peer =
      alts::RecordProtector::Create(protocol, peer_side, key, max_frame);
  Check(peer.ok());
  OpsMode(in, *me, *peer, byte_at_a_time);
  return 0;
}
