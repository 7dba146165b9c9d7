#include "conn/reactor.h"

#include <pthread.h>
#include <sys/time.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include <event2/event.h>
#include <event2/thread.h>

#include "absl/strings/str_cat.h"

namespace alts {
namespace {

// kThreadNameSize: Linux thread names hold 15 characters plus the NUL.
constexpr size_t kThreadNameSize = 16;

// EnableLibeventThreads puts libevent in thread-safe mode. It must happen
// before the first event_base is created, since a base only gets its lock
// and its cross-thread notification fd at creation.
bool EnableLibeventThreads() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = evthread_use_pthreads() == 0; });
  return ok;
}

// Mix64 is the SplitMix64 finalizer: every key bit affects every output bit,
// so sequential keys (fds, connection ids) spread across reactors.
uint64_t Mix64(uint64_t key) {
  uint64_t z = key + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// ReduceToRange maps a uniform 64-bit hash onto [0, n) without a division
// (Lemire's multiply-shift).
size_t ReduceToRange(uint64_t hash, size_t n) {
  return static_cast<size_t>(
      (static_cast<unsigned __int128>(hash) * static_cast<uint64_t>(n)) >> 64);
}

}  // namespace

// ---------------------------------------------------------------------------
// Reactor

Reactor::Reactor(event_base* base, size_t index, bool threaded)
    : base_(base), index_(index), threaded_(threaded) {}

absl::StatusOr<std::unique_ptr<Reactor>> Reactor::Create(size_t index,
                                                          bool threaded) {
  if (!EnableLibeventThreads()) {
    return absl::InternalError("evthread_use_pthreads failed");
  }
  event_base* base = event_base_new();
  if (base == nullptr) {
    return absl::InternalError("event_base_new failed");
  }
  std::unique_ptr<Reactor> reactor(new Reactor(base, index, threaded));
  reactor->wake_event_ =
      event_new(base, -1, 0, &Reactor::OnWakeEvent, reactor.get());
  reactor->deadline_event_ =
      event_new(base, -1, 0, &Reactor::OnDeadlineEvent, reactor.get());
  if (reactor->wake_event_ == nullptr || reactor->deadline_event_ == nullptr) {
    // ~Reactor frees whatever was created.
    return absl::InternalError("event_new failed for the reactor's events");
  }
  absl::StatusOr<std::unique_ptr<WakeQueue>> wake_queue = WakeQueue::Create(base);
  if (!wake_queue.ok()) return wake_queue.status();
  reactor->wake_queue_ = std::move(*wake_queue);
  if (!threaded) {
    reactor->thread_id_.store(std::this_thread::get_id(),
                              std::memory_order_release);
  }
  return reactor;
}

absl::StatusOr<std::unique_ptr<Reactor>> Reactor::CreateUnthreaded() {
  return Create(/*index=*/0, /*threaded=*/false);
}

Reactor::~Reactor() {
  // A started group thread has already torn down (the group joined it).
  if (base_ != nullptr && !thread_started_) {
    BeginClose();
    Teardown();
  }
}

bool Reactor::InReactorThread() const {
  return thread_id_.load(std::memory_order_acquire) ==
         std::this_thread::get_id();
}

void Reactor::ActivateLocked() {
  if (!wake_pending_) {
    wake_pending_ = true;
    // event_active is thread-safe in evthread mode and wakes a blocked
    // dispatch through the base's notification fd. It is called under mu_
    // so that Teardown (which sets closed_ under mu_ before freeing the
    // event) can never free it underneath us.
    event_active(wake_event_, EV_READ, 0);
  }
}

bool Reactor::Post(Task task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closed_) {
      queue_.push_back(std::move(task));
      ActivateLocked();
      return true;
    }
  }
  // Dropped: destroy it here, outside the lock, since its captures may post.
  Task dropped = std::move(task);
  (void)dropped;
  return false;
}

