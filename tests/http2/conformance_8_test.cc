// RFC 9113 section 8 (expressing HTTP semantics): message framing, trailers
// and content-length (8.1), field validity (8.2), pseudo-header fields for
// requests and responses (8.3), push refused (8.4). A malformed message
// (8.1.1) is a stream error of type PROTOCOL_ERROR: the stream is reset, the
// handler sees nothing of it, and the connection goes on.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "http2/session.h"
#include "tests/http2/h2_test_util.h"

namespace alts::http2::testing {
namespace {

using Server = ServerSession;
using Client = ClientSession;

// ExpectMalformedRequest feeds a request with `headers` as stream 1 and
// checks that it is refused with RST_STREAM(PROTOCOL_ERROR), unseen by the
// handler, and that stream 3 then works.
void ExpectMalformedRequest(const HeaderList& headers, bool end_stream = true) {
  SCOPED_TRACE(::testing::Message() << "headers: " << LiteralBlock(headers).size() << " bytes");
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, end_stream, headers)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "");
  EXPECT_EQ(s.session->open_streams(), 0u);
  ASSERT_TRUE(s.Feed(Request(3)).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(3,request,END_STREAM)");
  EXPECT_EQ(s.Out(), "");
}

// ExpectMalformedResponse: a client's stream 1 gets a response with
// `headers`: RST_STREAM(PROTOCOL_ERROR) and a close event, nothing else.
void ExpectMalformedResponse(const HeaderList& headers) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(Response(id, true, headers)).ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(c.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
  EXPECT_TRUE(c.session->status().ok());
}

// --- 8.1 HTTP message framing ---------------------------------------------------

TEST(Rfc9113_8_1, SecondHeadersWithoutEndStreamIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(HeadersFrame(1, LiteralBlock({{"x-t", "1"}}), kFlagEndHeaders)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, TrailersEndTheRequest) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, "body"), Trailers(1, {{"x-checksum", "abc"}}))).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,4); headers(1,trailers,END_STREAM)");
  EXPECT_EQ(s.handler.blocks[1].back(), (HeaderList{{"x-checksum", "abc"}}));
}

TEST(Rfc9113_8_1, DataAfterTrailersIsStreamClosed) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(absl::StrCat(Trailers(1), DataFrame(1, "late"))).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,STREAM_CLOSED)");
}

TEST(Rfc9113_8_1, ContentLengthNotEqualToDataIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST", "/", {{"content-length", "10"}}));
  ASSERT_TRUE(s.Feed(DataFrame(1, "12345", kFlagEndStream)).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, ContentLengthNotEqualToSumOfDataIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST", "/", {{"content-length", "8"}}));
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, "123"), DataFrame(1, "456"),
                                  DataFrame(1, "", kFlagEndStream)))
                  .ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,3); data(1,3); close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, DataBeyondContentLengthIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST", "/", {{"content-length", "3"}}));
  ASSERT_TRUE(s.Feed(DataFrame(1, "1234")).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, ContentLengthWithEndStreamOnHeadersIsProtocolError) {
  ExpectMalformedRequest(RequestHeaders("POST", "/", {{"content-length", "5"}}), true);
}

TEST(Rfc9113_8_1, ContentLengthMatchedAcrossFramesAndTrailers) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST", "/", {{"content-length", "6"}}));
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, "123"), DataFrame(1, "456"), Trailers(1))).ok());
  EXPECT_EQ(s.Out(), "");
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,3); data(1,3); headers(1,trailers,END_STREAM)");
}

TEST(Rfc9113_8_1, ContentLengthShortWhenTrailersArriveIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST", "/", {{"content-length", "7"}}));
  ASSERT_TRUE(s.Feed(absl::StrCat(DataFrame(1, "123456"), Trailers(1))).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  // The handler never sees the message end.
  EXPECT_EQ(s.handler.DescribeTake(), "data(1,6); close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, ResponseEndingBeforeContentLengthIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(Response(id, true, ResponseHeaders("200", {{"content-length", "5"}}))).ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(c.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, ContentLengthZeroWithEndStreamIsFine) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true, RequestHeaders("POST", "/", {{"content-length", "0"}}))).ok());
  std::vector<Event> ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].content_length, 0);
  EXPECT_EQ(s.Out(), "");
}

