#ifndef ALTS_CONN_REACTOR_H_
#define ALTS_CONN_REACTOR_H_

// Reactors: one libevent event_base per thread, plus a group that owns the
// threads and places connections on them.
//
// Threading model. A Reactor's event_base is driven by exactly one thread:
// either a thread owned by a ReactorGroup, or (standalone mode,
// Reactor::CreateUnthreaded) whichever thread calls RunOnce/RunUntil.
// libevent is put in thread-safe mode once per process
// (evthread_use_pthreads), so event_add, event_del and event_active may be
// called from any thread; everything else about an event (creating it,
// freeing it, what its callback touches) belongs to the reactor thread.
//
// Shutdown rule (ReactorGroup::Shutdown and ~Reactor). The task queue closes
// the instant shutdown begins. Every task whose Post() returned true runs, on
// its reactor thread, before shutdown completes; a Post() that comes later
// (from any thread, including a task running during the drain) returns false
// and destroys its task without running it, on the posting thread. Then every
// ReactorEvent still bound to the reactor is detached (its libevent event
// freed), and the event_base is freed. Events created directly on base() are
// the creator's to free, and must be freed before shutdown, e.g. from a
// posted task.

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <event2/event.h>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conn/wake_queue.h"

namespace alts {

class ReactorEvent;
class ReactorGroup;

// kMaxReactorThreads bounds ReactorGroupOptions::threads: more reactors than
// this only adds context switches on any machine we target, and a typo (e.g.
// a connection count passed as a thread count) should fail, not spawn
// thousands of threads.
inline constexpr size_t kMaxReactorThreads = 256;

// Reactor owns one libevent event_base and the queue of tasks posted to it.
// Obtain one from a ReactorGroup (threaded) or Reactor::CreateUnthreaded
// (driven by the caller). Not movable; its address is stable for its life.
class Reactor {
 public:
  // Task is a one-shot closure run on the reactor thread. Posting allocates;
  // tasks are for setup and teardown, never for the per-read data path.
  using Task = absl::AnyInvocable<void() &&>;

  // CreateUnthreaded returns a reactor with no thread of its own: the caller
  // drives it with RunOnce/RunUntil (single-thread tests, and benchmarks
  // that put client and server on one loop). Returns kInternal if libevent
  // cannot create the base. Destroy it on the thread that drives it.
  static absl::StatusOr<std::unique_ptr<Reactor>> CreateUnthreaded();

  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  // ~Reactor shuts an unthreaded reactor down (see the shutdown rule at the
  // top of this file). A threaded reactor is destroyed by its group.
  ~Reactor();

  // base returns the event_base, or nullptr once the reactor has shut down.
  event_base* base() const { return base_; }

  // wake_queue returns the reactor's WakeQueue, through which any thread
  // schedules work for objects living on this reactor without allocating
  // (e.g. a connection woken when a pool buffer comes back).
  WakeQueue& wake_queue() const { return *wake_queue_; }

  // index returns this reactor's position in its group (0 when unthreaded).
  size_t index() const { return index_; }

  // threaded returns true if a ReactorGroup thread drives this reactor.
  bool threaded() const { return threaded_; }

  // InReactorThread returns true if the calling thread is the one driving
  // this reactor: the group thread, or for an unthreaded reactor the thread
  // that created it or last called RunOnce/RunUntil.
  bool InReactorThread() const;

  // Post queues `task` to run on the reactor thread, after the tasks already
  // queued (FIFO per reactor). Thread-safe; also callable from the reactor
  // thread itself (the task then runs on a later loop iteration, never
  // inline). Returns false if the reactor has begun shutting down; the task
  // was then destroyed, unrun, before Post returned.
  bool Post(Task task);

  // Wake makes the reactor's loop return from its current wait and run one
  // iteration. Thread-safe. RunUntil re-evaluates its predicate after every
  // iteration, so another thread that changes what the predicate reads calls
  // Wake.
  void Wake();

  // RunOnce waits until at least one event is active (or a task is posted or
  // Wake is called), runs the ready callbacks and returns. Only for an
  // unthreaded reactor: returns kFailedPrecondition on a threaded one, after
  // shutdown, or when called from inside one of this reactor's callbacks;
  // kInternal if libevent fails.
  absl::Status RunOnce();

  // RunUntil runs loop iterations until `done()` returns true (checked before
  // the first iteration and after each). Returns kDeadlineExceeded if
  // `timeout` passes first, otherwise as RunOnce.
  absl::Status RunUntil(absl::FunctionRef<bool()> done,
                        absl::Duration timeout = absl::InfiniteDuration());