void Reactor::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!closed_) ActivateLocked();
}

void Reactor::OnWakeEvent(evutil_socket_t, short, void* arg) {
  static_cast<Reactor*>(arg)->RunTasks();
}

void Reactor::OnDeadlineEvent(evutil_socket_t, short, void* arg) {
  static_cast<Reactor*>(arg)->deadline_hit_ = true;
}

void Reactor::RunTasks() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_pending_ = false;
      if (queue_.empty()) {
        if (closed_ && threaded_) event_base_loopbreak(base_);
        return;
      }
      running_.swap(queue_);
    }
    tasks_run_.fetch_add(running_.size(), std::memory_order_relaxed);
    for (Task& task : running_) std::move(task)();
    running_.clear();
  }
}

void Reactor::BeginClose() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  // Force a wake even if one is pending, so the loop sees closed_ after
  // draining.
  if (wake_event_ != nullptr) {
    wake_pending_ = true;
    event_active(wake_event_, EV_READ, 0);
  }
}

void Reactor::Teardown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  if (base_ == nullptr) return;
  // Tasks queued before closing run even if the loop stopped early.
  RunTasks();
  {
    std::lock_guard<std::mutex> lock(events_mu_);
    events_closed_ = true;
    while (events_head_ != nullptr) {
      ReactorEvent* ev = events_head_;
      events_head_ = ev->next_;
      ev->prev_ = ev->next_ = nullptr;
      ev->Detach();
    }
  }
  wake_queue_.reset();
  if (wake_event_ != nullptr) event_free(wake_event_);
  if (deadline_event_ != nullptr) event_free(deadline_event_);
  wake_event_ = nullptr;
  deadline_event_ = nullptr;
  event_base_free(base_);
  base_ = nullptr;
}

absl::Status Reactor::RunOnce() {
  if (threaded_) {
    return absl::FailedPreconditionError(
        "RunOnce on a reactor driven by a group thread");
  }
  if (base_ == nullptr) {
    return absl::FailedPreconditionError("RunOnce after shutdown");
  }
  if (looping_) {
    return absl::FailedPreconditionError(
        "RunOnce from inside one of the reactor's own callbacks");
  }
  thread_id_.store(std::this_thread::get_id(), std::memory_order_release);
  looping_ = true;
  int rc = event_base_loop(base_, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
  looping_ = false;
  if (rc < 0) return absl::InternalError("event_base_loop failed");
  return absl::OkStatus();
}

absl::Status Reactor::RunUntil(absl::FunctionRef<bool()> done,
                               absl::Duration timeout) {
  if (threaded_) {
    return absl::FailedPreconditionError(
        "RunUntil on a reactor driven by a group thread");
  }
  if (done()) return absl::OkStatus();
  bool armed = false;
  // Otherwise RunOnce below reports the precondition error.
  if (timeout != absl::InfiniteDuration() && base_ != nullptr && !looping_) {
    timeval tv = absl::ToTimeval(std::max(timeout, absl::ZeroDuration()));
    deadline_hit_ = false;
    if (event_add(deadline_event_, &tv) != 0) {
      return absl::InternalError("event_add failed for the deadline");
    }
    armed = true;
  }
  absl::Status status = absl::OkStatus();
  for (;;) {
    status = RunOnce();
    if (!status.ok()) break;
    if (done()) break;
    if (armed && deadline_hit_) {
      status = absl::DeadlineExceededError(
          absl::StrCat("RunUntil: condition not met within ",
                       absl::FormatDuration(timeout)));
      break;
    }
  }
  if (armed && deadline_event_ != nullptr) event_del(deadline_event_);
  return status;
}

void* Reactor::ThreadMain(void* arg) {
  Reactor* reactor = static_cast<Reactor*>(arg);
  reactor->thread_id_.store(std::this_thread::get_id(),
                            std::memory_order_release);
  char name[kThreadNameSize];
  std::snprintf(name, sizeof(name), "alts-rx-%zu", reactor->index_);
  pthread_setname_np(pthread_self(), name);
  reactor->looping_ = true;
  event_base_loop(reactor->base_, EVLOOP_NO_EXIT_ON_EMPTY);
  reactor->looping_ = false;
  reactor->Teardown();
  return nullptr;
}

// ---------------------------------------------------------------------------
// ReactorGroup

ReactorGroup::ReactorGroup(ReactorGroupOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ReactorGroup>> ReactorGroup::Create(
    ReactorGroupOptions options) {
  if (options.threads == 0 || options.threads > kMaxReactorThreads) {
    return absl::InvalidArgumentError(
        absl::StrCat("ReactorGroup: threads must be in [1, ",
                     kMaxReactorThreads, "], got ", options.threads));
  }
  const size_t n = options.threads;
  std::unique_ptr<ReactorGroup> group(new ReactorGroup(std::move(options)));
  group->reactors_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<std::unique_ptr<Reactor>> reactor =
        Reactor::Create(i, /*threaded=*/true);
    if (!reactor.ok()) return reactor.status();  // ~ReactorGroup cleans up.
    group->reactors_.push_back(*std::move(reactor));
  }
  for (auto& reactor : group->reactors_) {
    int rc = pthread_create(&reactor->thread_, nullptr, &Reactor::ThreadMain,
                            reactor.get());
    if (rc != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("ReactorGroup: pthread_create: ", std::strerror(rc)));
    }
    reactor->thread_started_ = true;
  }
  return group;
}

