// interop_client is a grpc-go (1.33, Debian's golang-google-grpc-dev)
// client running gRPC's interop test cases (doc/interop-test-descriptions.md
// in grpc/grpc) against a grpc.testing.TestService server, such as this
// project's tools/interop_server (docs/interop.md).
//
//	interop_client --server_port=PORT [--server_host=localhost]
//	               [--server_host_override=AUTHORITY] [--test_case=NAME|all]
//	               [--use_tls=false]
//	               [--use_alts --alts_handshaker_service_address=HOST:PORT
//	                [--alts_skip_platform_check]
//	                [--alts_target_service_accounts=A,B]]
//
// Cases: empty_unary, large_unary, client_streaming, server_streaming,
// ping_pong, empty_stream, timeout_on_sleeping_server, cancel_after_begin,
// cancel_after_first_response, custom_metadata, status_code_and_message,
// special_status_message, unimplemented_method, unimplemented_service; "all"
// runs them in that order over one connection. Output: "PASS <case>" or
// "FAIL <case>: <what failed>" per case, then "<n> passed, <m> failed".
// Exit status 0 if every case passed, 1 if any failed, 2 for usage errors.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "altsinterop/grpc_testing"
	"altsinterop/peer"
)

const (
	largeRequest   = 271828
	largeResponse  = 314159
	aggregatedSize = 74922
	initialValue   = "test_initial_metadata_value"
	trailingValue  = "\xab\xab\xab"
	echoInitialKey = "x-grpc-test-echo-initial"
	echoTrailerKey = "x-grpc-test-echo-trailing-bin"
	statusMessage  = "test status message"
	specialMessage = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
	// callDeadline: a server that never answers fails a case instead of
	// hanging it.
	callDeadline = 30 * time.Second
)

var (
	requestSizes  = []int{27182, 8, 1828, 45904}
	responseSizes = []int32{31415, 9, 2653, 58979}
)

type env struct {
	conn   *grpc.ClientConn
	client pb.TestServiceClient
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callDeadline)
}

func checkBody(what string, p *pb.Payload, size int) error {
	if len(p.GetBody()) != size {
		return fmt.Errorf("%s: payload of %d bytes, want %d", what, len(p.GetBody()), size)
	}
	if !bytes.Equal(p.GetBody(), make([]byte, size)) {
		return fmt.Errorf("%s: payload is not all zeros", what)
	}
	return nil
}

func checkStatus(what string, err error, code codes.Code, msg *string) error {
	s := status.Convert(err)
	if s.Code() != code {
		return fmt.Errorf("%s: status %v, want %v", what, s, code)
	}
	if msg != nil && s.Message() != *msg {
		return fmt.Errorf("%s: message %q, want %q", what, s.Message(), *msg)
	}
	return nil
}

func checkEcho(what string, header, trailer metadata.MD) error {
	if v := header.Get(echoInitialKey); len(v) != 1 || v[0] != initialValue {
		return fmt.Errorf("%s: initial metadata %s is %q", what, echoInitialKey, v)
	}
	if v := trailer.Get(echoTrailerKey); len(v) != 1 || v[0] != trailingValue {
		return fmt.Errorf("%s: trailing metadata %s is %q, want ababab", what, echoTrailerKey, v)
	}
	return nil
}

func streamRequest(respSize int32, reqSize int) *pb.StreamingOutputCallRequest {
	return &pb.StreamingOutputCallRequest{
		ResponseParameters: []*pb.ResponseParameters{{Size: respSize}},
		Payload:            peer.Zeros(reqSize),
	}
}

func largeUnaryRequest() *pb.SimpleRequest {
	return &pb.SimpleRequest{ResponseSize: largeResponse, Payload: peer.Zeros(largeRequest)}
}

func emptyUnary(e *env) error {
	c, cancel := ctx()
	defer cancel()
	r, err := e.client.EmptyCall(c, &pb.Empty{})
	if err != nil {
		return fmt.Errorf("EmptyCall: %v", err)
	}
	if r == nil {
		return fmt.Errorf("EmptyCall: nil response")
	}
	return nil
}

func largeUnary(e *env) error {
	c, cancel := ctx()
	defer cancel()
	r, err := e.client.UnaryCall(c, largeUnaryRequest())
	if err != nil {
		return fmt.Errorf("UnaryCall: %v", err)
	}
	return checkBody("UnaryCall", r.Payload, largeResponse)
}