  // tasks_run returns how many posted tasks this reactor has started (a
  // task counts from the moment it begins running).
  uint64_t tasks_run() const {
    return tasks_run_.load(std::memory_order_relaxed);
  }

 private:
  friend class ReactorEvent;
  friend class ReactorGroup;

  Reactor(event_base* base, size_t index, bool threaded);

  // Create makes the base and the wake and deadline events; kInternal if
  // libevent fails.
  static absl::StatusOr<std::unique_ptr<Reactor>> Create(size_t index,
                                                         bool threaded);
  static void OnWakeEvent(evutil_socket_t fd, short events, void* arg);
  static void OnDeadlineEvent(evutil_socket_t fd, short events, void* arg);
  static void* ThreadMain(void* arg);

  // RunTasks drains the task queue, including tasks posted while it runs;
  // in a closing threaded reactor it then breaks the loop.
  void RunTasks();
  // BeginClose closes the task queue and wakes the loop so it drains it.
  void BeginClose();
  // Teardown runs on the reactor thread after its loop has stopped: runs
  // what is left in the queue, detaches ReactorEvents, frees the base.
  void Teardown();
  // ActivateLocked marks the wake event active unless it already is. The
  // caller holds mu_.
  void ActivateLocked();

  void Link(ReactorEvent* ev);
  void Unlink(ReactorEvent* ev);

  event_base* base_;
  const size_t index_;
  const bool threaded_;
  event* wake_event_ = nullptr;
  std::unique_ptr<WakeQueue> wake_queue_;
  event* deadline_event_ = nullptr;
  bool deadline_hit_ = false;
  // looping_ is true while the driving thread is inside event_base_loop, so
  // a callback that calls RunOnce gets an error instead of re-entering.
  bool looping_ = false;
  std::atomic<std::thread::id> thread_id_;
  pthread_t thread_{};
  bool thread_started_ = false;
  std::atomic<uint64_t> tasks_run_{0};

  // std::mutex rather than absl::Mutex throughout this file: the system
  // Abseil is not built with ThreadSanitizer, which then cannot see
  // absl::Mutex's ordering, while pthread mutexes are intercepted.
  std::mutex mu_;
  // Guarded by mu_.
  bool closed_ = false;
  bool wake_pending_ = false;
  std::vector<Task> queue_;
  // running_ is only touched on the reactor thread; it keeps the drained
  // batch's capacity so steady-state posting reuses it.
  std::vector<Task> running_;

  // Live ReactorEvents bound to this reactor, detached at teardown.
  std::mutex events_mu_;
  // Guarded by events_mu_.
  ReactorEvent* events_head_ = nullptr;
  bool events_closed_ = false;
};

// ReactorGroupOptions configures ReactorGroup::Create.
struct ReactorGroupOptions {
  // Placement picks the reactor for ReactorGroup::Pick.
  enum class Placement {
    // kRoundRobin cycles through the reactors, ignoring the key.
    kRoundRobin,
    // kKeyHash maps equal keys to the same reactor, spreading distinct keys
    // evenly (keys are mixed first, so sequential keys spread too).
    kKeyHash,
  };

  // threads is the number of reactors, each with its own thread; 1 to
  // kMaxReactorThreads.
  size_t threads = 2;
  // placement is used when custom_placement is empty.
  Placement placement = Placement::kRoundRobin;
  // custom_placement, if set, replaces `placement`: it receives Pick's key
  // and the group size n and returns an index below n (larger values are
  // reduced modulo n). It may be called from several threads at once.
  absl::AnyInvocable<size_t(uint64_t key, size_t n)> custom_placement;
};

// ReactorGroup owns a fixed set of reactors, each driven by its own thread
// from Create until Shutdown. Thread-safe except where noted.
class ReactorGroup {
 public:
  // Create starts options.threads reactor threads. Returns kInvalidArgument
  // if the thread count is 0 or above kMaxReactorThreads, kInternal if
  // libevent cannot create a base, kResourceExhausted if a thread cannot be
  // started (nothing is left running in either case).
  static absl::StatusOr<std::unique_ptr<ReactorGroup>> Create(
      ReactorGroupOptions options = {});

  ReactorGroup(const ReactorGroup&) = delete;
  ReactorGroup& operator=(const ReactorGroup&) = delete;

  // ~ReactorGroup calls Shutdown and destroys the reactors.
  ~ReactorGroup();

  // Pick returns the reactor for `key` according to the placement option.
  Reactor& Pick(uint64_t key = 0);

  // reactor returns the i-th reactor; i must be below size().
  Reactor& reactor(size_t i) { return *reactors_[i]; }

  // size returns the number of reactors.
  size_t size() const { return reactors_.size(); }

