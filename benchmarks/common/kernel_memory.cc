#include "benchmarks/common/kernel_memory.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace alts::bench {
namespace {

// kMaxProcFileBytes bounds what is read of one /proc file; slabinfo is a
// few tens of KiB.
constexpr size_t kMaxProcFileBytes = 1 << 20;
// kDiagBufferSize: one recv of a sock_diag dump (the kernel fills it with
// as many messages as fit).
constexpr size_t kDiagBufferSize = 64 * 1024;
// kMaxDiagMessages bounds one dump, so a kernel that never says DONE cannot
// hang the benchmark.
constexpr int64_t kMaxDiagMessages = 10 * 1000 * 1000;

std::optional<std::string> ReadProcFile(const char* path) {
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return std::nullopt;
  std::string text;
  char buf[4096];
  size_t n;
  while (text.size() < kMaxProcFileBytes && (n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    text.append(buf, n);
  }
  std::fclose(f);
  return text;
}

}  // namespace

std::optional<SlabTotals> ParseSlabTotals(absl::string_view slabinfo,
                                          absl::Span<const absl::string_view> caches,
                                          int64_t page_size) {
  if (!absl::StartsWith(slabinfo, "slabinfo - version:")) return std::nullopt;
  SlabTotals totals;
  for (absl::string_view line : absl::StrSplit(slabinfo, '\n')) {
    // name active_objs num_objs objsize objperslab pagesperslab : ...
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 6) continue;
    bool wanted = false;
    for (absl::string_view c : caches) wanted |= f[0] == c;
    int64_t active, size, pages;
    if (wanted && absl::SimpleAtoi(f[1], &active) && absl::SimpleAtoi(f[3], &size) &&
        absl::SimpleAtoi(f[5], &pages)) {
      totals.bytes += active * size;
      totals.slab_bytes += pages * page_size;
    }
  }
  return totals;
}

std::optional<SlabTotals> SocketSlabTotals() {
  std::optional<std::string> text = ReadProcFile("/proc/slabinfo");
  if (!text) return std::nullopt;
  return ParseSlabTotals(*text, kSocketSlabCaches, sysconf(_SC_PAGESIZE));
}

int64_t SlabResolution(const SlabTotals& totals) {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return 2 * totals.slab_bytes * (cpus > 0 ? cpus : 1);
}

void SumSkMemInfo(absl::Span<const uint32_t> values, SocketBuffers& totals) {
  auto at = [&](size_t i) -> int64_t { return i < values.size() ? values[i] : 0; };
  totals.sockets++;
  totals.bytes += at(SK_MEMINFO_RMEM_ALLOC) + at(SK_MEMINFO_WMEM_QUEUED) +
                  at(SK_MEMINFO_FWD_ALLOC) + at(SK_MEMINFO_OPTMEM);
}

absl::StatusOr<SocketBuffers> TcpSocketBuffers(uint16_t port) {
  const int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return absl::InternalError(absl::StrCat("sock_diag socket: ", strerror(errno)));
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } req{};
  req.header.nlmsg_len = sizeof(req);
  req.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.request.sdiag_family = AF_INET;
  req.request.sdiag_protocol = IPPROTO_TCP;
  req.request.idiag_states = 1u << TCP_ESTABLISHED;
  req.request.idiag_ext = 1u << (INET_DIAG_SKMEMINFO - 1);
  if (send(fd, &req, sizeof(req), 0) != static_cast<ssize_t>(sizeof(req))) {
    close(fd);
    return absl::InternalError(absl::StrCat("sock_diag send: ", strerror(errno)));
  }
  SocketBuffers totals;
  std::vector<char> buf(kDiagBufferSize);
  const uint16_t want = htons(port);
  for (int64_t messages = 0; messages < kMaxDiagMessages;) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("sock_diag recv: ", n < 0 ? strerror(errno) : "EOF"));
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len), ++messages) {
      if (h->nlmsg_type == NLMSG_DONE) {
        close(fd);
        return totals;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        close(fd);
        return absl::InternalError(absl::StrCat("sock_diag: ", strerror(-err->error)));
      }
      const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (msg->id.idiag_sport != want && msg->id.idiag_dport != want) continue;
      int attr_len = static_cast<int>(h->nlmsg_len - NLMSG_LENGTH(sizeof(*msg)));
      for (auto* a = reinterpret_cast<rtattr*>(const_cast<inet_diag_msg*>(msg) + 1);
           RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
        if (a->rta_type != INET_DIAG_SKMEMINFO) continue;
        const auto* values = static_cast<const uint32_t*>(RTA_DATA(a));
        SumSkMemInfo(absl::MakeConstSpan(values, RTA_PAYLOAD(a) / sizeof(uint32_t)), totals);
      }
    }
  }
  close(fd);
  return absl::InternalError("sock_diag: dump did not end");
}

std::optional<int64_t> ParseSockstatTcpField(absl::string_view sockstat, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(sockstat, '\n')) {
    if (!absl::ConsumePrefix(&line, "TCP:")) continue;
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    for (size_t i = 0; i + 1 < words.size(); ++i) {
      int64_t value;
      if (words[i] == name && absl::SimpleAtoi(words[i + 1], &value)) return value;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> TcpSocketsAllocated() {
  std::optional<std::string> text = ReadProcFile("/proc/net/sockstat");
  if (!text) return std::nullopt;
  return ParseSockstatTcpField(*text, "alloc");
}

absl::StatusOr<uint16_t> LocalPort(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      address.sin_family != AF_INET) {
    return absl::InternalError(absl::StrCat("getsockname on fd ", fd, ": not an IPv4 socket"));
  }
  return ntohs(address.sin_port);
}

}  // namespace alts::bench
