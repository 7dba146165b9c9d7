#include "tools/alts_handshaker_service/handshaker_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "conn/reactor.h"
#include "handshaker/secret_array.h"

namespace alts::handshaker_service {

class DoHandshakeCall;

namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// SlotWaiter queues a stream for a handshake slot. It is owned apart from
// the call, because the limiter may be granting it a slot on another thread
// while the call goes away: `self_` keeps it alive while it is queued, and
// the grant hops to the call's reactor, where `call_` (nullptr once the call
// is gone) is read and written.
class SlotWaiter final : public HandshakeLimiter::Waiter {
 public:
  SlotWaiter(Reactor& reactor, DoHandshakeCall* call) : reactor_(reactor), call_(call) {}

  void OnSlotGranted(HandshakeLimiter::Slot slot) override;

  Reactor& reactor_;
  DoHandshakeCall* call_;  // reactor thread only
  std::shared_ptr<SlotWaiter> self_;
};

}  // namespace

// DoHandshakeCall is one DoHandshake call. Every method runs on the call's
// reactor thread. Events that come from outside the call's own dispatch
// (the timer, a slot granted by another stream) enter through
// ServerCall::RunOnReactor, so that Finish never deletes the handler under
// its own feet.
class DoHandshakeCall final : public rpc::ServerCallHandler {
 public:
  DoHandshakeCall(HandshakerService* service, rpc::ServerCall* call)
      : service_(service),
        call_(call),
        stream_(service->identities_),
        opened_(absl::Now()) {
    service_->streams_.fetch_add(1, std::memory_order_relaxed);
    absl::StatusOr<std::unique_ptr<ReactorEvent>> timer =
        ReactorEvent::CreateTimer(call_->reactor(), [this](short) {
          call_->RunOnReactor([this] { OnDeadline(); });
        });
    // Without a timer (the reactor is shutting down) the call ends with the
    // server anyway.
    if (timer.ok()) {
      timer_ = std::move(*timer);
      (void)timer_->Add(service_->identities_->handshake_timeout());
    }
  }

  ~DoHandshakeCall() override { Teardown(); }

  void OnMessage(absl::Span<const uint8_t> message) override {
    if (ending()) return;
    if (stream_.started() || slot_.held()) {
      Apply(stream_.OnRequest(message));
      return;
    }
    if (waiter_ != nullptr) {
      // A second request while the first waits for a slot: the client does
      // not wait for responses.
      Apply(stream_.Refuse(absl::FailedPreconditionError(
          "a second request arrived before the first was answered")));
      return;
    }
    const std::optional<Side> side = RequestSide(message);
    if (!side.has_value()) {
      // Cannot start a handshake: refused at once, no slot needed.
      Apply(stream_.OnRequest(message));
      return;
    }
    limiter_ = *side == Side::kClient ? &service_->client_limiter_ : &service_->server_limiter_;
    held_request_.assign(reinterpret_cast<const char*>(message.data()), message.size());
    waiter_ = std::make_shared<SlotWaiter>(call_->reactor(), this);
    waiter_->self_ = waiter_;
    absl::StatusOr<HandshakeLimiter::Slot> slot = limiter_->AcquireOrQueue(waiter_.get());
    if (!slot.ok() || slot->held()) {
      waiter_->self_.reset();
      waiter_->call_ = nullptr;
      waiter_.reset();
    }
    if (!slot.ok()) {
      std::string().swap(held_request_);
      Apply(stream_.Refuse(absl::ResourceExhaustedError(
          absl::StrCat("the handshaker service is at its limit of ",
                       limiter_->max_concurrent(), " running and ",
                       service_->options_.max_queued, " queued handshakes"))));
      return;
    }
    if (slot->held()) {
      slot_ = std::move(*slot);
      RunHeldRequest();
    }
    // Otherwise queued: OnSlot runs the request once a slot frees.
  }

