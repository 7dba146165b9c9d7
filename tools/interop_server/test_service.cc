#include "tools/interop_server/test_service.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "conn/reactor.h"
#include "rpc/proto.h"
#include "tests/interop/proto/test.pb.h"

namespace alts::interop {
namespace {

namespace pb = ::grpc::testing;

constexpr char kPrefix[] = "/grpc.testing.TestService/";

// MakeBody returns `size` bytes of the payload type: zeros (COMPRESSABLE)
// or pseudo-random bytes (UNCOMPRESSABLE); kInvalidArgument for RANDOM,
// unknown types and sizes outside [0, kMaxPayloadSize].
absl::StatusOr<std::string> MakeBody(pb::PayloadType type, int64_t size) {
  if (size < 0 || size > kMaxPayloadSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("payload size ", size, " outside [0, ", kMaxPayloadSize, "]"));
  }
  std::string body(static_cast<size_t>(size), '\0');
  switch (type) {
    case pb::COMPRESSABLE:
      return body;
    case pb::UNCOMPRESSABLE: {
      uint64_t x = 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(size);
      for (char& c : body) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = static_cast<char>(x);
      }
      return body;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported response_type ", pb::PayloadType_Name(type)));
  }
}

// EchoedStatus turns a request's response_status into the status to end
// the call with: OK if absent or code 0; kInvalidArgument for a code that
// is no gRPC status code.
absl::Status EchoedStatus(const pb::EchoStatus& echo) {
  if (echo.code() == 0) return absl::OkStatus();
  if (echo.code() < 0 || echo.code() > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("response_status.code ", echo.code(), " is not a gRPC status code"));
  }
  return absl::Status(static_cast<absl::StatusCode>(echo.code()), echo.message());
}

// TestHandler is the base of every method's handler: it echoes the test
// metadata, and writes planned responses one at a time, each after its
// interval (a reactor timer, never a sleep), then ends the call with the
// status chosen by End once every planned response is out.
class TestHandler : public rpc::ServerCallHandler {
 public:
  explicit TestHandler(rpc::ServerCall* call) : call_(call) {
    const rpc::Metadata& md = call_->client_metadata();
    for (absl::string_view v : md.GetAll(kEchoInitialKey)) {
      (void)call_->AddInitialMetadata(kEchoInitialKey, std::string(v));
    }
    for (absl::string_view v : md.GetAll(kEchoTrailingKey)) {
      trailers_.Add(kEchoTrailingKey, std::string(v));
    }
  }

  void OnWriteDone(bool ok) override {
    writing_ = false;
    if (!ok) {
      Stop();
      return;
    }
    Pump();
  }
  void OnCancel() override { Stop(); }

 protected:
  // Parse parses `bytes` into `msg`; a malformed message ends the call with
  // kInternal (as gRPC does) and returns false.
  template <typename Msg>
  bool Parse(absl::Span<const uint8_t> bytes, Msg* msg) {
    if (rpc::ParseMessage(bytes, msg)) return true;
    End(absl::InternalError("request message does not parse"));
    return false;
  }

  // Respond plans `msg` to go out next (after what is already planned).
  template <typename Msg>
  void Respond(const Msg& msg, bool compress) {
    Step step;
    step.message.emplace();
    msg.SerializeToString(&*step.message);
    step.compress = compress;
    Add(std::move(step));
  }

  // Plan plans one StreamingOutputCallResponse per parameter of `req`;
  // bad parameters end the call with kInvalidArgument instead.
  void Plan(const pb::StreamingOutputCallRequest& req) {
    for (const pb::ResponseParameters& p : req.response_parameters()) {
      if (p.size() < 0 || p.size() > kMaxPayloadSize) {
        End(absl::InvalidArgumentError(
            absl::StrCat("response size ", p.size(), " outside [0, ", kMaxPayloadSize, "]")));
        return;
      }
      if (p.interval_us() < 0 || p.interval_us() > kMaxIntervalUs) {
        End(absl::InvalidArgumentError(absl::StrCat(
            "interval_us ", p.interval_us(), " outside [0, ", kMaxIntervalUs, "]")));
        return;
      }
      Step step;
      step.type = req.response_type();
      step.size = p.size();
      step.delay = absl::Microseconds(p.interval_us());
      step.compress = p.compressed().value();
      Add(std::move(step));
    }
  }

  // End ends the call with `status` once the planned responses are out;
  // an error drops the responses not yet planned (later calls are ignored).
  void End(absl::Status status) {
    if (final_.has_value()) return;
    final_ = std::move(status);
    Pump();
  }