TEST(Rfc9113_8_1, ConflictingContentLengthsAreMalformed) {
  ExpectMalformedRequest(
      RequestHeaders("POST", "/", {{"content-length", "5"}, {"content-length", "6"}}), false);
  ExpectMalformedRequest(RequestHeaders("POST", "/", {{"content-length", "5x"}}), false);
  ExpectMalformedRequest(RequestHeaders("POST", "/", {{"content-length", ""}}), false);
}

TEST(Rfc9113_8_1, ResponseContentLengthMismatchIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(absl::StrCat(Response(id, false, ResponseHeaders("200", {{"content-length", "4"}})),
                                  DataFrame(id, "abc", kFlagEndStream)))
                  .ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(c.handler.DescribeTake(), "headers(1,response); close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, ResponseToHeadMayCarryContentLengthWithoutContent) {
  // RFC 9113 8.1.1: a response defined to have no content (HEAD, 204, 304)
  // can have a non-zero content-length.
  Client c;
  const uint32_t id = c.OpenClientStream(true, RequestHeaders("HEAD"));
  ASSERT_TRUE(c.Feed(Response(id, true, ResponseHeaders("200", {{"content-length", "1000"}}))).ok());
  EXPECT_EQ(c.Out(), "");
  EXPECT_EQ(c.handler.DescribeTake(), "headers(1,response,END_STREAM); close(1,NO_ERROR,completed)");
}

TEST(Rfc9113_8_1, NotModifiedResponseMayCarryContentLengthWithoutContent) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(Response(id, true, ResponseHeaders("304", {{"content-length", "1000"}}))).ok());
  EXPECT_EQ(c.Out(), "");
  EXPECT_EQ(c.handler.DescribeTake(), "headers(1,response,END_STREAM); close(1,NO_ERROR,completed)");
}

TEST(Rfc9113_8_1, InformationalResponsesPrecedeTheFinalOne) {
  Client c;
  const uint32_t id = c.OpenClientStream(false, RequestHeaders("POST"));
  ASSERT_TRUE(c.Feed(absl::StrCat(Response(id, false, ResponseHeaders("100")),
                                  Response(id, false, ResponseHeaders("103", {{"link", "</a>"}})),
                                  Response(id, false, ResponseHeaders("200")),
                                  DataFrame(id, "ok"), Trailers(id)))
                  .ok());
  EXPECT_EQ(c.handler.DescribeTake(),
            "headers(1,response,informational); headers(1,response,informational); "
            "headers(1,response); data(1,2); headers(1,trailers,END_STREAM)");
  EXPECT_EQ(c.Out(), "");
}

TEST(Rfc9113_8_1, InformationalResponseWithEndStreamIsProtocolError) {
  ExpectMalformedResponse(ResponseHeaders("100"));
}

TEST(Rfc9113_8_1, SwitchingProtocolsResponseIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(Response(id, false, ResponseHeaders("101"))).ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
}

TEST(Rfc9113_8_1, ResponseTrailersWithoutEndStreamIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(absl::StrCat(Response(id, false),
                                  HeadersFrame(id, LiteralBlock({{"grpc-status", "0"}}), kFlagEndHeaders)))
                  .ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(c.handler.DescribeTake(), "headers(1,response); close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, DataBeforeResponseHeadersIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(DataFrame(id, "too early")).ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(c.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, DataAfterInformationalResponseIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(absl::StrCat(Response(id, false, ResponseHeaders("100")), DataFrame(id, "x"))).ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(c.handler.DescribeTake(),
            "headers(1,response,informational); close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_1, WeRefuseToSendMalformedMessages) {
  Server s;
  s.OpenRequest(1);
  EXPECT_EQ(s.session->SubmitHeaders(1, Fields({{"no-status", "x"}}), true).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.session->SubmitHeaders(1, Fields(ResponseHeaders("100")), true).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders("200")), false).ok());
  EXPECT_EQ(s.session->SubmitHeaders(1, Fields({{"grpc-status", "0"}}), false).code(),
            absl::StatusCode::kInvalidArgument);  // trailers must end the stream
  EXPECT_EQ(s.session->SubmitHeaders(1, Fields({{":status", "200"}}), true).code(),
            absl::StatusCode::kInvalidArgument);  // no pseudo-headers in trailers
  EXPECT_EQ(s.Out(), "HEADERS(1,END_HEADERS)");
  Client c;
  EXPECT_EQ(c.session->SubmitRequest(Fields({{":method", "GET"}}), true, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.session->SubmitRequest(Fields(RequestHeaders("GET", "/", {{"Upper", "x"}})), true, nullptr)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Out(), "");
  EXPECT_EQ(c.session->open_streams(), 0u);
}

