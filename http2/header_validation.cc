#include "http2/header_validation.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace alts::http2 {
namespace {

// kNameChar[c] is true for characters allowed in a regular field name:
// visible ASCII but uppercase letters and the colon (RFC 9113 8.2.1 with the
// token rule of RFC 9110 5.1 left to the application).
constexpr std::array<bool, 256> MakeNameTable() {
  std::array<bool, 256> t{};
  for (int c = 0x21; c < 0x7f; ++c) t[c] = !(c >= 'A' && c <= 'Z') && c != ':';
  return t;
}
constexpr std::array<bool, 256> kNameChar = MakeNameTable();

bool IsDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

absl::Status Malformed(absl::string_view what, absl::string_view name) {
  return absl::InvalidArgumentError(absl::StrCat("malformed header block: ", what, " (", name, ")"));
}

}  // namespace

bool ValidFieldName(absl::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    if (!kNameChar[c]) return false;
  }
  return true;
}

bool ValidFieldValue(absl::string_view value) {
  for (unsigned char c : value) {
    if (c == 0 || c == '\r' || c == '\n') return false;
  }
  if (!value.empty()) {
    const char first = value.front(), last = value.back();
    if (first == ' ' || first == '\t' || last == ' ' || last == '\t') return false;
  }
  return true;
}

absl::Status ValidateHeaderBlock(HeaderBlockKind kind,
                                 absl::Span<const hpack::HeaderField> fields,
                                 PseudoHeaders* out) {
  *out = PseudoHeaders();
  bool regular_seen = false;
  // Bits of the pseudo-header fields seen, to refuse duplicates.
  enum : unsigned { kMethod = 1, kScheme = 2, kAuthority = 4, kPath = 8, kStatus = 16 };
  unsigned seen = 0;
  for (const hpack::HeaderField& f : fields) {
    const absl::string_view name = f.name;
    if (!ValidFieldValue(f.value)) return Malformed("invalid field value", name);
    if (!name.empty() && name[0] == ':') {
      if (regular_seen) return Malformed("pseudo-header field after a regular field", name);
      if (kind == HeaderBlockKind::kTrailers) return Malformed("pseudo-header field in trailers", name);
      unsigned bit = 0;
      absl::string_view* slot = nullptr;
      if (kind == HeaderBlockKind::kRequest) {
        if (name == ":method") {
          bit = kMethod, slot = &out->method;
        } else if (name == ":scheme") {
          bit = kScheme, slot = &out->scheme;
        } else if (name == ":authority") {
          bit = kAuthority, slot = &out->authority;
        } else if (name == ":path") {
          bit = kPath, slot = &out->path;
        }
      } else if (name == ":status") {
        bit = kStatus, slot = &out->status;
      }
      if (slot == nullptr) return Malformed("undefined pseudo-header field", name);
      if (seen & bit) return Malformed("repeated pseudo-header field", name);
      seen |= bit;
      *slot = f.value;
      continue;
    }
    regular_seen = true;
    if (!ValidFieldName(name)) return Malformed("invalid field name", name);
    switch (name.size()) {
      case 2:
        if (name == "te" && f.value != "trailers") return Malformed("te other than trailers", name);
        break;
      case 7:
        if (name == "upgrade") return Malformed("connection-specific field", name);
        break;
      case 10:
        if (name == "connection" || name == "keep-alive") {
          return Malformed("connection-specific field", name);
        }
        break;
      case 14:
        if (name == "content-length") {
          if (!IsDigits(f.value) || f.value.size() > 18) {
            return Malformed("content-length is not a number", name);
          }
          int64_t v = 0;
          for (char c : f.value) v = v * 10 + (c - '0');
          if (out->content_length >= 0 && out->content_length != v) {
            return Malformed("conflicting content-length values", name);
          }
          out->content_length = v;
        }
        break;
      case 16:
        if (name == "proxy-connection") return Malformed("connection-specific field", name);
        break;
      case 17:
        if (name == "transfer-encoding") return Malformed("connection-specific field", name);
        break;
      default:
        break;
    }
  }
  if (kind == HeaderBlockKind::kRequest) {
    if (!(seen & kMethod)) return Malformed("missing pseudo-header field", ":method");
    if (out->method == "CONNECT") {
      if ((seen & (kScheme | kPath)) || !(seen & kAuthority)) {
        return Malformed("CONNECT needs :authority and no :scheme or :path", ":method");
      }
    } else {
      if (!(seen & kScheme)) return Malformed("missing pseudo-header field", ":scheme");
      if (!(seen & kPath)) return Malformed("missing pseudo-header field", ":path");
      if (out->path.empty()) return Malformed("empty :path", ":path");
    }
  } else if (kind == HeaderBlockKind::kResponse) {
    if (!(seen & kStatus)) return Malformed("missing pseudo-header field", ":status");
    if (out->status.size() != 3 || !IsDigits(out->status)) {
      return Malformed(":status is not three digits", ":status");
    }
  }
  return absl::OkStatus();
}

}  // namespace alts::http2
