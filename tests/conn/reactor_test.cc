// alts-test-labels: threads
#include "conn/reactor.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/conn/conn_test_util.h"

namespace alts {
namespace {

using ::testing::HasSubstr;
using ::alts::testing::GroupOptions;
using ::alts::testing::RaiseFdLimit;

// kWait bounds every wait in these tests, so a bug fails instead of hanging.
constexpr absl::Duration kWait = absl::Seconds(20);

// Counter is a thread-safe count that tests wait on. It uses std::mutex,
// not absl::Mutex/absl::Notification, because the system Abseil is not
// built with ThreadSanitizer, which then could not see the ordering.
class Counter {
 public:
  void Add(int n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    value_ += n;
    cv_.notify_all();
  }
  // WaitFor returns true once the count reaches `target`, false after kWait.
  bool WaitFor(int target) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(kWait),
                        [&] { return value_ >= target; });
  }
  int value() {
    std::lock_guard<std::mutex> lock(mu_);
    return value_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int value_ = 0;
};

// CountOpenFds returns the number of open descriptors of this process.
int CountOpenFds() {
  int n = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the DIR's own fd
}

// SocketPair is a non-blocking AF_UNIX stream pair closed on destruction.
struct SocketPair {
  SocketPair() {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds) == 0) {
      a = fds[0];
      b = fds[1];
    }
  }
  ~SocketPair() {
    if (a >= 0) close(a);
    if (b >= 0) close(b);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  int a = -1;
  int b = -1;
};

std::unique_ptr<ReactorGroup> MakeGroup(ReactorGroupOptions options = {}) {
  absl::StatusOr<std::unique_ptr<ReactorGroup>> group =
      ReactorGroup::Create(std::move(options));
  EXPECT_TRUE(group.ok()) << group.status();
  return group.ok() ? *std::move(group) : nullptr;
}

