// Handshake message parsing: the framing reader fed in pieces (the first
// byte picks the piece size), then every complete message through the
// ClientInit / ServerInit parsers and the PEM-like credential file decoder.
#include <algorithm>
#include <cstdint>
#include <string>

#include "handshaker/credential_file.h"
#include "handshaker/handshake_message.h"

namespace alts {
namespace {

void RunOne(const uint8_t* data, size_t size) {
  const size_t piece = 1 + data[0] % 64;
  absl::Span<const uint8_t> in(data + 1, size - 1);
  MessageReader reader;
  size_t offset = 0;
  while (offset < in.size()) {
    const size_t n = std::min(piece, in.size() - offset);
    absl::Span<const uint8_t> chunk = in.subspan(offset, n);
    size_t used = 0;
    while (used < chunk.size()) {
      absl::StatusOr<size_t> consumed = reader.Consume(chunk.subspan(used));
      if (!consumed.ok()) return;
      if (*consumed == 0) __builtin_trap();  // must always make progress
      used += *consumed;
      if (!reader.ready()) break;
      if (reader.message().size() != kMessageHeaderSize + reader.body().size() ||
          reader.body().size() > kMaxHandshakeMessageSize) {
        __builtin_trap();
      }
      handshake::ClientInit client_init;
      handshake::ServerInit server_init;
      (void)ParseClientInit(reader.body(), &client_init);
      (void)ParseServerInit(reader.body(), &server_init);
      std::string reframed;
      AppendRawMessage(reader.type(), reader.body(), &reframed);
      if (reframed.size() != reader.message().size() ||
          !std::equal(reframed.begin(), reframed.end(),
                      reinterpret_cast<const char*>(reader.message().data()))) {
        __builtin_trap();
      }
      reader.Reset();
    }
    offset += n;
  }
  if (reader.buffered() > kMessageHeaderSize + kMaxHandshakeMessageSize) __builtin_trap();
  (void)DecodePemBlocks(
      absl::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace
}  // namespace alts

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= 1) alts::RunOne(data, size);
  return 0;
}
