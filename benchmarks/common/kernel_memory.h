#ifndef ALTS_BENCHMARKS_COMMON_KERNEL_MEMORY_H_
#define ALTS_BENCHMARKS_COMMON_KERNEL_MEMORY_H_

// The kernel's share of a TCP socket, for benchmarks that put it beside the
// heap they measure (idle_memory). Two parts:
//
//  - Socket buffer memory, per socket and exact: the kernel's own counters
//    (sock_diag netlink, INET_DIAG_SKMEMINFO, what `ss -m` prints): bytes
//    queued for receiving and sending, the forward-allocated reserve and
//    option memory. 0 for an idle socket with nothing queued. (The "mem"
//    pages of /proc/net/sockstat count the same memory system-wide, but the
//    kernel charges them in per-CPU batches of up to 1 MiB, too coarse to
//    see idle sockets.)
//  - Socket structures: the slab caches every connected, epoll-registered
//    TCP socket allocates from (kSocketSlabCaches), active objects times
//    object size from /proc/slabinfo (root only). System-wide, and SLUB
//    reports objects in per-CPU slabs as active, so the count moves in whole
//    slabs: a delta smaller than SlabResolution() says nothing.

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace alts::bench {

// kSocketSlabCaches are the slab caches one connected, epoll-registered
// TCP socket allocates from: the socket (TCP), its inode (sock_inode_cache)
// and its epoll entry (eventpoll_epi, eventpoll_pwq). The socket's struct
// file (filp) and dentry are left out: every open file and path lookup on
// the machine moves those caches, which would drown the signal.
inline constexpr absl::string_view kSocketSlabCaches[] = {"TCP", "sock_inode_cache",
                                                          "eventpoll_epi", "eventpoll_pwq"};

// SlabTotals sums some slab caches of a /proc/slabinfo text.
struct SlabTotals {
  // bytes is active objects times object size, summed.
  int64_t bytes = 0;
  // slab_bytes is the size of one slab of each cache (pages per slab times
  // the page size), summed: the step in which `bytes` moves.
  int64_t slab_bytes = 0;
};

// ParseSlabTotals sums `caches` in a /proc/slabinfo (version 2.1) text;
// caches it does not list count 0. Returns nullopt if the text has no
// slabinfo header.
std::optional<SlabTotals> ParseSlabTotals(absl::string_view slabinfo,
                                          absl::Span<const absl::string_view> caches,
                                          int64_t page_size);

// SocketSlabTotals returns ParseSlabTotals of /proc/slabinfo over
// kSocketSlabCaches, or nullopt if it cannot be read (not root).
std::optional<SlabTotals> SocketSlabTotals();

// SlabResolution returns the smallest slab delta that means something:
// two slabs of each cache per online CPU (each CPU may hold a partly used
// slab of each cache, at either snapshot).
int64_t SlabResolution(const SlabTotals& totals);

// SocketBuffers is the socket buffer memory of a set of TCP sockets.
struct SocketBuffers {
  // sockets counts the sockets found.
  int64_t sockets = 0;
  // bytes sums, over them, rmem_alloc + wmem_queued + fwd_alloc + optmem.
  int64_t bytes = 0;
};

// SumSkMemInfo adds one socket's INET_DIAG_SKMEMINFO array (`values`,
// SK_MEMINFO_* order) to `totals`.
void SumSkMemInfo(absl::Span<const uint32_t> values, SocketBuffers& totals);

// TcpSocketBuffers returns the socket buffers of every established IPv4
// TCP socket that has `port` as its local or remote port (all the open
// connections to and from one listener), from sock_diag. Returns kInternal
// if the netlink dump fails.
absl::StatusOr<SocketBuffers> TcpSocketBuffers(uint16_t port);

// TcpSocketsAllocated returns the "alloc" field of the TCP line of
// /proc/net/sockstat: TCP sockets that exist on the machine, closing ones
// included. Returns nullopt if it cannot be read.
std::optional<int64_t> TcpSocketsAllocated();

// ParseSockstatTcpField returns field `name` ("alloc", "inuse", ...) of the
// "TCP:" line of a /proc/net/sockstat text, or nullopt.
std::optional<int64_t> ParseSockstatTcpField(absl::string_view sockstat, absl::string_view name);

// LocalPort returns the local port of IPv4 socket `fd` (e.g. a listener's),
// for TcpSocketBuffers. Returns kInternal if getsockname fails or `fd` is
// not IPv4.
absl::StatusOr<uint16_t> LocalPort(int fd);

}  // namespace alts::bench

#endif  // ALTS_BENCHMARKS_COMMON_KERNEL_MEMORY_H_
