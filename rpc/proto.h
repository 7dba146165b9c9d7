#ifndef ALTS_RPC_PROTO_H_
#define ALTS_RPC_PROTO_H_

// Typed protobuf helpers over the byte-level API: templates over generated
// message types, no code generator needed.
//
//   // Client (user thread):
//   absl::StatusOr<SimpleResponse> r =
//       rpc::UnaryCall<SimpleResponse>(channel, "/grpc.testing.TestService/UnaryCall", req);
//   // Server:
//   rpc::RegisterUnary<SimpleRequest, SimpleResponse>(
//       server, "/grpc.testing.TestService/UnaryCall",
//       [](rpc::ServerCall& call, const SimpleRequest& req, SimpleResponse* resp) {
//         resp->set_username("...");
//         return absl::OkStatus();
//       });

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "rpc/blocking.h"
#include "rpc/channel.h"
#include "rpc/server.h"

namespace alts::rpc {

// AsBytes views a string's bytes.
inline absl::Span<const uint8_t> AsBytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// ParseMessage parses `bytes` into `msg`; false if malformed.
template <typename Msg>
bool ParseMessage(absl::Span<const uint8_t> bytes, Msg* msg) {
  return msg->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

// UnaryCall sends `request` and returns the parsed response (kInternal if it
// does not parse).
template <typename Resp, typename Req>
absl::StatusOr<Resp> UnaryCall(Channel& channel, absl::string_view method, const Req& request,
                               CallOptions options = {}, Metadata* initial = nullptr,
                               Metadata* trailers = nullptr) {
  std::string bytes;
  request.SerializeToString(&bytes);
  absl::StatusOr<std::string> raw =
      BlockingUnaryCall(channel, method, AsBytes(bytes), std::move(options), initial, trailers);
  if (!raw.ok()) return raw.status();
  Resp resp;
  if (!resp.ParseFromString(*raw)) return absl::InternalError("response does not parse");
  return resp;
}

// ClientStream is a typed BlockingCall (client-streaming, server-streaming
// or bidi), from a user thread.
template <typename Req, typename Resp>
class ClientStream {
 public:
  ClientStream(Channel& channel, absl::string_view method, CallOptions options = {})
      : call_(BlockingCall::Start(channel, method, std::move(options))) {}
  // Write sends one request; false if the call ended.
  bool Write(const Req& req) {
    req.SerializeToString(&buf_);
    return call_->Write(AsBytes(buf_));
  }
  void WritesDone() { call_->WritesDone(); }
  // Read parses the next response; false at the end (or if it does not
  // parse: Finish then returns kInternal).
  bool Read(Resp* resp) {
    if (!call_->Read(&buf_)) return false;
    if (!resp->ParseFromString(buf_)) {
      parse_failed_ = true;
      call_->Cancel();
      return false;
    }
    return true;
  }
  absl::Status Finish() {
    absl::Status s = call_->Finish();
    if (parse_failed_) return absl::InternalError("response does not parse");
    return s;
  }
  void Cancel() { call_->Cancel(); }
  const Metadata& initial_metadata() const { return call_->initial_metadata(); }
  const Metadata& trailers() const { return call_->trailers(); }

 private:
  std::unique_ptr<BlockingCall> call_;
  std::string buf_;
  bool parse_failed_ = false;
};

// TypedHandler is a server handler for typed messages: OnRequest for each
// parsed request (a malformed one ends the call with kInternal), Send queues
// responses (written in order), FinishAfterSends ends the call once they are
// out. Runs on the reactor thread.
template <typename Req, typename Resp>
class TypedHandler : public ServerCallHandler {
 public:
  explicit TypedHandler(ServerCall* call) : call_(call) {}

  virtual void OnRequest(const Req& request) = 0;

  // Send queues `resp` for writing.
  void Send(const Resp& resp) {
    if (ended_) return;
    queue_.emplace_back();
    resp.SerializeToString(&queue_.back());
    if (queue_.size() == 1) WriteFront();
  }
  // FinishAfterSends ends the call with `status` once queued sends are out.
  void FinishAfterSends(absl::Status status, Metadata trailers = {}) {
    if (ended_) return;
    ended_ = true;
    finish_status_ = std::move(status);
    finish_trailers_ = std::move(trailers);
    if (queue_.empty()) call_->Finish(std::move(finish_status_), std::move(finish_trailers_));
  }
  ServerCall* call() const { return call_; }
  // compress_responses: ask for gzip responses when the client accepts them.
  void set_compress_responses(bool on) { compress_ = on; }

 protected:
  void OnMessage(absl::Span<const uint8_t> message) final {
    if (ended_) return;
    request_.Clear();
    if (!ParseMessage(message, &request_)) {
      queue_.clear();
      ended_ = true;
      call_->Finish(absl::InternalError("request message does not parse"));
      return;
    }
    OnRequest(request_);
  }
  void OnWriteDone(bool ok) final {
    if (!queue_.empty()) queue_.pop_front();
    if (!ok) {
      queue_.clear();
      return;
    }
    if (!queue_.empty()) {
      WriteFront();
    } else if (ended_) {
      call_->Finish(std::move(finish_status_), std::move(finish_trailers_));
    }
  }

 private:
  void WriteFront() {
    if (compress_) call_->SetResponseCompression("gzip");
    absl::Status s = call_->Write(AsBytes(queue_.front()), WriteOptions{compress_});
    if (!s.ok()) queue_.clear();
  }

  ServerCall* call_;
  Req request_;
  std::deque<std::string> queue_;
  bool ended_ = false;
  bool compress_ = false;
  absl::Status finish_status_;
  Metadata finish_trailers_;
};

// UnaryFn handles one unary call: fill `response` and return OK, or return
// the error status.
template <typename Req, typename Resp>
using UnaryFn = std::function<absl::Status(ServerCall& call, const Req& request, Resp* response)>;

// UnaryHandler runs a UnaryFn once the single request and the half-close are
// in (none or several requests end the call with kInternal, as gRPC).
template <typename Req, typename Resp>
class UnaryHandler final : public TypedHandler<Req, Resp> {
 public:
  UnaryHandler(ServerCall* call, const UnaryFn<Req, Resp>* fn)
      : TypedHandler<Req, Resp>(call), fn_(fn) {}
  void OnRequest(const Req& request) override {
    if (++requests_ == 1) request_ = request;
  }
  void OnHalfClose() override {
    if (requests_ != 1) {
      this->FinishAfterSends(absl::InternalError(
          absl::StrCat("unary call got ", requests_, " request messages")));
      return;
    }
    Resp response;
    absl::Status s = (*fn_)(*this->call(), request_, &response);
    if (s.ok()) this->Send(response);
    this->FinishAfterSends(std::move(s));
  }

 private:
  const UnaryFn<Req, Resp>* fn_;
  Req request_;
  int requests_ = 0;
};

// RegisterUnary registers a typed unary method.
template <typename Req, typename Resp>
absl::Status RegisterUnary(Server& server, std::string method, UnaryFn<Req, Resp> fn,
                           MethodOptions options = {}) {
  auto shared = std::make_shared<UnaryFn<Req, Resp>>(std::move(fn));
  return server.RegisterMethod(
      std::move(method),
      [shared](ServerCall* call) -> std::unique_ptr<ServerCallHandler> {
        return std::make_unique<UnaryHandler<Req, Resp>>(call, shared.get());
      },
      std::move(options));
}

// RegisterHandler registers a method served by a TypedHandler subclass H
// constructed as H(ServerCall*).
template <typename H>
absl::Status RegisterHandler(Server& server, std::string method, MethodOptions options = {}) {
  return server.RegisterMethod(
      std::move(method),
      [](ServerCall* call) -> std::unique_ptr<ServerCallHandler> {
        return std::make_unique<H>(call);
      },
      std::move(options));
}

}  // namespace alts::rpc

#endif  // ALTS_RPC_PROTO_H_