  bool ended() const { return final_.has_value(); }
  rpc::ServerCall* call() const { return call_; }

 private:
  // Step is one planned response: prebuilt, or a payload of `size` bytes.
  struct Step {
    std::optional<std::string> message;
    pb::PayloadType type = pb::COMPRESSABLE;
    int32_t size = 0;
    absl::Duration delay;
    bool compress = false;
    bool waited = false;
  };

  void Add(Step step) {
    if (final_.has_value() || stopped_) return;
    if (step.compress && !compression_set_ && !wrote_) {
      call_->SetResponseCompression("gzip");
      compression_set_ = true;
    }
    plan_.push_back(std::move(step));
    Pump();
  }

  void Pump() {
    if (stopped_ || writing_ || timer_armed_) return;
    if (!plan_.empty()) {
      Step& step = plan_.front();
      if (step.delay > absl::ZeroDuration() && !step.waited) {
        step.waited = true;
        ArmTimer(step.delay);
        return;
      }
      if (step.message.has_value()) {
        current_ = std::move(*step.message);
      } else {
        absl::StatusOr<std::string> body = MakeBody(step.type, step.size);
        if (!body.ok()) {
          plan_.clear();
          Finish(body.status());
          return;
        }
        pb::StreamingOutputCallResponse resp;
        resp.mutable_payload()->set_type(step.type);
        *resp.mutable_payload()->mutable_body() = std::move(*body);
        resp.SerializeToString(&current_);
      }
      const bool compress = step.compress;
      plan_.pop_front();
      writing_ = true;
      wrote_ = true;
      absl::Status s = call_->Write(rpc::AsBytes(current_), rpc::WriteOptions{compress});
      if (!s.ok()) {
        writing_ = false;
        Stop();
      }
      return;
    }
    if (final_.has_value()) Finish(*final_);
  }

  void ArmTimer(absl::Duration delay) {
    if (timer_ == nullptr) {
      absl::StatusOr<std::unique_ptr<ReactorEvent>> t =
          ReactorEvent::CreateTimer(call_->reactor(), [this](short) {
            timer_armed_ = false;
            Pump();
          });
      if (!t.ok()) {
        plan_.clear();
        Finish(t.status());
        return;
      }
      timer_ = std::move(*t);
    }
    if (absl::Status s = timer_->Add(delay); !s.ok()) {
      plan_.clear();
      Finish(s);
      return;
    }
    timer_armed_ = true;
  }

  void Finish(absl::Status status) {
    if (stopped_) return;
    stopped_ = true;
    call_->Finish(std::move(status), std::move(trailers_));
  }

  // Stop: the call ended under us (cancel, reset, write failure).
  void Stop() {
    stopped_ = true;
    plan_.clear();
    if (timer_ != nullptr) timer_->Remove();
    timer_armed_ = false;
  }

  rpc::ServerCall* call_;
  rpc::Metadata trailers_;
  std::deque<Step> plan_;
  std::string current_;  // the message being written
  std::optional<absl::Status> final_;
  std::unique_ptr<ReactorEvent> timer_;
  bool writing_ = false;
  bool timer_armed_ = false;
  bool stopped_ = false;
  bool wrote_ = false;
  bool compression_set_ = false;
};

// UnaryHandler collects the single request of a unary call and runs
// Handle on it at half-close (none or several requests: kInternal).
template <typename Req>
class UnaryHandler : public TestHandler {
 public:
  using TestHandler::TestHandler;
  void OnMessage(absl::Span<const uint8_t> message) override {
    if (++requests_ == 1) request_.assign(reinterpret_cast<const char*>(message.data()),
                                          message.size());
  }
  void OnHalfClose() override {
    if (requests_ != 1) {
      End(absl::InternalError(absl::StrCat("unary call got ", requests_, " request messages")));
      return;
    }
    Req req;
    if (Parse(rpc::AsBytes(request_), &req)) Handle(req);
  }

 protected:
  virtual void Handle(const Req& req) = 0;

 private:
  std::string request_;
  int requests_ = 0;
};

class EmptyCall final : public UnaryHandler<pb::Empty> {
 public:
  using UnaryHandler::UnaryHandler;
  void Handle(const pb::Empty&) override {
    Respond(pb::Empty(), false);
    End(absl::OkStatus());
  }
};

