#include "rpc/blocking.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"

namespace alts::rpc {
namespace {

// Unshared copies `s` (message and payloads) into storage of its own. Sharing
// the rep would be safe (its count is atomic), but Debian's Abseil is not
// built for ThreadSanitizer, which then reports the reactor thread freeing
// the call's status while the user thread reads this copy.
absl::Status Unshared(const absl::Status& s) {
  if (s.ok()) return absl::OkStatus();
  absl::Status copy(s.code(), std::string(s.message()));
  s.ForEachPayload([&copy](absl::string_view type_url, const absl::Cord& payload) {
    copy.SetPayload(type_url, absl::Cord(std::string(payload)));
  });
  return copy;
}

}  // namespace

void BlockingCall::Handler::OnInitialMetadata(const Metadata& md) {
  std::lock_guard<std::mutex> lock(mu);
  initial = md;
}

void BlockingCall::Handler::OnMessage(absl::Span<const uint8_t> message) {
  std::lock_guard<std::mutex> lock(mu);
  messages.emplace_back(reinterpret_cast<const char*>(message.data()), message.size());
  queued_bytes += message.size();
  if (!paused && call != nullptr && queued_bytes > kMaxBlockingReadAhead) {
    paused = true;
    call->PauseReads();  // on the reactor thread: direct
  }
  cv.notify_all();
}

void BlockingCall::Handler::OnWriteDone(bool ok) {
  std::lock_guard<std::mutex> lock(mu);
  write_done = true;
  write_ok = ok;
  cv.notify_all();
}

void BlockingCall::Handler::OnDone(const absl::Status& s, const Metadata& t) {
  std::lock_guard<std::mutex> lock(mu);
  status = Unshared(s);
  trailers = t;
  done = true;
  write_done = true;
  cv.notify_all();
}

std::unique_ptr<BlockingCall> BlockingCall::Start(Channel& channel, absl::string_view method,
                                                  CallOptions options) {
  std::unique_ptr<BlockingCall> c(new BlockingCall());
  // Held across StartCall: OnDone cannot run (and free the call) before the
  // pointer is stored.
  std::lock_guard<std::mutex> lock(c->handler_.mu);
  c->handler_.call = channel.StartCall(method, std::move(options), &c->handler_);
  return c;
}

// The ClientCall is used only under the handler's mutex and only before
// OnDone (which takes the mutex): the call object lives until OnDone returns,
// and a hop posted from here keeps it alive until the hop has run.

BlockingCall::~BlockingCall() {
  std::unique_lock<std::mutex> lock(handler_.mu);
  if (!handler_.done) {
    handler_.call->Cancel();
    handler_.cv.wait(lock, [&] { return handler_.done; });
  }
}

bool BlockingCall::Write(absl::Span<const uint8_t> message, bool compress) {
  std::unique_lock<std::mutex> lock(handler_.mu);
  if (handler_.done || writes_done_) return false;
  handler_.write_done = false;
  handler_.call->Write(message, false, compress);
  handler_.cv.wait(lock, [&] { return handler_.write_done; });
  return handler_.write_ok && !handler_.done;
}

void BlockingCall::WritesDone() {
  if (writes_done_) return;
  writes_done_ = true;
  std::lock_guard<std::mutex> lock(handler_.mu);
  if (!handler_.done) handler_.call->WritesDone();
}

bool BlockingCall::Read(std::string* message) {
  std::unique_lock<std::mutex> lock(handler_.mu);
  handler_.cv.wait(lock, [&] { return !handler_.messages.empty() || handler_.done; });
  if (handler_.messages.empty()) return false;
  *message = std::move(handler_.messages.front());
  handler_.messages.pop_front();
  handler_.queued_bytes -= message->size();
  if (handler_.paused && handler_.queued_bytes <= kMaxBlockingReadAhead / 2 && !handler_.done) {
    handler_.paused = false;
    handler_.call->ResumeReads();
  }
  return true;
}

absl::Status BlockingCall::Finish() {
  WritesDone();
  std::unique_lock<std::mutex> lock(handler_.mu);
  if (handler_.paused && !handler_.done) {
    // Let the rest in so the status can arrive.
    handler_.paused = false;
    handler_.call->ResumeReads();
  }
  handler_.cv.wait(lock, [&] { return handler_.done; });
  handler_.messages.clear();
  return handler_.status;
}

void BlockingCall::Cancel() {
  std::lock_guard<std::mutex> lock(handler_.mu);
  if (!handler_.done) handler_.call->Cancel();
}

absl::StatusOr<std::string> BlockingUnaryCall(Channel& channel, absl::string_view method,
                                              absl::Span<const uint8_t> request,
                                              CallOptions options, Metadata* initial,
                                              Metadata* trailers) {
  std::unique_ptr<BlockingCall> call = BlockingCall::Start(channel, method, std::move(options));
  // One message with the half-close: a single DATA frame in the common case.
  {
    std::lock_guard<std::mutex> lock(call->handler_.mu);
    call->writes_done_ = true;
    if (!call->handler_.done) call->handler_.call->Write(request, /*last=*/true);
  }
  std::string response;
  const bool got = call->Read(&response);
  std::string extra;
  const bool more = got && call->Read(&extra);
  absl::Status status = call->Finish();
  if (initial != nullptr) *initial = call->initial_metadata();
  if (trailers != nullptr) *trailers = call->trailers();
  if (!status.ok()) return status;
  if (!got) return absl::InternalError("unary call: the server sent no response message");
  if (more) return absl::InternalError("unary call: the server sent more than one response");
  return response;
}

}  // namespace alts::rpc