  void OnHalfClose() override {
    if (waiter_ != nullptr) {
      half_close_pending_ = true;  // after the queued request has run
      return;
    }
    Apply(stream_.OnHalfClose());
  }

  void OnWriteDone(bool ok) override {
    write_in_flight_ = false;
    WipeString(writing_);
    if (!ok) return;  // the call ended: OnCancel follows
    if (has_queued_response_) {
      has_queued_response_ = false;
      StartWrite(std::move(queued_response_));
      return;
    }
    MaybeFinish();
  }

  void OnCancel() override {
    if (!reported_) stream_.OnCancel();
    Teardown();
    Report();
  }

  void OnDone() override {
    // The library may end a call itself (a request over the size limit)
    // without a cancellation.
    if (!stream_.finished()) stream_.OnCancel();
    Teardown();
    Report();
  }

  // OnSlot runs the held first request once the limiter granted a slot.
  void OnSlot(HandshakeLimiter::Slot slot) {
    if (waiter_ != nullptr) {
      waiter_->call_ = nullptr;
      waiter_.reset();
    }
    if (ending()) return;  // `slot` is released here
    slot_ = std::move(slot);
    RunHeldRequest();
  }

  // Post hands a granted slot to this call on its reactor thread; if the
  // call has gone by then, the slot is released with the task.
  void Post(HandshakeLimiter::Slot slot) {
    call_->RunOnReactor([this, slot = std::move(slot)]() mutable { OnSlot(std::move(slot)); });
  }

 private:
  bool ending() const { return finish_pending_ || finished_ || stream_.finished(); }

  void RunHeldRequest() {
    std::string request = std::move(held_request_);
    std::string().swap(held_request_);
    Apply(stream_.OnRequest(Bytes(request)));
    if (half_close_pending_) {
      half_close_pending_ = false;
      Apply(stream_.OnHalfClose());
    }
  }

  void OnDeadline() {
    const bool waiting = waiter_ != nullptr;
    if (waiting && limiter_->Cancel(waiter_.get())) {
      waiter_->self_.reset();
    }
    Apply(stream_.OnDeadline(waiting));
  }

  // Apply carries out one action: the response goes out (or waits behind
  // the one in flight), then the call ends once nothing is left to write.
  void Apply(StreamAction action) {
    if (action.write) {
      if (!write_in_flight_) {
        StartWrite(std::move(action.response));
      } else if (!has_queued_response_) {
        queued_response_ = std::move(action.response);
        has_queued_response_ = true;
      } else {
        // A lock-step client has at most one request unanswered; this one
        // sent more while not reading the responses.
        absl::Status status =
            absl::FailedPreconditionError("requests sent without reading the responses");
        (void)stream_.Fail(status);
        WipeString(action.response);
        WipeString(queued_response_);
        has_queued_response_ = false;
        action.write = false;
        action.finish = true;
        action.status = std::move(status);
      }
    }
    if (action.finish && !finish_pending_) {
      finish_pending_ = true;
      finish_status_ = std::move(action.status);
      Teardown();
      MaybeFinish();
    }
  }

  void StartWrite(std::string response) {
    writing_ = std::move(response);
    write_in_flight_ = true;
    // OnWriteDone may run inside Write.
    if (absl::Status s = call_->Write(Bytes(writing_)); !s.ok()) {
      write_in_flight_ = false;
      WipeString(writing_);
    }
  }

  void MaybeFinish() {
    if (!finish_pending_ || finished_ || write_in_flight_ || has_queued_response_) return;
    finished_ = true;
    Report();
    call_->Finish(std::move(finish_status_));
  }

  // Teardown gives back the slot, leaves the queue and stops the timer.
  // Idempotent.
  void Teardown() {
    if (timer_ != nullptr) timer_->Remove();
    slot_.Release();
    if (waiter_ != nullptr) {
      // If Cancel fails the grant is under way: its task finds call_ unset
      // and drops the slot.
      if (limiter_->Cancel(waiter_.get())) waiter_->self_.reset();
      waiter_->call_ = nullptr;
      waiter_.reset();
    }
    std::string().swap(held_request_);
  }