TEST(ReactorGroupTest, RejectsBadThreadCounts) {
  EXPECT_EQ(ReactorGroup::Create(GroupOptions(0)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReactorGroup::Create(GroupOptions(kMaxReactorThreads + 1))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReactorGroupTest, ReactorsHaveIndicesAndDistinctBases) {
  auto group = MakeGroup(GroupOptions(3));
  ASSERT_NE(group, nullptr);
  ASSERT_EQ(group->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(group->reactor(i).index(), i);
    EXPECT_TRUE(group->reactor(i).threaded());
    EXPECT_NE(group->reactor(i).base(), nullptr);
    EXPECT_FALSE(group->reactor(i).InReactorThread());
  }
  EXPECT_NE(group->reactor(0).base(), group->reactor(1).base());
  EXPECT_FALSE(group->IsReactorThread());
}

TEST(ReactorGroupTest, PostFromManyThreadsRunsEveryTaskOnceOnItsReactor) {
  constexpr size_t kReactors = 2;
  constexpr size_t kPosters = 8;
  constexpr size_t kTasksPerPoster = 2000;
  auto group = MakeGroup(GroupOptions(kReactors));
  ASSERT_NE(group, nullptr);

  std::vector<std::atomic<int>> runs(kPosters * kTasksPerPoster);
  std::atomic<int> wrong_thread{0};
  std::atomic<int> out_of_order{0};
  // last_seen[poster][reactor]: per-poster FIFO check; each slot is only
  // touched by its reactor's thread.
  std::vector<std::array<int64_t, kReactors>> last_seen(kPosters);
  for (auto& row : last_seen) row.fill(-1);

  std::vector<std::thread> posters;
  for (size_t p = 0; p < kPosters; ++p) {
    posters.emplace_back([&, p] {
      for (size_t t = 0; t < kTasksPerPoster; ++t) {
        const size_t target = (p + t) % kReactors;
        Reactor& reactor = group->reactor(target);
        const size_t id = p * kTasksPerPoster + t;
        Reactor* rp = &reactor;
        ASSERT_TRUE(reactor.Post([&, id, target, p, t, rp] {
          if (!rp->InReactorThread() || rp->index() != target) {
            wrong_thread.fetch_add(1);
          }
          int64_t& last = last_seen[p][target];
          if (static_cast<int64_t>(t) <= last) out_of_order.fetch_add(1);
          last = static_cast<int64_t>(t);
          runs[id].fetch_add(1);
        }));
      }
    });
  }
  for (auto& thread : posters) thread.join();
  // Each reactor runs its queue in order, so this barrier runs after every
  // task posted above.
  ASSERT_TRUE(group->RunOnAllAndWait([](Reactor&) {}).ok());
  for (size_t i = 0; i < runs.size(); ++i) {
    ASSERT_EQ(runs[i].load(), 1) << "task " << i;
  }
  EXPECT_EQ(wrong_thread.load(), 0);
  EXPECT_EQ(out_of_order.load(), 0);
  EXPECT_EQ(group->reactor(0).tasks_run() + group->reactor(1).tasks_run(),
            kPosters * kTasksPerPoster + kReactors);
}

TEST(ReactorGroupTest, PostFromReactorThreadRunsLaterNotInline) {
  auto group = MakeGroup(GroupOptions(1));
  ASSERT_NE(group, nullptr);
  Reactor& reactor = group->reactor(0);
  std::vector<int> order;
  Counter done;
  reactor.Post([&] {
    reactor.Post([&] {
      order.push_back(2);
      done.Add();
    });
    order.push_back(1);
  });
  ASSERT_TRUE(done.WaitFor(1));
  EXPECT_THAT(order, ::testing::ElementsAre(1, 2));
}

TEST(ReactorGroupTest, RoundRobinCyclesThroughReactors) {
  auto group = MakeGroup(GroupOptions(3));
  ASSERT_NE(group, nullptr);
  std::vector<size_t> picked;
  for (int i = 0; i < 7; ++i) picked.push_back(group->Pick(42).index());
  EXPECT_THAT(picked, ::testing::ElementsAre(0, 1, 2, 0, 1, 2, 0));
}

TEST(ReactorGroupTest, KeyHashIsStableAndSpreadsSequentialKeys) {
  ReactorGroupOptions options = GroupOptions(4);
  options.placement = ReactorGroupOptions::Placement::kKeyHash;
  auto group = MakeGroup(std::move(options));
  ASSERT_NE(group, nullptr);
  constexpr int kKeys = 20000;
  std::array<int, 4> counts{};
  for (uint64_t key = 0; key < kKeys; ++key) {
    const size_t first = group->Pick(key).index();
    ASSERT_EQ(group->Pick(key).index(), first) << "key " << key;
    ++counts[first];
  }
  // Expected 5000 each; a good mix stays within a few percent.
  for (int c : counts) {
    EXPECT_GT(c, 4500);
    EXPECT_LT(c, 5500);
  }
  // Keys that differ only in high bits must not all land together.
  std::array<int, 4> high{};
  for (uint64_t i = 0; i < 4000; ++i) ++high[group->Pick(i << 40).index()];
  for (int c : high) EXPECT_GT(c, 800);
}

TEST(ReactorGroupTest, CustomPlacementOverridesAndIsReducedModuloN) {
  ReactorGroupOptions options = GroupOptions(3);
  options.placement = ReactorGroupOptions::Placement::kKeyHash;
  std::atomic<size_t> seen_n{0};
  options.custom_placement = [&seen_n](uint64_t key, size_t n) -> size_t {
    seen_n.store(n);
    return static_cast<size_t>(key);
  };
  auto group = MakeGroup(std::move(options));
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->Pick(0).index(), 0u);
  EXPECT_EQ(group->Pick(2).index(), 2u);
  EXPECT_EQ(group->Pick(7).index(), 1u);
  EXPECT_EQ(seen_n.load(), 3u);
}

TEST(ReactorGroupTest, RunOnAllAndWaitRunsOncePerReactorOnItsThread) {
  auto group = MakeGroup(GroupOptions(3));
  ASSERT_NE(group, nullptr);
  std::array<std::atomic<int>, 3> hits{};
  std::atomic<int> wrong{0};
  ASSERT_TRUE(group
                  ->RunOnAllAndWait([&](Reactor& r) {
                    if (!r.InReactorThread() || !group->IsReactorThread()) {
                      wrong.fetch_add(1);
                    }
                    hits[r.index()].fetch_add(1);
                  })
                  .ok());
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ReactorGroupTest, RunOnAllAndWaitFromReactorThreadFails) {
  auto group = MakeGroup(GroupOptions(2));
  ASSERT_NE(group, nullptr);
  Counter done;
  absl::Status status;
  group->reactor(1).Post([&] {
    status = group->RunOnAllAndWait([](Reactor&) {});
    done.Add();
  });
  ASSERT_TRUE(done.WaitFor(1));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ReactorGroupTest, EventsOnSocketpairsFireOnOwningReactor) {
  constexpr size_t kReactors = 3;
  auto group = MakeGroup(GroupOptions(kReactors));
  ASSERT_NE(group, nullptr);
  std::array<SocketPair, kReactors> pairs;
  std::array<std::unique_ptr<ReactorEvent>, kReactors> events;
  std::array<std::atomic<int>, kReactors> fired{};
  std::atomic<int> wrong{0};
  Counter total;

  ASSERT_TRUE(group
                  ->RunOnAllAndWait([&](Reactor& r) {
                    const size_t i = r.index();
                    Reactor* rp = &r;
                    auto ev = ReactorEvent::Create(
                        r, pairs[i].a, EV_READ, [&, i, rp](short what) {
                          if (!rp->InReactorThread() || !(what & EV_READ)) {
                            wrong.fetch_add(1);
                          }
                          char byte;
                          if (read(pairs[i].a, &byte, 1) != 1 ||
                              byte != static_cast<char>('a' + i)) {
                            wrong.fetch_add(1);
                          }
                          fired[i].fetch_add(1);
                          total.Add();
                        });
                    ASSERT_TRUE(ev.ok()) << ev.status();
                    ASSERT_TRUE((*ev)->Add().ok());
                    events[i] = *std::move(ev);
                  })
                  .ok());
  for (size_t i = 0; i < kReactors; ++i) {
    ASSERT_NE(events[i], nullptr);
    const char byte = static_cast<char>('a' + i);
    ASSERT_EQ(write(pairs[i].b, &byte, 1), 1);
  }
  ASSERT_TRUE(total.WaitFor(static_cast<int>(kReactors)));
  for (size_t i = 0; i < kReactors; ++i) {
    EXPECT_EQ(fired[i].load(), 1) << i;
  }
  EXPECT_EQ(wrong.load(), 0);
  // Not persistent: the events are no longer pending.
  ASSERT_TRUE(group
                  ->RunOnAllAndWait([&](Reactor& r) {
                    EXPECT_FALSE(events[r.index()]->IsPending());
                    events[r.index()].reset();
                  })
                  .ok());
}

TEST(ReactorGroupTest, TimerFiresOnReactorThreadAfterTimeout) {
  auto group = MakeGroup(GroupOptions(1));
  ASSERT_NE(group, nullptr);
  Reactor& reactor = group->reactor(0);
  Counter fired;
  std::atomic<short> what{0};
  std::atomic<bool> on_thread{false};
  std::unique_ptr<ReactorEvent> timer;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(group
                  ->RunOnAllAndWait([&](Reactor& r) {
                    auto ev = ReactorEvent::CreateTimer(r, [&](short w) {
                      what.store(w);
                      on_thread.store(reactor.InReactorThread());
                      fired.Add();
                    });
                    ASSERT_TRUE(ev.ok());
                    ASSERT_TRUE((*ev)->Add(absl::Milliseconds(30)).ok());
                    EXPECT_TRUE((*ev)->IsPending());
                    timer = *std::move(ev);
                  })
                  .ok());
  ASSERT_TRUE(fired.WaitFor(1));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(25));
  EXPECT_EQ(what.load(), EV_TIMEOUT);
  EXPECT_TRUE(on_thread.load());
  ASSERT_TRUE(group->RunOnAllAndWait([&](Reactor&) { timer.reset(); }).ok());
}