ReactorGroup::~ReactorGroup() { Shutdown(); }

Reactor& ReactorGroup::Pick(uint64_t key) {
  const size_t n = reactors_.size();
  size_t i;
  if (options_.custom_placement) {
    i = options_.custom_placement(key, n) % n;
  } else if (options_.placement ==
             ReactorGroupOptions::Placement::kKeyHash) {
    i = ReduceToRange(Mix64(key), n);
  } else {
    i = static_cast<size_t>(next_.fetch_add(1, std::memory_order_relaxed) %
                            n);
  }
  return *reactors_[i];
}

bool ReactorGroup::IsReactorThread() const {
  for (const auto& reactor : reactors_) {
    if (reactor->threaded_ && reactor->InReactorThread()) return true;
  }
  return false;
}

absl::Status ReactorGroup::RunOnAllAndWait(
    absl::FunctionRef<void(Reactor&)> fn) {
  if (IsReactorThread()) {
    return absl::FailedPreconditionError(
        "RunOnAllAndWait from a reactor thread of the same group");
  }
  // A countdown on std::mutex (not absl::BlockingCounter), so that
  // ThreadSanitizer sees the ordering; see reactor.h.
  std::mutex mu;
  std::condition_variable cv;
  size_t pending = reactors_.size();
  auto count_down = [&mu, &cv, &pending] {
    std::lock_guard<std::mutex> lock(mu);
    if (--pending == 0) cv.notify_all();
  };
  bool all_ran = true;
  for (auto& reactor : reactors_) {
    Reactor* r = reactor.get();
    if (!r->Post([r, fn, &count_down] {
          fn(*r);
          count_down();
        })) {
      all_ran = false;
      count_down();
    }
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&pending] { return pending == 0; });
  }
  if (!all_ran) {
    return absl::FailedPreconditionError(
        "RunOnAllAndWait: the group is shutting down");
  }
  return absl::OkStatus();
}

void ReactorGroup::Shutdown() {
  if (IsReactorThread()) {
    std::fprintf(stderr,
                 "ReactorGroup::Shutdown called from its own reactor thread\n");
    std::abort();
  }
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shut_down_) return;
  for (auto& reactor : reactors_) {
    if (reactor->thread_started_) reactor->BeginClose();
  }
  for (auto& reactor : reactors_) {
    if (reactor->thread_started_) {
      pthread_join(reactor->thread_, nullptr);
    } else {
      // Never started (Create failed part-way): nothing drives it, so the
      // caller tears it down.
      reactor->BeginClose();
      reactor->Teardown();
    }
  }
  shut_down_ = true;
}

