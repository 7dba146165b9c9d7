#include "benchmarks/common/kernel_memory.h"

#include <linux/sock_diag.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "benchmarks/common/bench_util.h"
#include "conn/socket_util.h"
#include "gtest/gtest.h"

namespace alts::bench {
namespace {

constexpr char kSlabinfo[] =
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : ...\n"
    "TCPv6                 13     13   2496   13    8 : tunables    0    0    0 : slabdata 1 1 0\n"
    "TCP                   26     39   2368   13    8 : tunables    0    0    0 : slabdata 2 2 0\n"
    "eventpoll_epi        192    192    128   32    1 : tunables    0    0    0 : slabdata 6 6 0\n"
    "sock_inode_cache      76     76    832   19    4 : tunables    0    0    0 : slabdata 4 4 0\n";

TEST(KernelMemoryTest, SumsActiveObjectsAndSlabSizesOfTheSocketCaches) {
  // TCP 26 * 2368 + eventpoll_epi 192 * 128 + sock_inode_cache 76 * 832;
  // TCPv6 is not a cache an IPv4 socket uses, eventpoll_pwq is absent.
  std::optional<SlabTotals> t = ParseSlabTotals(kSlabinfo, kSocketSlabCaches, 4096);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->bytes, 26 * 2368 + 192 * 128 + 76 * 832);
  EXPECT_EQ(t->slab_bytes, (8 + 1 + 4) * 4096);
  EXPECT_GE(SlabResolution(*t), 2 * t->slab_bytes);
  EXPECT_EQ(ParseSlabTotals("not slabinfo\nTCP 1 1 1 1 1\n", kSocketSlabCaches, 4096),
            std::nullopt);
}

TEST(KernelMemoryTest, ParsesTheTcpLineOfSockstat) {
  constexpr char kSockstat[] =
      "sockets: used 14\n"
      "TCP: inuse 1 orphan 0 tw 0 alloc 3 mem 261\n"
      "UDP: inuse 0 mem 7\n";
  EXPECT_EQ(ParseSockstatTcpField(kSockstat, "alloc"), 3);
  EXPECT_EQ(ParseSockstatTcpField(kSockstat, "mem"), 261);  // not UDP's
  EXPECT_EQ(ParseSockstatTcpField(kSockstat, "bogus"), std::nullopt);
  EXPECT_EQ(ParseSockstatTcpField("UDP: inuse 0 mem 7\n", "mem"), std::nullopt);
  EXPECT_TRUE(TcpSocketsAllocated().has_value());
}

TEST(KernelMemoryTest, SkMemInfoCountsQueuedReservedAndOptionMemory) {
  uint32_t values[SK_MEMINFO_VARS] = {};
  values[SK_MEMINFO_RMEM_ALLOC] = 1;
  values[SK_MEMINFO_RCVBUF] = 1000;  // a limit, not memory
  values[SK_MEMINFO_WMEM_ALLOC] = 10000;  // part of wmem_queued
  values[SK_MEMINFO_SNDBUF] = 100000;  // a limit
  values[SK_MEMINFO_FWD_ALLOC] = 20;
  values[SK_MEMINFO_WMEM_QUEUED] = 300;
  values[SK_MEMINFO_OPTMEM] = 4000;
  SocketBuffers totals;
  SumSkMemInfo(values, totals);
  SumSkMemInfo(absl::MakeConstSpan(values, 1), totals);  // an old kernel's shorter array
  EXPECT_EQ(totals.sockets, 2);
  EXPECT_EQ(totals.bytes, 1 + 20 + 300 + 4000 + 1);
}

TEST(KernelMemoryTest, FindsTheConnectionsOfOneListenerAndWhatTheyHoldQueued) {
  absl::StatusOr<int> listener = ListenLoopback();
  ASSERT_TRUE(listener.ok()) << listener.status();
  UniqueFd listen_fd(*listener);
  absl::StatusOr<uint16_t> local_port = LocalPort(listen_fd.get());
  ASSERT_TRUE(local_port.ok()) << local_port.status();
  const uint16_t port = *local_port;
  absl::StatusOr<SocketBuffers> none = TcpSocketBuffers(port);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->sockets, 0);  // the listener itself is not counted
  absl::StatusOr<std::pair<int, int>> pair = ConnectedTcpPair(listen_fd.get());
  ASSERT_TRUE(pair.ok()) << pair.status();
  UniqueFd client(pair->first), server(pair->second);
  // 1000 bytes sit unread in the server's receive queue.
  char bytes[1000] = {};
  ASSERT_EQ(write(client.get(), bytes, sizeof(bytes)), static_cast<ssize_t>(sizeof(bytes)));
  bool queued = false;
  for (int i = 0; i < 1000 && !queued; ++i) {
    absl::StatusOr<SocketBuffers> two = TcpSocketBuffers(port);
    ASSERT_TRUE(two.ok()) << two.status();
    ASSERT_EQ(two->sockets, 2);
    queued = two->bytes >= static_cast<int64_t>(sizeof(bytes));
    if (!queued) ASSERT_EQ(WaitFd(server.get(), POLLIN, absl::Seconds(10)), absl::OkStatus());
  }
  EXPECT_TRUE(queued);
}

TEST(KernelMemoryTest, ReadsSlabinfoWhenAllowed) {
  std::optional<SlabTotals> slab = SocketSlabTotals();  // root only
  if (slab.has_value()) {
    EXPECT_GT(slab->slab_bytes, 0);
    EXPECT_GE(slab->bytes, 0);
  }
}

}  // namespace
}  // namespace alts::bench