TEST(ReactorEventTest, RejectsEmptyCallback) {
  auto reactor = Reactor::CreateUnthreaded();
  ASSERT_TRUE(reactor.ok());
  EXPECT_EQ(ReactorEvent::Create(**reactor, -1, 0, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReactorGroupTest, ShutdownRunsQueuedTasksDropsLaterOnesAndLeaksNothing) {
  const int fds_before = CountOpenFds();
  ASSERT_GT(fds_before, 0);
  constexpr int kQueued = 500;
  constexpr int kEventsPerReactor = 50;
  auto group = MakeGroup(GroupOptions(2));
  ASSERT_NE(group, nullptr);
  EXPECT_GT(CountOpenFds(), fds_before);  // the bases' epoll and wake fds

  std::vector<std::unique_ptr<SocketPair>> pairs;
  for (int i = 0; i < 2 * kEventsPerReactor; ++i) {
    pairs.push_back(std::make_unique<SocketPair>());
  }
  // Registered events that never fire: fd reads, long timers, and raw
  // libevent events freed by a queued task.
  std::mutex events_mu;
  std::vector<std::unique_ptr<ReactorEvent>> events;
  std::array<event*, 2> raw_events{};
  ASSERT_TRUE(
      group
          ->RunOnAllAndWait([&](Reactor& r) {
            for (int i = 0; i < kEventsPerReactor; ++i) {
              const int fd = pairs[r.index() * kEventsPerReactor + i]->a;
              auto ev = ReactorEvent::Create(r, fd, EV_READ | EV_PERSIST,
                                             [](short) {});
              ASSERT_TRUE(ev.ok());
              ASSERT_TRUE((*ev)->Add(absl::Hours(1)).ok());
              auto timer = ReactorEvent::CreateTimer(r, [](short) {});
              ASSERT_TRUE(timer.ok());
              ASSERT_TRUE((*timer)->Add(absl::Hours(1)).ok());
              std::lock_guard<std::mutex> lock(events_mu);
              events.push_back(*std::move(ev));
              events.push_back(*std::move(timer));
            }
            raw_events[r.index()] =
                event_new(r.base(), -1, 0, [](evutil_socket_t, short,
                                              void*) {}, nullptr);
            timeval hour{3600, 0};
            event_add(raw_events[r.index()], &hour);
          })
          .ok());

  // Block both reactors so tasks pile up in their queues.
  Counter release;
  Counter blocked;
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(group->reactor(i).Post([&] {
      blocked.Add();
      release.WaitFor(1);
    }));
  }
  std::atomic<int> ran{0};
  std::atomic<int> destroyed{0};
  std::atomic<int> late_ran{0};
  std::atomic<int> late_rejected{0};
  struct Tracker {
    explicit Tracker(std::atomic<int>* d) : destroyed(d) {}
    ~Tracker() { destroyed->fetch_add(1); }
    std::atomic<int>* destroyed;
  };
  for (int i = 0; i < kQueued; ++i) {
    Reactor* rp = &group->reactor(i % 2);
    auto tracker = std::make_unique<Tracker>(&destroyed);
    ASSERT_TRUE(rp->Post([&, rp, tracker = std::move(tracker)] {
      ran.fetch_add(1);
      // Posted during the drain, i.e. after shutdown began: dropped.
      auto late = std::make_unique<Tracker>(&destroyed);
      if (!rp->Post([&late_ran, late = std::move(late)] {
            late_ran.fetch_add(1);
          })) {
        late_rejected.fetch_add(1);
      }
    }));
  }
  // One queued task frees the raw events, as their owner must.
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(group->reactor(i).Post([&raw_events, i] {
      event_free(raw_events[i]);
      raw_events[i] = nullptr;
    }));
  }
  ASSERT_TRUE(blocked.WaitFor(2));

  std::thread stopper([&] { group->Shutdown(); });
  // Once Post fails the queues are closed; then let the reactors drain.
  while (group->reactor(0).Post([] {}) || group->reactor(1).Post([] {})) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  // A rejected task is destroyed before Post returns.
  auto rejected = std::make_unique<Tracker>(&destroyed);
  const int destroyed_before = destroyed.load();
  EXPECT_FALSE(group->reactor(0).Post([t = std::move(rejected)] {}));
  EXPECT_EQ(destroyed.load(), destroyed_before + 1);
  release.Add();
  stopper.join();
  group->Shutdown();  // idempotent

  EXPECT_EQ(ran.load(), kQueued);
  EXPECT_EQ(late_ran.load(), 0);
  EXPECT_EQ(late_rejected.load(), kQueued);
  EXPECT_EQ(destroyed.load(), 2 * kQueued + 1);
  EXPECT_EQ(raw_events[0], nullptr);
  EXPECT_EQ(raw_events[1], nullptr);
  for (const auto& ev : events) {
    EXPECT_FALSE(ev->attached());
    EXPECT_FALSE(ev->IsPending());
    EXPECT_EQ(ev->Add().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(group->reactor(0).base(), nullptr);
  EXPECT_EQ(ReactorEvent::CreateTimer(group->reactor(0), [](short) {})
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(group->RunOnAllAndWait([](Reactor&) {}).code(),
            absl::StatusCode::kFailedPrecondition);
  group.reset();
  events.clear();  // detached events outlive their group safely
  pairs.clear();
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(ReactorGroupTest, DestructorShutsDownWithPendingWork) {
  const int fds_before = CountOpenFds();
  std::atomic<int> ran{0};
  {
    auto group = MakeGroup(GroupOptions(2));
    ASSERT_NE(group, nullptr);
    for (int i = 0; i < 100; ++i) {
      group->Pick().Post([&ran] { ran.fetch_add(1); });
    }
  }
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(CountOpenFds(), fds_before);
}

TEST(ReactorGroupTest, TwoThreadsServeTwoThousandSocketpairs) {
  constexpr int kPairs = 2000;
  // Two fds per pair, plus headroom for the test runner.
  if (RaiseFdLimit(2 * kPairs + 256) < 2 * kPairs + 256) {
    GTEST_SKIP() << "descriptor limit too low for " << kPairs << " pairs";
  }
  auto group = MakeGroup(GroupOptions(2));
  ASSERT_NE(group, nullptr);
  std::vector<std::unique_ptr<SocketPair>> pairs;
  for (int i = 0; i < kPairs; ++i) {
    pairs.push_back(std::make_unique<SocketPair>());
    ASSERT_GE(pairs.back()->a, 0);
  }
  std::vector<std::unique_ptr<ReactorEvent>> events(kPairs);
  std::vector<size_t> owner(kPairs);
  std::vector<std::atomic<int>> bytes(kPairs);
  std::array<std::atomic<int>, 2> per_reactor{};
  std::atomic<int> wrong{0};
  Counter done;

  // Register each event on its reactor's thread.
  Counter registered;
  for (int i = 0; i < kPairs; ++i) {
    Reactor* rp = &group->Pick(static_cast<uint64_t>(i));
    owner[i] = rp->index();
    ASSERT_TRUE(rp->Post([&, i, rp] {
      auto ev = ReactorEvent::Create(
          *rp, pairs[i]->a, EV_READ | EV_PERSIST, [&, i, rp](short) {
            if (!rp->InReactorThread()) wrong.fetch_add(1);
            char buf[16];
            ssize_t n = read(pairs[i]->a, buf, sizeof(buf));
            if (n <= 0) return;
            per_reactor[rp->index()].fetch_add(1);
            if (bytes[i].fetch_add(static_cast<int>(n)) + n == 2) {
              done.Add();
            }
          });
      if (!ev.ok() || !(*ev)->Add().ok()) {
        wrong.fetch_add(1);
      } else {
        events[i] = *std::move(ev);
      }
      registered.Add();
    }));
  }
  ASSERT_TRUE(registered.WaitFor(kPairs));
  // Two separate writes per pair; the persistent event stays armed.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kPairs; ++i) {
      const char byte = 'x';
      ASSERT_EQ(write(pairs[i]->b, &byte, 1), 1);
    }
  }
  ASSERT_TRUE(done.WaitFor(kPairs));
  EXPECT_EQ(wrong.load(), 0);
  for (int i = 0; i < kPairs; ++i) ASSERT_EQ(bytes[i].load(), 2) << i;
  EXPECT_GT(per_reactor[0].load(), 0);
  EXPECT_GT(per_reactor[1].load(), 0);
  ASSERT_TRUE(group
                  ->RunOnAllAndWait([&](Reactor& r) {
                    for (int i = 0; i < kPairs; ++i) {
                      if (owner[i] == r.index()) events[i].reset();
                    }
                  })
                  .ok());
}

TEST(UnthreadedReactorTest, RunsPostedTasksOnTheDrivingThread) {
  auto created = Reactor::CreateUnthreaded();
  ASSERT_TRUE(created.ok()) << created.status();
  Reactor& reactor = **created;
  EXPECT_FALSE(reactor.threaded());
  EXPECT_EQ(reactor.index(), 0u);
  EXPECT_TRUE(reactor.InReactorThread());

  std::atomic<int> ran{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> posters;
  for (int p = 0; p < 4; ++p) {
    posters.emplace_back([&] {
      EXPECT_FALSE(reactor.InReactorThread());
      for (int i = 0; i < 100; ++i) {
        reactor.Post([&] {
          if (!reactor.InReactorThread()) wrong.fetch_add(1);
          ran.fetch_add(1);
        });
      }
    });
  }
  ASSERT_TRUE(reactor
                  .RunUntil([&] { return ran.load() == 400; }, kWait)
                  .ok());
  for (auto& t : posters) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(UnthreadedReactorTest, RunUntilTimesOut) {
  auto created = Reactor::CreateUnthreaded();
  ASSERT_TRUE(created.ok());
  const absl::Time start = absl::Now();
  absl::Status status =
      (*created)->RunUntil([] { return false; }, absl::Milliseconds(30));
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(status.message(), HasSubstr("RunUntil"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(25));
  // The deadline event is disarmed; an immediately-true predicate returns ok.
  EXPECT_TRUE((*created)->RunUntil([] { return true; }).ok());
}

TEST(UnthreadedReactorTest, WakeFromAnotherThreadReevaluatesPredicate) {
  auto created = Reactor::CreateUnthreaded();
  ASSERT_TRUE(created.ok());
  Reactor& reactor = **created;
  std::atomic<bool> flag{false};
  std::thread setter([&] {
    absl::SleepFor(absl::Milliseconds(10));
    flag.store(true);
    reactor.Wake();
  });
  EXPECT_TRUE(reactor.RunUntil([&] { return flag.load(); }, kWait).ok());
  setter.join();
}

TEST(UnthreadedReactorTest, ClientAndServerPingPongOnOneLoop) {
  auto created = Reactor::CreateUnthreaded();
  ASSERT_TRUE(created.ok());
  Reactor& reactor = **created;
  SocketPair pair;
  constexpr int kRounds = 1000;
  int client_rounds = 0;
  int server_rounds = 0;
  auto client = ReactorEvent::Create(
      reactor, pair.a, EV_READ | EV_PERSIST, [&](short) {
        char byte;
        while (read(pair.a, &byte, 1) == 1) {
          if (++client_rounds < kRounds) {
            ASSERT_EQ(write(pair.a, &byte, 1), 1);
          }
        }
      });
  auto server = ReactorEvent::Create(
      reactor, pair.b, EV_READ | EV_PERSIST, [&](short) {
        char byte;
        while (read(pair.b, &byte, 1) == 1) {
          ++server_rounds;
          ASSERT_EQ(write(pair.b, &byte, 1), 1);
        }
      });
  ASSERT_TRUE(client.ok() && server.ok());
  ASSERT_TRUE((*client)->Add().ok());
  ASSERT_TRUE((*server)->Add().ok());
  const char start = 's';
  ASSERT_EQ(write(pair.a, &start, 1), 1);
  ASSERT_TRUE(
      reactor.RunUntil([&] { return client_rounds == kRounds; }, kWait).ok());
  EXPECT_EQ(server_rounds, kRounds);
}

TEST(UnthreadedReactorTest, CallbackMayDestroyItsOwnEvent) {
  auto created = Reactor::CreateUnthreaded();
  ASSERT_TRUE(created.ok());
  Reactor& reactor = **created;
  std::unique_ptr<ReactorEvent> self;
  bool fired = false;
  auto ev = ReactorEvent::CreateTimer(reactor, [&](short) {
    fired = true;
    self.reset();
  });
  ASSERT_TRUE(ev.ok());
  self = *std::move(ev);
  self->Activate(EV_TIMEOUT);
  ASSERT_TRUE(reactor.RunUntil([&] { return fired; }, kWait).ok());
  EXPECT_EQ(self, nullptr);
}

TEST(UnthreadedReactorTest, RunOnceFromOwnCallbackFails) {
  auto created = Reactor::CreateUnthreaded();
  ASSERT_TRUE(created.ok());
  Reactor& reactor = **created;
  absl::Status inner = absl::OkStatus();
  bool ran = false;
  reactor.Post([&] {
    inner = reactor.RunOnce();
    ran = true;
  });
  ASSERT_TRUE(reactor.RunUntil([&] { return ran; }, kWait).ok());
  EXPECT_EQ(inner.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(UnthreadedReactorTest, RunOnceOnGroupReactorFails) {
  auto group = MakeGroup(GroupOptions(1));
  ASSERT_NE(group, nullptr);
  EXPECT_EQ(group->reactor(0).RunOnce().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(group->reactor(0).RunUntil([] { return true; }).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(UnthreadedReactorTest, DestructionRunsQueuedTasksAndDetachesEvents) {
  const int fds_before = CountOpenFds();
  int ran = 0;
  std::unique_ptr<ReactorEvent> timer;
  {
    auto created = Reactor::CreateUnthreaded();
    ASSERT_TRUE(created.ok());
    Reactor& reactor = **created;
    auto ev = ReactorEvent::CreateTimer(reactor, [](short) {});
    ASSERT_TRUE(ev.ok());
    ASSERT_TRUE((*ev)->Add(absl::Hours(1)).ok());
    timer = *std::move(ev);
    for (int i = 0; i < 10; ++i) reactor.Post([&ran] { ++ran; });
  }
  EXPECT_EQ(ran, 10);
  EXPECT_FALSE(timer->attached());
  timer.reset();
  EXPECT_EQ(CountOpenFds(), fds_before);
}

}  // namespace
}  // namespace alts
