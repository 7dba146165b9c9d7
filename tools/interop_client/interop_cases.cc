#include "tools/interop_client/interop_cases.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rpc/proto.h"
#include "tests/interop/proto/test.pb.h"

namespace alts::interop {
namespace {

namespace pb = ::grpc::testing;

constexpr char kEmptyCall[] = "/grpc.testing.TestService/EmptyCall";
constexpr char kUnaryCall[] = "/grpc.testing.TestService/UnaryCall";
constexpr char kStreamingInputCall[] = "/grpc.testing.TestService/StreamingInputCall";
constexpr char kStreamingOutputCall[] = "/grpc.testing.TestService/StreamingOutputCall";
constexpr char kFullDuplexCall[] = "/grpc.testing.TestService/FullDuplexCall";
constexpr char kUnimplementedCall[] = "/grpc.testing.TestService/UnimplementedCall";
constexpr char kUnimplementedService[] = "/grpc.testing.UnimplementedService/UnimplementedCall";

// The sizes the descriptions prescribe.
constexpr int kLargeRequest = 271828;
constexpr int kLargeResponse = 314159;
constexpr int kRequestSizes[] = {27182, 8, 1828, 45904};
constexpr int kResponseSizes[] = {31415, 9, 2653, 58979};
constexpr int kAggregatedSize = 74922;

constexpr char kInitialValue[] = "test_initial_metadata_value";
constexpr char kTrailingValue[] = "\xab\xab\xab";
constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";
constexpr char kStatusMessage[] = "test status message";
constexpr char kSpecialMessage[] =
    "\t\ntest with whitespace\r\nand Unicode BMP \xe2\x98\xba and non-BMP \xf0\x9f\x98\x88\t\n";

// kCallDeadline: every call but timeout_on_sleeping_server's ends by then,
// so a server that never answers fails the case instead of hanging it.
constexpr absl::Duration kCallDeadline = absl::Seconds(30);

using Status = absl::Status;

Status Fail(absl::string_view what) { return absl::UnknownError(what); }

rpc::CallOptions Options() {
  rpc::CallOptions o;
  o.deadline = absl::Now() + kCallDeadline;
  return o;
}

// Wrap annotates a failed call's status with the step that made it.
Status Wrap(absl::string_view step, const Status& status) {
  return absl::Status(status.code(), absl::StrCat(step, ": ", status.ToString()));
}

pb::Payload Zeros(int size) {
  pb::Payload p;
  p.set_body(std::string(static_cast<size_t>(size), '\0'));
  return p;
}

// CheckBody checks a payload's size and that it is all zeros (the
// descriptions allow both asserts).
Status CheckBody(absl::string_view what, const pb::Payload& payload, int size) {
  if (payload.body().size() != static_cast<size_t>(size)) {
    return Fail(absl::StrCat(what, ": payload of ", payload.body().size(), " bytes, want ", size));
  }
  if (payload.body().find_first_not_of('\0') != std::string::npos) {
    return Fail(absl::StrCat(what, ": payload is not all zeros"));
  }
  return absl::OkStatus();
}

// CheckStatus checks that a call ended with `code` (and `message`, if
// given).
Status CheckStatus(absl::string_view what, const Status& got, absl::StatusCode code,
                   std::optional<absl::string_view> message = std::nullopt) {
  if (got.code() != code) {
    return Fail(absl::StrCat(what, ": status ", got.ToString(), ", want ",
                             absl::StatusCodeToString(code)));
  }
  if (message.has_value() && got.message() != *message) {
    return Fail(absl::StrCat(what, ": message \"", absl::CEscape(got.message()), "\", want \"",
                             absl::CEscape(*message), "\""));
  }
  return absl::OkStatus();
}

// CheckEcho checks the echoed test metadata in `initial` and `trailers`.
Status CheckEcho(absl::string_view what, const rpc::Metadata& initial,
                 const rpc::Metadata& trailers) {
  std::optional<absl::string_view> v = initial.Get(kEchoInitialKey);
  if (v != kInitialValue) {
    return Fail(absl::StrCat(what, ": initial metadata ", kEchoInitialKey, " is ",
                             v ? absl::StrCat("\"", *v, "\"") : "missing"));
  }
  v = trailers.Get(kEchoTrailingKey);
  if (v != kTrailingValue) {
    return Fail(absl::StrCat(what, ": trailing metadata ", kEchoTrailingKey, " is ",
                             v ? absl::BytesToHexString(*v) : "missing", ", want ababab"));
  }
  return absl::OkStatus();
}

pb::StreamingOutputCallRequest StreamRequest(int response_size, int payload_size) {
  pb::StreamingOutputCallRequest req;
  req.add_response_parameters()->set_size(response_size);
  *req.mutable_payload() = Zeros(payload_size);
  return req;
}

using FullDuplex = rpc::ClientStream<pb::StreamingOutputCallRequest, pb::StreamingOutputCallResponse>;

Status EmptyUnary(rpc::Channel& ch, const CaseOptions&) {
  absl::StatusOr<pb::Empty> r = rpc::UnaryCall<pb::Empty>(ch, kEmptyCall, pb::Empty(), Options());
  if (!r.ok()) return Wrap("EmptyCall", r.status());
  return absl::OkStatus();
}

pb::SimpleRequest LargeRequest() {
  pb::SimpleRequest req;
  req.set_response_size(kLargeResponse);
  *req.mutable_payload() = Zeros(kLargeRequest);
  return req;
}

Status LargeUnary(rpc::Channel& ch, const CaseOptions& options) {
  pb::SimpleRequest req = LargeRequest();
  if (!options.expect_username.empty()) req.set_fill_username(true);
  absl::StatusOr<pb::SimpleResponse> r =
      rpc::UnaryCall<pb::SimpleResponse>(ch, kUnaryCall, req, Options());
  if (!r.ok()) return Wrap("UnaryCall", r.status());
  if (!options.expect_username.empty() && r->username() != options.expect_username) {
    return Fail(absl::StrCat("UnaryCall: username \"", r->username(), "\", want \"",
                             options.expect_username, "\""));
  }
  return CheckBody("UnaryCall", r->payload(), kLargeResponse);
}

Status ClientStreaming(rpc::Channel& ch, const CaseOptions&) {
  rpc::ClientStream<pb::StreamingInputCallRequest, pb::StreamingInputCallResponse> call(
      ch, kStreamingInputCall, Options());
  for (int size : kRequestSizes) {
    pb::StreamingInputCallRequest req;
    *req.mutable_payload() = Zeros(size);
    if (!call.Write(req)) return Wrap(absl::StrCat("write of ", size), call.Finish());
  }
  call.WritesDone();
  pb::StreamingInputCallResponse resp;
  if (!call.Read(&resp)) return Wrap("no response", call.Finish());
  if (Status s = call.Finish(); !s.ok()) return Wrap("StreamingInputCall", s);
  if (resp.aggregated_payload_size() != kAggregatedSize) {
    return Fail(absl::StrCat("aggregated_payload_size ", resp.aggregated_payload_size(),
                             ", want ", kAggregatedSize));
  }
  return absl::OkStatus();
}

Status ServerStreaming(rpc::Channel& ch, const CaseOptions&) {
  pb::StreamingOutputCallRequest req;
  for (int size : kResponseSizes) req.add_response_parameters()->set_size(size);
  rpc::ClientStream<pb::StreamingOutputCallRequest, pb::StreamingOutputCallResponse> call(
      ch, kStreamingOutputCall, Options());
  if (!call.Write(req)) return Wrap("write", call.Finish());
  call.WritesDone();
  pb::StreamingOutputCallResponse resp;
  size_t n = 0;
  while (call.Read(&resp)) {
    if (n >= std::size(kResponseSizes)) return Fail("more than four responses");
    if (Status s = CheckBody(absl::StrCat("response ", n), resp.payload(), kResponseSizes[n]);
        !s.ok()) {
      return s;
    }
    ++n;
  }
  if (Status s = call.Finish(); !s.ok()) return Wrap("StreamingOutputCall", s);
  if (n != std::size(kResponseSizes)) return Fail(absl::StrCat(n, " responses, want 4"));
  return absl::OkStatus();
}

Status PingPong(rpc::Channel& ch, const CaseOptions&) {
  FullDuplex call(ch, kFullDuplexCall, Options());
  pb::StreamingOutputCallResponse resp;
  for (size_t i = 0; i < std::size(kRequestSizes); ++i) {
    if (!call.Write(StreamRequest(kResponseSizes[i], kRequestSizes[i]))) {
      return Wrap(absl::StrCat("write ", i), call.Finish());
    }
    if (!call.Read(&resp)) return Wrap(absl::StrCat("no response ", i), call.Finish());
    if (Status s = CheckBody(absl::StrCat("response ", i), resp.payload(), kResponseSizes[i]);
        !s.ok()) {
      return s;
    }
  }
  call.WritesDone();
  if (call.Read(&resp)) return Fail("a fifth response");
  if (Status s = call.Finish(); !s.ok()) return Wrap("FullDuplexCall", s);
  return absl::OkStatus();
}

Status EmptyStream(rpc::Channel& ch, const CaseOptions&) {
  FullDuplex call(ch, kFullDuplexCall, Options());
  call.WritesDone();
  pb::StreamingOutputCallResponse resp;
  if (call.Read(&resp)) return Fail("a response to an empty stream");
  if (Status s = call.Finish(); !s.ok()) return Wrap("FullDuplexCall", s);
  return absl::OkStatus();
}

Status TimeoutOnSleepingServer(rpc::Channel& ch, const CaseOptions&) {
  rpc::CallOptions o;
  o.deadline = absl::Now() + absl::Milliseconds(1);
  FullDuplex call(ch, kFullDuplexCall, std::move(o));
  pb::StreamingOutputCallRequest req;
  *req.mutable_payload() = Zeros(27182);
  // The write may fail already: the deadline can pass before it goes out.
  (void)call.Write(req);
  pb::StreamingOutputCallResponse resp;
  while (call.Read(&resp)) {
  }
  return CheckStatus("FullDuplexCall", call.Finish(), absl::StatusCode::kDeadlineExceeded);
}

Status CancelAfterBegin(rpc::Channel& ch, const CaseOptions&) {
  rpc::ClientStream<pb::StreamingInputCallRequest, pb::StreamingInputCallResponse> call(
      ch, kStreamingInputCall, Options());
  call.Cancel();
  return CheckStatus("StreamingInputCall", call.Finish(), absl::StatusCode::kCancelled);
}

Status CancelAfterFirstResponse(rpc::Channel& ch, const CaseOptions&) {
  FullDuplex call(ch, kFullDuplexCall, Options());
  if (!call.Write(StreamRequest(31415, 27182))) return Wrap("write", call.Finish());
  pb::StreamingOutputCallResponse resp;
  if (!call.Read(&resp)) return Wrap("no response", call.Finish());
  if (Status s = CheckBody("response", resp.payload(), 31415); !s.ok()) return s;
  call.Cancel();
  return CheckStatus("FullDuplexCall", call.Finish(), absl::StatusCode::kCancelled);
}

rpc::CallOptions EchoOptions() {
  rpc::CallOptions o = Options();
  o.metadata.Add(kEchoInitialKey, kInitialValue);
  o.metadata.Add(kEchoTrailingKey, kTrailingValue);
  return o;
}

Status CustomMetadata(rpc::Channel& ch, const CaseOptions&) {
  rpc::Metadata initial, trailers;
  absl::StatusOr<pb::SimpleResponse> r = rpc::UnaryCall<pb::SimpleResponse>(
      ch, kUnaryCall, LargeRequest(), EchoOptions(), &initial, &trailers);
  if (!r.ok()) return Wrap("UnaryCall", r.status());
  if (Status s = CheckBody("UnaryCall", r->payload(), kLargeResponse); !s.ok()) return s;
  if (Status s = CheckEcho("UnaryCall", initial, trailers); !s.ok()) return s;

  FullDuplex call(ch, kFullDuplexCall, EchoOptions());
  if (!call.Write(StreamRequest(kLargeResponse, kLargeRequest))) {
    return Wrap("FullDuplexCall write", call.Finish());
  }
  call.WritesDone();
  pb::StreamingOutputCallResponse resp;
  int n = 0;
  while (call.Read(&resp)) {
    if (Status s = CheckBody("FullDuplexCall", resp.payload(), kLargeResponse); !s.ok()) return s;
    ++n;
  }
  if (Status s = call.Finish(); !s.ok()) return Wrap("FullDuplexCall", s);
  if (n != 1) return Fail(absl::StrCat("FullDuplexCall: ", n, " responses, want 1"));
  return CheckEcho("FullDuplexCall", call.initial_metadata(), call.trailers());
}

Status EchoStatusUnary(rpc::Channel& ch, absl::string_view message) {
  pb::SimpleRequest req;
  req.mutable_response_status()->set_code(2);
  req.mutable_response_status()->set_message(std::string(message));
  absl::StatusOr<pb::SimpleResponse> r =
      rpc::UnaryCall<pb::SimpleResponse>(ch, kUnaryCall, req, Options());
  return CheckStatus("UnaryCall", r.status(), absl::StatusCode::kUnknown, message);
}

Status StatusCodeAndMessage(rpc::Channel& ch, const CaseOptions&) {
  if (Status s = EchoStatusUnary(ch, kStatusMessage); !s.ok()) return s;
  FullDuplex call(ch, kFullDuplexCall, Options());
  pb::StreamingOutputCallRequest req;
  req.mutable_response_status()->set_code(2);
  req.mutable_response_status()->set_message(kStatusMessage);
  (void)call.Write(req);  // the status is what counts
  call.WritesDone();
  pb::StreamingOutputCallResponse resp;
  while (call.Read(&resp)) {
  }
  return CheckStatus("FullDuplexCall", call.Finish(), absl::StatusCode::kUnknown, kStatusMessage);
}

Status SpecialStatusMessage(rpc::Channel& ch, const CaseOptions&) {
  return EchoStatusUnary(ch, kSpecialMessage);
}

Status Unimplemented(rpc::Channel& ch, const char* method) {
  absl::StatusOr<pb::Empty> r = rpc::UnaryCall<pb::Empty>(ch, method, pb::Empty(), Options());
  return CheckStatus(method, r.status(), absl::StatusCode::kUnimplemented);
}

Status UnimplementedMethod(rpc::Channel& ch, const CaseOptions&) {
  return Unimplemented(ch, kUnimplementedCall);
}
Status UnimplementedService(rpc::Channel& ch, const CaseOptions&) {
  return Unimplemented(ch, kUnimplementedService);
}

constexpr InteropCase kCases[] = {
    {"empty_unary", EmptyUnary},
    {"large_unary", LargeUnary},
    {"client_streaming", ClientStreaming},
    {"server_streaming", ServerStreaming},
    {"ping_pong", PingPong},
    {"empty_stream", EmptyStream},
    {"timeout_on_sleeping_server", TimeoutOnSleepingServer},
    {"cancel_after_begin", CancelAfterBegin},
    {"cancel_after_first_response", CancelAfterFirstResponse},
    {"custom_metadata", CustomMetadata},
    {"status_code_and_message", StatusCodeAndMessage},
    {"special_status_message", SpecialStatusMessage},
    {"unimplemented_method", UnimplementedMethod},
    {"unimplemented_service", UnimplementedService},
};

}  // namespace

absl::Span<const InteropCase> InteropCases() { return kCases; }

const InteropCase* FindInteropCase(absl::string_view name) {
  for (const InteropCase& c : kCases) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

}  // namespace alts::interop