  void Report() {
    if (reported_ || !stream_.finished()) return;
    reported_ = true;
    StreamReport report;
    report.outcome = stream_.outcome();
    report.started = stream_.started() || !stream_.local().empty();
    report.side = stream_.side();
    report.local = stream_.local();
    report.peer = stream_.peer();
    report.status = stream_.status();
    report.client_address = std::string(call_->peer_address());
    report.elapsed = absl::Now() - opened_;
    service_->Ended(report);
  }

  HandshakerService* const service_;
  rpc::ServerCall* const call_;
  HandshakeStream stream_;
  const absl::Time opened_;
  std::unique_ptr<ReactorEvent> timer_;
  HandshakeLimiter* limiter_ = nullptr;  // this role's, once the first request is in
  HandshakeLimiter::Slot slot_;
  std::shared_ptr<SlotWaiter> waiter_;  // set while queued for a slot
  std::string held_request_;            // the first request, while queued
  bool half_close_pending_ = false;
  // Output: the response in flight and at most one behind it (secret: the
  // result's key_data is wiped once written).
  std::string writing_;
  bool write_in_flight_ = false;
  std::string queued_response_;
  bool has_queued_response_ = false;
  bool finish_pending_ = false;
  bool finished_ = false;
  bool reported_ = false;
  absl::Status finish_status_;
};

namespace {

void SlotWaiter::OnSlotGranted(HandshakeLimiter::Slot slot) {
  // Runs on the thread that released a slot. Posting allocates, but only
  // for streams that had to wait.
  std::shared_ptr<SlotWaiter> self = std::move(self_);
  (void)reactor_.Post([self, slot = std::move(slot)]() mutable {
    if (self->call_ != nullptr) self->call_->Post(std::move(slot));
  });
}

}  // namespace

HandshakerService::HandshakerService(std::shared_ptr<const ServiceIdentities> identities,
                                     HandshakerServiceOptions options)
    : identities_(std::move(identities)),
      options_(std::move(options)),
      client_limiter_(options_.max_concurrent, options_.max_queued),
      server_limiter_(options_.max_concurrent, options_.max_queued) {}

HandshakerService::~HandshakerService() = default;

void HandshakerService::ConfigureServer(rpc::ServerOptions& options) {
  options.max_receive_message_size = kMaxHandshakerRequestSize;
  options.http2.max_concurrent_streams = kMaxStreamsPerConnection;
}

absl::Status HandshakerService::Register(rpc::Server& server) {
  return server.RegisterMethod(kDoHandshakeMethod, [this](rpc::ServerCall* call) {
    return std::unique_ptr<rpc::ServerCallHandler>(new DoHandshakeCall(this, call));
  });
}

void HandshakerService::Ended(const StreamReport& report) {
  switch (report.outcome) {
    case StreamOutcome::kCompleted:
      completed_.fetch_add(1, std::memory_order_relaxed);
      break;
    case StreamOutcome::kFailed:
      failed_.fetch_add(1, std::memory_order_relaxed);
      break;
    case StreamOutcome::kAbandoned:
    case StreamOutcome::kOpen:
      abandoned_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  if (options_.on_stream_end) options_.on_stream_end(report);
}

ServiceStats HandshakerService::stats() const {
  ServiceStats s;
  s.streams = streams_.load(std::memory_order_relaxed);
  s.completed = completed_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.abandoned = abandoned_.load(std::memory_order_relaxed);
  const uint64_t ended = s.completed + s.failed + s.abandoned;
  s.open = s.streams > ended ? s.streams - ended : 0;
  s.running = client_limiter_.in_use() + server_limiter_.in_use();
  s.queued = client_limiter_.queued() + server_limiter_.queued();
  return s;
}

}  // namespace alts::handshaker_service