TEST(Rfc9113_8_1, InformationalThenFinalResponseFromUs) {
  Server s;
  s.OpenRequest(1);
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders("100")), false).ok());
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields(ResponseHeaders("200")), false).ok());
  ASSERT_TRUE(s.session->SubmitHeaders(1, Fields({{"grpc-status", "0"}}), true).ok());
  std::vector<ParsedFrame> out = s.TakeFrames();
  auto blocks = s.peer_decoder.DecodeAll(out);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].second, ResponseHeaders("100"));
  EXPECT_EQ(blocks[1].second, ResponseHeaders("200"));
  EXPECT_EQ(blocks[2].second, (HeaderList{{"grpc-status", "0"}}));
  EXPECT_EQ(Describe(out), "HEADERS(1,END_HEADERS); HEADERS(1,END_HEADERS); HEADERS(1,END_STREAM|END_HEADERS)");
}

// --- 8.2 HTTP fields ------------------------------------------------------------

TEST(Rfc9113_8_2, UppercaseFieldNameIsProtocolError) {
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"X-Upper", "v"}}));
}

TEST(Rfc9113_8_2, InvalidFieldNameCharactersAreProtocolError) {
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"", "v"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"a:b", "v"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"a b", "v"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{std::string("a\0b", 3), "v"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"a\x7f", "v"}}));
}

TEST(Rfc9113_8_2, InvalidFieldValueCharactersAreProtocolError) {
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"x", "a\rb"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"x", "a\nb"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"x", std::string("a\0b", 3)}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"x", " leading"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"x", "trailing\t"}}));
}

TEST(Rfc9113_8_2, ValidFieldValuesAreAccepted) {
  Server s;
  const HeaderList h = RequestHeaders("GET", "/", {{"x-empty", ""}, {"x-inner", "a b\tc"},
                                                   {"x-high", "\x80\xff"}, {"x-token", "!#$%&'*+-.^_`|~"}});
  ASSERT_TRUE(s.Feed(Request(1, true, h)).ok());
  std::vector<Event> ev = s.handler.Take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].fields, h);
}

TEST(Rfc9113_8_2_2, ConnectionSpecificFieldsAreProtocolError) {
  for (const char* name : {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                           "upgrade"}) {
    SCOPED_TRACE(name);
    ExpectMalformedRequest(RequestHeaders("GET", "/", {{name, "x"}}));
  }
}

TEST(Rfc9113_8_2_2, TeOtherThanTrailersIsProtocolError) {
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"te", "gzip"}}));
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{"te", "trailers, gzip"}}));
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true, RequestHeaders("GET", "/", {{"te", "trailers"}}))).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(1,request,END_STREAM)");
}

TEST(Rfc9113_8_2_2, ConnectionSpecificFieldInResponseIsProtocolError) {
  ExpectMalformedResponse(ResponseHeaders("200", {{"transfer-encoding", "chunked"}}));
  ExpectMalformedResponse(ResponseHeaders("200", {{"Content-Type", "text/plain"}}));
}

TEST(Rfc9113_8_2_2, ConnectionSpecificFieldInTrailersIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(Trailers(1, {{"connection", "close"}})).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
}

// --- 8.3 HTTP control data (pseudo-header fields) --------------------------------

TEST(Rfc9113_8_3, UnknownPseudoHeaderIsProtocolError) {
  ExpectMalformedRequest(RequestHeaders("GET", "/", {{":foo", "bar"}}));
}

TEST(Rfc9113_8_3, ResponsePseudoHeaderInRequestIsProtocolError) {
  HeaderList h = RequestHeaders();
  h.insert(h.begin(), {":status", "200"});
  ExpectMalformedRequest(h);
}

