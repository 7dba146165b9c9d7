#include "rpc/wire.h"

#include <array>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace alts::rpc {

absl::StatusCode StatusCodeFromGrpc(int64_t code) {
  if (code < 0 || code > 16) return absl::StatusCode::kUnknown;
  return static_cast<absl::StatusCode>(code);
}

absl::StatusCode ParseGrpcStatus(absl::string_view value) {
  int64_t code = 0;
  if (value.empty() || value.size() > 2 || !absl::SimpleAtoi(value, &code)) {
    return absl::StatusCode::kUnknown;
  }
  for (char c : value) {
    if (c < '0' || c > '9') return absl::StatusCode::kUnknown;
  }
  return StatusCodeFromGrpc(code);
}

absl::StatusCode StatusCodeFromHttp(int http_status) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInternal;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::StatusCode StatusCodeFromHttp2Error(http2::ErrorCode code) {
  switch (code) {
    case http2::ErrorCode::kRefusedStream:
      return absl::StatusCode::kUnavailable;
    case http2::ErrorCode::kCancel:
      return absl::StatusCode::kCancelled;
    case http2::ErrorCode::kEnhanceYourCalm:
      return absl::StatusCode::kResourceExhausted;
    case http2::ErrorCode::kInadequateSecurity:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

std::string PercentEncode(absl::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (unsigned char c : message) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string PercentDecode(absl::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      const int hi = HexValue(encoded[i + 1]), lo = HexValue(encoded[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(encoded[i]);
  }
  return out;
}

std::string EncodeTimeout(absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) return "1n";
  constexpr double kMax = 99999999;  // 8 digits
  struct Unit {
    absl::Duration d;
    char c;
  };
  static const std::array<Unit, 6> kUnits = {{{absl::Nanoseconds(1), 'n'},
                                              {absl::Microseconds(1), 'u'},
                                              {absl::Milliseconds(1), 'm'},
                                              {absl::Seconds(1), 'S'},
                                              {absl::Minutes(1), 'M'},
                                              {absl::Hours(1), 'H'}}};
  for (const Unit& u : kUnits) {
    // Rounded up, so the peer never sees a shorter deadline than ours.
    const double value = std::ceil(absl::FDivDuration(timeout, u.d));
    if (value <= kMax) return absl::StrCat(static_cast<int64_t>(value), std::string(1, u.c));
  }
  return "99999999H";
}

std::optional<absl::Duration> ParseTimeout(absl::string_view value) {
  if (value.size() < 2 || value.size() > 9) return std::nullopt;
  const char unit = value.back();
  absl::string_view digits = value.substr(0, value.size() - 1);
  int64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  switch (unit) {
    case 'H': return absl::Hours(n);
    case 'M': return absl::Minutes(n);
    case 'S': return absl::Seconds(n);
    case 'm': return absl::Milliseconds(n);
    case 'u': return absl::Microseconds(n);
    case 'n': return absl::Nanoseconds(n);
    default: return std::nullopt;
  }
}

bool IsReservedHeader(absl::string_view name) {
  if (name.empty() || name[0] == ':') return true;
  static constexpr absl::string_view kReserved[] = {
      "content-type", "te", "user-agent", "host", "connection", "keep-alive", "proxy-connection",
      "transfer-encoding", "upgrade", "grpc-status", "grpc-message", "grpc-status-details-bin",
      "grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "grpc-message-type",
      "grpc-previous-rpc-attempts", "grpc-retry-pushback-ms", "grpc-tags-bin",
      "grpc-trace-bin", "content-length"};
  for (absl::string_view r : kReserved) {
    if (name == r) return true;
  }
  return false;
}

std::optional<absl::string_view> Metadata::Get(absl::string_view key) const {
  for (const Entry& e : entries_) {
    if (e.first == key) return absl::string_view(e.second);
  }
  return std::nullopt;
}

std::vector<absl::string_view> Metadata::GetAll(absl::string_view key) const {
  std::vector<absl::string_view> out;
  for (const Entry& e : entries_) {
    if (e.first == key) out.push_back(e.second);
  }
  return out;
}

absl::Status ValidateMetadata(const Metadata& metadata) {
  for (const auto& [key, value] : metadata.entries()) {
    if (key.empty()) return absl::InternalError("metadata key is empty");
    for (char c : key) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                      c == '.';
      if (!ok) return absl::InternalError(absl::StrCat("invalid metadata key '", key, "'"));
    }
    if (IsReservedHeader(key)) {
      return absl::InternalError(absl::StrCat("metadata key '", key, "' is reserved"));
    }
    if (IsBinaryHeader(key)) continue;
    for (unsigned char c : value) {
      if (c < 0x20 || c > 0x7e) {
        return absl::InternalError(absl::StrCat("invalid character in metadata value of '", key, "'"));
      }
    }
    if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) {
      return absl::InternalError(absl::StrCat("metadata value of '", key, "' has outer spaces"));
    }
  }
  return absl::OkStatus();
}

std::string EncodeBinaryHeader(absl::string_view raw) {
  std::string out = absl::Base64Escape(raw);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return out;
}

std::optional<std::string> DecodeBinaryHeader(absl::string_view encoded) {
  std::string padded(encoded);
  while (!padded.empty() && padded.back() == '=') padded.pop_back();
  if (padded.size() % 4 == 1) return std::nullopt;
  while (padded.size() % 4 != 0) padded.push_back('=');
  std::string out;
  if (!absl::Base64Unescape(padded, &out)) return std::nullopt;
  return out;
}

}  // namespace alts::rpc