func clientStreaming(e *env) error {
	c, cancel := ctx()
	defer cancel()
	stream, err := e.client.StreamingInputCall(c)
	if err != nil {
		return fmt.Errorf("StreamingInputCall: %v", err)
	}
	for _, n := range requestSizes {
		if err := stream.Send(&pb.StreamingInputCallRequest{Payload: peer.Zeros(n)}); err != nil {
			return fmt.Errorf("send %d: %v", n, err)
		}
	}
	r, err := stream.CloseAndRecv()
	if err != nil {
		return fmt.Errorf("StreamingInputCall: %v", err)
	}
	if r.AggregatedPayloadSize != aggregatedSize {
		return fmt.Errorf("aggregated_payload_size %d, want %d", r.AggregatedPayloadSize, aggregatedSize)
	}
	return nil
}

func serverStreaming(e *env) error {
	c, cancel := ctx()
	defer cancel()
	req := &pb.StreamingOutputCallRequest{}
	for _, n := range responseSizes {
		req.ResponseParameters = append(req.ResponseParameters, &pb.ResponseParameters{Size: n})
	}
	stream, err := e.client.StreamingOutputCall(c, req)
	if err != nil {
		return fmt.Errorf("StreamingOutputCall: %v", err)
	}
	n := 0
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("StreamingOutputCall: %v", err)
		}
		if n >= len(responseSizes) {
			return fmt.Errorf("more than four responses")
		}
		if err := checkBody(fmt.Sprintf("response %d", n), r.Payload, int(responseSizes[n])); err != nil {
			return err
		}
		n++
	}
	if n != len(responseSizes) {
		return fmt.Errorf("%d responses, want 4", n)
	}
	return nil
}

func pingPong(e *env) error {
	c, cancel := ctx()
	defer cancel()
	stream, err := e.client.FullDuplexCall(c)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %v", err)
	}
	for i := range requestSizes {
		if err := stream.Send(streamRequest(responseSizes[i], requestSizes[i])); err != nil {
			return fmt.Errorf("send %d: %v", i, err)
		}
		r, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("response %d: %v", i, err)
		}
		if err := checkBody(fmt.Sprintf("response %d", i), r.Payload, int(responseSizes[i])); err != nil {
			return err
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		return fmt.Errorf("after half-close: %v, want the end of the stream", err)
	}
	return nil
}

func emptyStream(e *env) error {
	c, cancel := ctx()
	defer cancel()
	stream, err := e.client.FullDuplexCall(c)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %v", err)
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		return fmt.Errorf("FullDuplexCall: %v, want the end of the stream", err)
	}
	return nil
}

func timeoutOnSleepingServer(e *env) error {
	c, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	stream, err := e.client.FullDuplexCall(c)
	if err != nil {
		return checkStatus("FullDuplexCall", err, codes.DeadlineExceeded, nil)
	}
	// The send may fail already: the deadline can pass first.
	stream.Send(&pb.StreamingOutputCallRequest{Payload: peer.Zeros(27182)})
	_, err = stream.Recv()
	return checkStatus("FullDuplexCall", err, codes.DeadlineExceeded, nil)
}

func cancelAfterBegin(e *env) error {
	c, cancel := context.WithCancel(context.Background())
	stream, err := e.client.StreamingInputCall(c)
	if err != nil {
		cancel()
		return fmt.Errorf("StreamingInputCall: %v", err)
	}
	cancel()
	_, err = stream.CloseAndRecv()
	return checkStatus("StreamingInputCall", err, codes.Canceled, nil)
}

func cancelAfterFirstResponse(e *env) error {
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := e.client.FullDuplexCall(c)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %v", err)
	}
	if err := stream.Send(streamRequest(31415, 27182)); err != nil {
		return fmt.Errorf("send: %v", err)
	}
	r, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("first response: %v", err)
	}
	if err := checkBody("response", r.Payload, 31415); err != nil {
		return err
	}
	cancel()
	_, err = stream.Recv()
	return checkStatus("FullDuplexCall", err, codes.Canceled, nil)
}

func echoContext() (context.Context, context.CancelFunc) {
	c, cancel := ctx()
	return metadata.AppendToOutgoingContext(c, echoInitialKey, initialValue, echoTrailerKey, trailingValue), cancel
}

func customMetadata(e *env) error {
	c, cancel := echoContext()
	defer cancel()
	var header, trailer metadata.MD
	r, err := e.client.UnaryCall(c, largeUnaryRequest(), grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return fmt.Errorf("UnaryCall: %v", err)
	}
	if err := checkBody("UnaryCall", r.Payload, largeResponse); err != nil {
		return err
	}
	if err := checkEcho("UnaryCall", header, trailer); err != nil {
		return err
	}

	c2, cancel2 := echoContext()
	defer cancel2()
	stream, err := e.client.FullDuplexCall(c2)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %v", err)
	}
	if err := stream.Send(streamRequest(largeResponse, largeRequest)); err != nil {
		return fmt.Errorf("FullDuplexCall send: %v", err)
	}
	stream.CloseSend()
	n := 0
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("FullDuplexCall: %v", err)
		}
		if err := checkBody("FullDuplexCall", r.Payload, largeResponse); err != nil {
			return err
		}
		n++
	}
	if n != 1 {
		return fmt.Errorf("FullDuplexCall: %d responses, want 1", n)
	}
	h, err := stream.Header()
	if err != nil {
		return fmt.Errorf("FullDuplexCall headers: %v", err)
	}
	return checkEcho("FullDuplexCall", h, stream.Trailer())
}