class UnaryCall final : public UnaryHandler<pb::SimpleRequest> {
 public:
  UnaryCall(rpc::ServerCall* call, bool cacheable) : UnaryHandler(call), cacheable_(cacheable) {}
  void Handle(const pb::SimpleRequest& req) override {
    if (absl::Status s = EchoedStatus(req.response_status()); !s.ok()) {
      End(std::move(s));
      return;
    }
    pb::SimpleResponse resp;
    if (cacheable_) {
      resp.mutable_payload()->set_body(absl::StrCat(absl::ToUnixNanos(absl::Now())));
    } else {
      absl::StatusOr<std::string> body = MakeBody(req.response_type(), req.response_size());
      if (!body.ok()) {
        End(body.status());
        return;
      }
      resp.mutable_payload()->set_type(req.response_type());
      *resp.mutable_payload()->mutable_body() = std::move(*body);
    }
    if (req.fill_username() && call()->peer() != nullptr) {
      resp.set_username(call()->peer()->service_account());
    }
    Respond(resp, req.response_compressed().value());
    End(absl::OkStatus());
  }

 private:
  bool cacheable_;
};

class StreamingOutputCall final : public UnaryHandler<pb::StreamingOutputCallRequest> {
 public:
  using UnaryHandler::UnaryHandler;
  void Handle(const pb::StreamingOutputCallRequest& req) override {
    Plan(req);
    End(EchoedStatus(req.response_status()));
  }
};

class StreamingInputCall final : public TestHandler {
 public:
  using TestHandler::TestHandler;
  void OnMessage(absl::Span<const uint8_t> message) override {
    pb::StreamingInputCallRequest req;
    if (ended() || !Parse(message, &req)) return;
    total_ += static_cast<int64_t>(req.payload().body().size());
    if (total_ > INT32_MAX) End(absl::OutOfRangeError("aggregated payload size exceeds int32"));
  }
  void OnHalfClose() override {
    if (ended()) return;
    pb::StreamingInputCallResponse resp;
    resp.set_aggregated_payload_size(static_cast<int32_t>(total_));
    Respond(resp, false);
    End(absl::OkStatus());
  }

 private:
  int64_t total_ = 0;
};

class FullDuplexCall final : public TestHandler {
 public:
  using TestHandler::TestHandler;
  void OnMessage(absl::Span<const uint8_t> message) override {
    pb::StreamingOutputCallRequest req;
    if (ended() || !Parse(message, &req)) return;
    if (absl::Status s = EchoedStatus(req.response_status()); !s.ok()) {
      End(std::move(s));
      return;
    }
    Plan(req);
  }
  void OnHalfClose() override { End(absl::OkStatus()); }
};

class HalfDuplexCall final : public TestHandler {
 public:
  using TestHandler::TestHandler;
  void OnMessage(absl::Span<const uint8_t> message) override {
    pb::StreamingOutputCallRequest req;
    if (ended() || !Parse(message, &req)) return;
    buffered_ += message.size();
    if (buffered_ > kMaxHalfDuplexBytes) {
      End(absl::ResourceExhaustedError(
          absl::StrCat("HalfDuplexCall buffers at most ", kMaxHalfDuplexBytes, " request bytes")));
      return;
    }
    requests_.push_back(std::move(req));
  }
  void OnHalfClose() override {
    for (const pb::StreamingOutputCallRequest& req : requests_) {
      if (absl::Status s = EchoedStatus(req.response_status()); !s.ok()) {
        End(std::move(s));
        return;
      }
      Plan(req);
    }
    requests_.clear();
    End(absl::OkStatus());
  }

 private:
  std::vector<pb::StreamingOutputCallRequest> requests_;
  size_t buffered_ = 0;
};

template <typename H, typename... Args>
absl::Status Register(rpc::Server& server, absl::string_view method, Args... args) {
  return server.RegisterMethod(
      absl::StrCat(kPrefix, method),
      [args...](rpc::ServerCall* call) -> std::unique_ptr<rpc::ServerCallHandler> {
        return std::make_unique<H>(call, args...);
      });
}

}  // namespace

absl::Status RegisterTestService(rpc::Server& server) {
  for (absl::Status s : {Register<EmptyCall>(server, "EmptyCall"),
                         Register<UnaryCall>(server, "UnaryCall", false),
                         Register<UnaryCall>(server, "CacheableUnaryCall", true),
                         Register<StreamingOutputCall>(server, "StreamingOutputCall"),
                         Register<StreamingInputCall>(server, "StreamingInputCall"),
                         Register<FullDuplexCall>(server, "FullDuplexCall"),
                         Register<HalfDuplexCall>(server, "HalfDuplexCall")}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace alts::interop