TEST(Rfc9113_8_3, PseudoHeaderInTrailersIsProtocolError) {
  Server s;
  s.OpenRequest(1, RequestHeaders("POST"));
  ASSERT_TRUE(s.Feed(Trailers(1, {{":method", "POST"}})).ok());
  EXPECT_EQ(s.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
  EXPECT_EQ(s.handler.DescribeTake(), "close(1,PROTOCOL_ERROR,reset_by_us)");
}

TEST(Rfc9113_8_3, PseudoHeaderAfterRegularFieldIsProtocolError) {
  ExpectMalformedRequest({{":method", "GET"}, {":scheme", "https"}, {"x", "y"}, {":path", "/"}});
}

TEST(Rfc9113_8_3_1, EmptyPathIsProtocolError) { ExpectMalformedRequest(RequestHeaders("GET", "")); }

TEST(Rfc9113_8_3_1, MissingMethodIsProtocolError) {
  ExpectMalformedRequest({{":scheme", "https"}, {":path", "/"}});
}

TEST(Rfc9113_8_3_1, MissingSchemeIsProtocolError) {
  ExpectMalformedRequest({{":method", "GET"}, {":path", "/"}});
}

TEST(Rfc9113_8_3_1, MissingPathIsProtocolError) {
  ExpectMalformedRequest({{":method", "GET"}, {":scheme", "https"}});
}

TEST(Rfc9113_8_3_1, DuplicatedPseudoHeadersAreProtocolError) {
  for (const char* name : {":method", ":scheme", ":path", ":authority"}) {
    SCOPED_TRACE(name);
    HeaderList h = RequestHeaders();
    for (size_t i = 0; i < h.size(); ++i) {
      if (h[i].first == name) {
        h.insert(h.begin() + i + 1, h[i]);
        break;
      }
    }
    ExpectMalformedRequest(h);
  }
}

TEST(Rfc9113_8_3_1, RequestWithoutAuthorityIsAccepted) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, true, {{":method", "GET"}, {":scheme", "http"}, {":path", "/x"}})).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(1,request,END_STREAM)");
}

TEST(Rfc9113_8_5, ConnectWithAuthorityOnlyIsAccepted) {
  Server s;
  ASSERT_TRUE(s.Feed(Request(1, false, {{":method", "CONNECT"}, {":authority", "example.com:443"}})).ok());
  EXPECT_EQ(s.handler.DescribeTake(), "headers(1,request)");
  ExpectMalformedRequest({{":method", "CONNECT"}, {":authority", "a:1"}, {":path", "/"}});
  ExpectMalformedRequest({{":method", "CONNECT"}, {":authority", "a:1"}, {":scheme", "https"}});
  ExpectMalformedRequest({{":method", "CONNECT"}});
}

TEST(Rfc9113_8_3_2, ResponseWithoutStatusIsProtocolError) {
  ExpectMalformedResponse({{"content-type", "text/plain"}});
}

TEST(Rfc9113_8_3_2, ResponseStatusNotThreeDigitsIsProtocolError) {
  ExpectMalformedResponse(ResponseHeaders("20"));
  ExpectMalformedResponse(ResponseHeaders("2000"));
  ExpectMalformedResponse(ResponseHeaders("2x0"));
}

TEST(Rfc9113_8_3_2, DuplicatedStatusIsProtocolError) {
  ExpectMalformedResponse({{":status", "200"}, {":status", "200"}});
}

TEST(Rfc9113_8_3_2, RequestPseudoHeaderInResponseIsProtocolError) {
  ExpectMalformedResponse({{":status", "200"}, {":path", "/"}});
}

TEST(Rfc9113_8_3_2, PseudoHeaderInResponseTrailersIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  ASSERT_TRUE(c.Feed(absl::StrCat(Response(id, false), Trailers(id, {{":status", "200"}}))).ok());
  EXPECT_EQ(c.Out(), "RST_STREAM(1,PROTOCOL_ERROR)");
}

// --- 8.4 Server push ------------------------------------------------------------

TEST(Rfc9113_8_4, PushPromiseFromClientIsProtocolError) {
  Server s;
  s.OpenRequest(1);
  absl::Status st = s.Feed(PushPromiseFrame(1, 2, LiteralBlock(RequestHeaders())));
  EXPECT_TRUE(IsConnectionError(s, st, ErrorCode::kProtocolError, 1));
}

TEST(Rfc9113_8_4, PushPromiseWhilePushIsDisabledIsProtocolError) {
  Client c;
  const uint32_t id = c.OpenClientStream(true);
  absl::Status st = c.Feed(PushPromiseFrame(id, 2, LiteralBlock(RequestHeaders())));
  EXPECT_TRUE(IsConnectionError(c, st, ErrorCode::kProtocolError, 0));
}

}  // namespace
}  // namespace alts::http2::testing
