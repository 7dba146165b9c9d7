#ifndef ALTS_TOOLS_INTEROP_SERVER_TEST_SERVICE_H_
#define ALTS_TOOLS_INTEROP_SERVER_TEST_SERVICE_H_

// grpc.testing.TestService, gRPC's interop service
// (tests/interop/proto/test.proto), as gRPC's interop servers implement it
// (doc/interop-test-descriptions.md in grpc/grpc, "Server" section):
//
//   EmptyCall            an empty response
//   UnaryCall            a payload of response_size bytes; response_status
//                        ends the call with that status instead;
//                        response_compressed asks for a gzip response;
//                        fill_username answers the ALTS peer's service
//                        account ("" on plaintext)
//   CacheableUnaryCall   UnaryCall with the current time (ns) as payload
//   StreamingOutputCall  one response per ResponseParameters (size,
//                        interval_us before it, compressed), then
//                        response_status or OK
//   StreamingInputCall   the summed payload size at half-close
//   FullDuplexCall       StreamingOutputCall for each request as it arrives;
//                        a request with response_status ends the call with
//                        it; OK after half-close
//   HalfDuplexCall       the same, but only after half-close, in order
//
// Every method echoes x-grpc-test-echo-initial in the response headers and
// x-grpc-test-echo-trailing-bin in the trailers. UnimplementedCall and
// grpc.testing.UnimplementedService are not registered (UNIMPLEMENTED).
// expect_compressed is not checked: handlers do not see whether a request
// message arrived compressed.

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "rpc/server.h"

namespace alts::interop {

// kMaxPayloadSize bounds response_size and ResponseParameters.size: gRPC's
// default receive limit is 4 MiB, so no default client could take more, and
// a request must not make the server allocate without bound.
inline constexpr int32_t kMaxPayloadSize = 4 << 20;
// kMaxIntervalUs bounds ResponseParameters.interval_us to a minute: longer
// is a typo, and a timer must not hold a call open for days.
inline constexpr int32_t kMaxIntervalUs = 60'000'000;

// kMaxHalfDuplexBytes bounds the request bytes HalfDuplexCall holds until
// half-close (four default-sized messages): it buffers on the client's say.
inline constexpr size_t kMaxHalfDuplexBytes = 16u << 20;

// kEchoInitialKey and kEchoTrailingKey are the metadata keys the service
// echoes (in the headers and in the trailers).
inline constexpr char kEchoInitialKey[] = "x-grpc-test-echo-initial";
inline constexpr char kEchoTrailingKey[] = "x-grpc-test-echo-trailing-bin";

// RegisterTestService registers TestService's methods on `server` (before
// its first listener). Returns the server's error (kAlreadyExists if one is
// registered already, kFailedPrecondition once serving).
absl::Status RegisterTestService(rpc::Server& server);

}  // namespace alts::interop

#endif  // ALTS_TOOLS_INTEROP_SERVER_TEST_SERVICE_H_
