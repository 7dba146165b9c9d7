#ifndef ALTS_TOOLS_INTEROP_CLIENT_INTEROP_CASES_H_
#define ALTS_TOOLS_INTEROP_CLIENT_INTEROP_CASES_H_

// gRPC's interop test cases (doc/interop-test-descriptions.md in grpc/grpc,
// "Client" section) over this project's channel, against any server of
// grpc.testing.TestService. Each case runs from a user thread and returns OK
// or an error saying which assertion failed and what came back.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "rpc/channel.h"

namespace alts::interop {

// CaseOptions qualify the cases.
struct CaseOptions {
  // expect_username: if set, large_unary also asks for fill_username and
  // requires this username (the client's ALTS service account); gRPC's
  // compute_engine_creds case checks --default_service_account the same way.
  std::string expect_username;
};

// InteropCase is one named test case.
struct InteropCase {
  const char* name;
  absl::Status (*run)(rpc::Channel& channel, const CaseOptions& options);
};

// InteropCases returns every case this client implements, in the order
// --test_case=all runs them: empty_unary, large_unary, client_streaming,
// server_streaming, ping_pong, empty_stream, timeout_on_sleeping_server,
// cancel_after_begin, cancel_after_first_response, custom_metadata,
// status_code_and_message, special_status_message, unimplemented_method,
// unimplemented_service.
absl::Span<const InteropCase> InteropCases();

// FindInteropCase returns the case called `name`, or nullptr.
const InteropCase* FindInteropCase(absl::string_view name);

}  // namespace alts::interop

#endif  // ALTS_TOOLS_INTEROP_CLIENT_INTEROP_CASES_H_