func echoStatusUnary(e *env, msg string) error {
	c, cancel := ctx()
	defer cancel()
	_, err := e.client.UnaryCall(c, &pb.SimpleRequest{ResponseStatus: &pb.EchoStatus{Code: 2, Message: msg}})
	return checkStatus("UnaryCall", err, codes.Unknown, &msg)
}

func statusCodeAndMessage(e *env) error {
	if err := echoStatusUnary(e, statusMessage); err != nil {
		return err
	}
	c, cancel := ctx()
	defer cancel()
	stream, err := e.client.FullDuplexCall(c)
	if err != nil {
		return fmt.Errorf("FullDuplexCall: %v", err)
	}
	stream.Send(&pb.StreamingOutputCallRequest{ResponseStatus: &pb.EchoStatus{Code: 2, Message: statusMessage}})
	stream.CloseSend()
	for {
		if _, err = stream.Recv(); err != nil {
			break
		}
	}
	msg := statusMessage
	return checkStatus("FullDuplexCall", err, codes.Unknown, &msg)
}

func specialStatusMessage(e *env) error { return echoStatusUnary(e, specialMessage) }

func unimplementedMethod(e *env) error {
	c, cancel := ctx()
	defer cancel()
	_, err := e.client.UnimplementedCall(c, &pb.Empty{})
	return checkStatus("UnimplementedCall", err, codes.Unimplemented, nil)
}

func unimplementedService(e *env) error {
	c, cancel := ctx()
	defer cancel()
	_, err := pb.NewUnimplementedServiceClient(e.conn).UnimplementedCall(c, &pb.Empty{})
	return checkStatus("UnimplementedService/UnimplementedCall", err, codes.Unimplemented, nil)
}

var cases = []struct {
	name string
	run  func(*env) error
}{
	{"empty_unary", emptyUnary},
	{"large_unary", largeUnary},
	{"client_streaming", clientStreaming},
	{"server_streaming", serverStreaming},
	{"ping_pong", pingPong},
	{"empty_stream", emptyStream},
	{"timeout_on_sleeping_server", timeoutOnSleepingServer},
	{"cancel_after_begin", cancelAfterBegin},
	{"cancel_after_first_response", cancelAfterFirstResponse},
	{"custom_metadata", customMetadata},
	{"status_code_and_message", statusCodeAndMessage},
	{"special_status_message", specialStatusMessage},
	{"unimplemented_method", unimplementedMethod},
	{"unimplemented_service", unimplementedService},
}

func main() {
	host := flag.String("server_host", "localhost", "server host")
	port := flag.Int("server_port", 0, "server port (required)")
	override := flag.String("server_host_override", "", ":authority to send")
	testCase := flag.String("test_case", "large_unary", "test case name, or all")
	sec := peer.AddSecurityFlags(true)
	flag.Parse()
	if flag.NArg() != 0 {
		peer.Usagef("unexpected argument %q", flag.Arg(0))
	}
	if *port <= 0 || *port > 65535 {
		peer.Usagef("--server_port is required (1..65535)")
	}
	if err := sec.Check(); err != nil {
		peer.Usagef("%v", err)
	}
	var run []int
	for i, c := range cases {
		if *testCase == "all" || *testCase == c.name {
			run = append(run, i)
		}
	}
	if len(run) == 0 {
		peer.Usagef("unknown --test_case=%s", *testCase)
	}
	opts := []grpc.DialOption{sec.DialOption()}
	if *override != "" {
		opts = append(opts, grpc.WithAuthority(*override))
	}
	conn, err := grpc.Dial(net.JoinHostPort(*host, strconv.Itoa(*port)), opts...)
	if err != nil {
		peer.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	e := &env{conn: conn, client: pb.NewTestServiceClient(conn)}
	passed, failed := 0, 0
	for _, i := range run {
		start := time.Now()
		if err := cases[i].run(e); err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", cases[i].name, err)
		} else {
			passed++
			fmt.Printf("PASS %s (%d ms)\n", cases[i].name, time.Since(start).Milliseconds())
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