  // RunOnAllAndWait runs fn(reactor) on every reactor's thread and returns
  // when all have finished. Returns kFailedPrecondition, without waiting for
  // anything, when called from one of this group's reactor threads (it would
  // wait on itself), and kFailedPrecondition if the group is shutting down
  // (fn ran on the reactors that were still accepting tasks).
  absl::Status RunOnAllAndWait(absl::FunctionRef<void(Reactor&)> fn);

  // IsReactorThread returns true if the caller is one of this group's
  // reactor threads.
  bool IsReactorThread() const;

  // Shutdown stops every reactor as described at the top of this file and
  // joins the threads. Idempotent; concurrent callers all return after the
  // shutdown has completed. Must not be called from one of this group's
  // reactor threads (it would join itself): that aborts. Reactor references
  // stay valid until the group is destroyed; their base() is then nullptr.
  void Shutdown();

 private:
  explicit ReactorGroup(ReactorGroupOptions options);

  ReactorGroupOptions options_;
  std::vector<std::unique_ptr<Reactor>> reactors_;
  std::atomic<uint64_t> next_{0};
  std::mutex shutdown_mu_;
  bool shut_down_ = false;  // Guarded by shutdown_mu_.
};

// ReactorEvent is a libevent event bound to one reactor, calling a C++
// callback. The callback is stored once at creation, so firing allocates
// nothing. Use it for fd readiness and for timers (idle and partial-frame
// timeouts).
//
// Lifetime: create and destroy it on its reactor's thread (or while the
// reactor's loop is not running). If the reactor shuts down first, the
// event is detached: its libevent event is freed, Add returns
// kFailedPrecondition, and destroying it later is safe even after the
// group is gone. The callback may destroy the ReactorEvent that is calling
// it, as long as it touches none of its own captures afterwards.
class ReactorEvent {
 public:
  // Callback receives the libevent flags that fired (EV_READ, EV_WRITE,
  // EV_TIMEOUT).
  using Callback = absl::AnyInvocable<void(short events)>;

  // Create binds an event for `fd` with libevent flags `events` (EV_READ,
  // EV_WRITE, EV_PERSIST, EV_ET; fd -1 and 0 for a pure timer). The event is
  // not added yet. Returns kInvalidArgument for an empty callback,
  // kFailedPrecondition if the reactor has shut down, kInternal if libevent
  // fails.
  static absl::StatusOr<std::unique_ptr<ReactorEvent>> Create(
      Reactor& reactor, evutil_socket_t fd, short events, Callback callback);

  // CreateTimer is Create(reactor, -1, 0, callback): a one-shot timer to arm
  // with Add(timeout).
  static absl::StatusOr<std::unique_ptr<ReactorEvent>> CreateTimer(
      Reactor& reactor, Callback callback);

  ReactorEvent(const ReactorEvent&) = delete;
  ReactorEvent& operator=(const ReactorEvent&) = delete;

  // ~ReactorEvent deletes and frees the libevent event unless detached.
  ~ReactorEvent();

  // Add makes the event pending with no timeout. Returns kFailedPrecondition
  // if detached, kInternal if libevent fails.
  absl::Status Add();

  // Add makes the event pending; it also fires with EV_TIMEOUT after
  // `timeout` (re-adding a pending event restarts the timeout). Negative
  // timeouts count as zero. Errors as Add().
  absl::Status Add(absl::Duration timeout);

  // Remove makes the event non-pending. No-op if detached.
  void Remove();

  // Activate makes the callback run on the reactor thread with `events`, as
  // if they had fired. Thread-safe. No-op if detached.
  void Activate(short events);

  // IsPending returns true if the event is added (waiting for fd readiness
  // or its timeout).
  bool IsPending() const;

  // attached returns false once the reactor has shut down under this event.
  bool attached() const {
    return reactor_.load(std::memory_order_acquire) != nullptr;
  }

  // raw returns the libevent event (nullptr once detached), for calls this
  // class does not wrap.
  event* raw() const { return event_; }

 private:
  friend class Reactor;

  ReactorEvent(Reactor& reactor, Callback callback);
  static void Dispatch(evutil_socket_t fd, short events, void* arg);
  // Detach frees the libevent event; called by the reactor at teardown
  // with events_mu_ held.
  void Detach();

  std::atomic<Reactor*> reactor_;
  Callback callback_;
  event* event_ = nullptr;
  // Intrusive list links in Reactor::events_head_ (guarded by the
  // reactor's events_mu_).
  ReactorEvent* prev_ = nullptr;
  ReactorEvent* next_ = nullptr;
};

}  // namespace alts

#endif  // ALTS_CONN_REACTOR_H_