// ---------------------------------------------------------------------------
// ReactorEvent

ReactorEvent::ReactorEvent(Reactor& reactor, Callback callback)
    : reactor_(&reactor), callback_(std::move(callback)) {}

absl::StatusOr<std::unique_ptr<ReactorEvent>> ReactorEvent::Create(
    Reactor& reactor, evutil_socket_t fd, short events, Callback callback) {
  if (!callback) {
    return absl::InvalidArgumentError("ReactorEvent: empty callback");
  }
  std::unique_ptr<ReactorEvent> ev(
      new ReactorEvent(reactor, std::move(callback)));
  std::lock_guard<std::mutex> lock(reactor.events_mu_);
  if (reactor.events_closed_) {
    ev->reactor_.store(nullptr, std::memory_order_release);
    return absl::FailedPreconditionError(
        "ReactorEvent: the reactor has shut down");
  }
  ev->event_ = event_new(reactor.base_, fd, events, &ReactorEvent::Dispatch,
                         ev.get());
  if (ev->event_ == nullptr) {
    ev->reactor_.store(nullptr, std::memory_order_release);
    return absl::InternalError("ReactorEvent: event_new failed");
  }
  ev->next_ = reactor.events_head_;
  if (reactor.events_head_ != nullptr) reactor.events_head_->prev_ = ev.get();
  reactor.events_head_ = ev.get();
  return ev;
}

absl::StatusOr<std::unique_ptr<ReactorEvent>> ReactorEvent::CreateTimer(
    Reactor& reactor, Callback callback) {
  return Create(reactor, -1, 0, std::move(callback));
}

ReactorEvent::~ReactorEvent() {
  Reactor* reactor = reactor_.load(std::memory_order_acquire);
  if (reactor == nullptr) return;
  // Freed under the lock so a concurrent teardown cannot free the base
  // between our check and event_free.
  std::lock_guard<std::mutex> lock(reactor->events_mu_);
  if (reactor_.load(std::memory_order_relaxed) == nullptr) return;
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    reactor->events_head_ = next_;
  }
  if (next_ != nullptr) next_->prev_ = prev_;
  Detach();
}

void ReactorEvent::Detach() {
  if (event_ != nullptr) event_free(event_);
  event_ = nullptr;
  reactor_.store(nullptr, std::memory_order_release);
}

void ReactorEvent::Dispatch(evutil_socket_t, short events, void* arg) {
  // Nothing may touch `self` after the call: the callback may destroy it.
  static_cast<ReactorEvent*>(arg)->callback_(events);
}

absl::Status ReactorEvent::Add() {
  if (event_ == nullptr) {
    return absl::FailedPreconditionError("ReactorEvent: detached");
  }
  if (event_add(event_, nullptr) != 0) {
    return absl::InternalError("ReactorEvent: event_add failed");
  }
  return absl::OkStatus();
}

absl::Status ReactorEvent::Add(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) return Add();
  if (event_ == nullptr) {
    return absl::FailedPreconditionError("ReactorEvent: detached");
  }
  timeval tv = absl::ToTimeval(std::max(timeout, absl::ZeroDuration()));
  if (event_add(event_, &tv) != 0) {
    return absl::InternalError("ReactorEvent: event_add failed");
  }
  return absl::OkStatus();
}

void ReactorEvent::Remove() {
  if (event_ != nullptr) event_del(event_);
}

void ReactorEvent::Activate(short events) {
  if (event_ != nullptr) event_active(event_, events, 0);
}

bool ReactorEvent::IsPending() const {
  return event_ != nullptr &&
         event_pending(event_, EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL,
                       nullptr) != 0;
}

}  // namespace alts
