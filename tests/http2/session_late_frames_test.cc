// Frames that arrive for streams this side already closed: the peer may have
// sent them before our RST_STREAM reached it. However many streams a client
// cancels, their late responses must not end the connection.

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2 {
namespace {

using testing::ClientSession;
using testing::Response;
using testing::Trailers;
using testing::DataFrame;

TEST(SessionLateFramesTest, ResponsesForManyCancelledStreamsAreIgnored) {
  ClientSession c;
  std::vector<uint32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back(c.OpenClientStream());
  for (uint32_t id : ids) c.session->ResetStream(id, ErrorCode::kCancel);
  (void)c.TakeFrames();
  // The server answered them all before it saw the resets: headers, data and
  // trailers for every one, oldest first (long out of the recent-reset ring).
  for (uint32_t id : ids) {
    ASSERT_TRUE(c.Feed(Response(id, /*end_stream=*/false)).ok()) << id;
    ASSERT_TRUE(c.Feed(DataFrame(id, "late")).ok()) << id;
    ASSERT_TRUE(c.Feed(Trailers(id)).ok()) << id;
  }
  EXPECT_TRUE(c.session->status().ok()) << c.session->status();
  // The connection still carries new streams.
  const uint32_t fresh = c.OpenClientStream(/*end_stream=*/true);
  EXPECT_TRUE(c.Feed(Response(fresh, /*end_stream=*/true)).ok());
  EXPECT_TRUE(c.session->status().ok());
}

}  // namespace
}  // namespace alts::http2
