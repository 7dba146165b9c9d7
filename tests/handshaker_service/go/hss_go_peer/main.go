// hss_go_peer: grpc-go 1.33's own ALTS (credentials/alts) with
// HandshakerServiceAddress pointed at alts_handshaker_service, as a
// grpc.testing.TestService server, a client that runs calls against one, or
// a handshake benchmark. Nothing here bypasses grpc-go's platform check: run
// it where /sys/class/dmi/id/product_name says "Google Compute Engine"
// (tests/handshaker_service/grpc_go_alts_test.sh provides one in a
// namespace).
//
//	hss_go_peer -mode server -handshaker HOST:PORT [-listen 127.0.0.1:0]
//	    prints "LISTENING HOST:PORT", then for every call
//	    "server: <method> from <client service account> as <own service account> (<record protocol>)"
//	hss_go_peer -mode client -handshaker HOST:PORT -target HOST:PORT
//	    [-target_sa A,B] [-bytes N] [-expect_server_sa SA] [-expect_username SA] [-expect_fail]
//	    [-unary_bytes N]
//	    runs EmptyCall, a unary call of -unary_bytes each way, a server stream and a
//	    full-duplex ping-pong moving -bytes each, every payload checked; prints
//	    "client: server <sa> local <sa> (<record protocol>, rpc <major.minor>)",
//	    "client: server saw <username>", "PASS <bytes> bytes" or "FAIL: <error>".
//	    -expect_fail: the first call must fail ("EXPECTED FAILURE: <error>").
//	hss_go_peer -mode bench -handshaker HOST:PORT [-duration 2s] [-concurrency 8] [-target_sa SA]
//	    grpc-go ALTS client and server handshakes over loopback, both through
//	    the service; prints one JSON line {"handshakes":N,"seconds":S,"errors":E,...}
//
// Exit status: 0 success, 1 failure, 2 usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/alts"
	"google.golang.org/grpc/peer"
	testpb "google.golang.org/grpc/test/grpc_testing"
)

var (
	mode           = flag.String("mode", "", "server, client or bench")
	handshaker     = flag.String("handshaker", "", "the ALTS handshaker service HOST:PORT")
	listen         = flag.String("listen", "127.0.0.1:0", "server: address to listen on")
	target         = flag.String("target", "", "client: the server HOST:PORT")
	targetSA       = flag.String("target_sa", "", "client: TargetServiceAccounts, comma separated")
	totalBytes     = flag.Int("bytes", 4<<20, "client: bytes each streaming call moves")
	unaryBytes     = flag.Int("unary_bytes", 2<<20, "client: bytes of the unary request and response (gRPC's limit is 4 MiB)")
	expectServerSA = flag.String("expect_server_sa", "", "client: the server's service account must be this")
	expectUsername = flag.String("expect_username", "", "client: the server must see this client service account")
	expectFail     = flag.Bool("expect_fail", false, "client: the first call must fail")
	duration       = flag.Duration("duration", 2*time.Second, "bench: how long to run")
	concurrency    = flag.Int("concurrency", 8, "bench: handshakes in flight")
)

// kChunk is the payload size of one streamed message.
const kChunk = 256 * 1024

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func usage(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "hss_go_peer: "+format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}

func zeros(n int32) *testpb.Payload { return &testpb.Payload{Body: make([]byte, n)} }

// pattern is a request payload the server checks byte for byte.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

func checkPattern(b []byte, n int, seed byte) error {
	if len(b) != n {
		return fmt.Errorf("payload of %d bytes, want %d", len(b), n)
	}
	for i := range b {
		if b[i] != byte(i*31)^seed {
			return fmt.Errorf("payload byte %d is %d, want %d", i, b[i], byte(i*31)^seed)
		}
	}
	return nil
}

func checkZeros(p *testpb.Payload, n int32) error {
	if p == nil || int32(len(p.Body)) != n {
		got := 0
		if p != nil {
			got = len(p.Body)
		}
		return fmt.Errorf("response payload of %d bytes, want %d", got, n)
	}
	for i, c := range p.Body {
		if c != 0 {
			return fmt.Errorf("response payload byte %d is %d, want 0", i, c)
		}
	}
	return nil
}

// describe names the ALTS peer of a call.
func describe(info credentials.AuthInfo) (string, string, string) {
	a, err := alts.AuthInfoFromPeer(&peer.Peer{AuthInfo: info})
	if err != nil {
		return "?", "?", err.Error()
	}
	v := a.PeerRPCVersions().GetMaxRpcVersion()
	return a.PeerServiceAccount(), a.LocalServiceAccount(),
		fmt.Sprintf("%s, rpc %d.%d", a.RecordProtocol(), v.GetMajor(), v.GetMinor())
}

type server struct {
	testpb.UnimplementedTestServiceServer
}

func logCall(ctx context.Context, method string) string {
	p, ok := peer.FromContext(ctx)
	if !ok {
		fmt.Printf("server: %s without a peer\n", method)
		return ""
	}
	peerSA, localSA, proto := describe(p.AuthInfo)
	fmt.Printf("server: %s from %s as %s (%s)\n", method, peerSA, localSA, proto)
	return peerSA
}

func (server) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	logCall(ctx, "EmptyCall")
	return &testpb.Empty{}, nil
}

func (server) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	sa := logCall(ctx, "UnaryCall")
	// Our own client sends a pattern; gRPC's interop clients send zeros.
	if body := req.GetPayload().GetBody(); len(body) > 0 && body[0] != 0 {
		if err := checkPattern(body, len(body), 1); err != nil {
			return nil, fmt.Errorf("request: %v", err)
		}
	}
	resp := &testpb.SimpleResponse{Payload: zeros(req.ResponseSize)}
	if req.FillUsername {
		resp.Username = sa
	}
	return resp, nil
}

func (server) StreamingOutputCall(req *testpb.StreamingOutputCallRequest, stream testpb.TestService_StreamingOutputCallServer) error {
	logCall(stream.Context(), "StreamingOutputCall")
	for _, p := range req.ResponseParameters {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: zeros(p.Size)}); err != nil {
			return err
		}
	}
	return nil
}

func (server) StreamingInputCall(stream testpb.TestService_StreamingInputCallServer) error {
	logCall(stream.Context(), "StreamingInputCall")
	total := int32(0)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&testpb.StreamingInputCallResponse{AggregatedPayloadSize: total})
		}
		if err != nil {
			return err
		}
		total += int32(len(req.GetPayload().GetBody()))
	}
}

func (server) FullDuplexCall(stream testpb.TestService_FullDuplexCallServer) error {
	logCall(stream.Context(), "FullDuplexCall")
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, p := range req.ResponseParameters {
			if err := stream.Send(&testpb.StreamingOutputCallResponse{Payload: zeros(p.Size)}); err != nil {
				return err
			}
		}
	}
}

func runServer() {
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fail("listen: %v", err)
	}
	s := grpc.NewServer(grpc.Creds(alts.NewServerCreds(&alts.ServerOptions{HandshakerServiceAddress: *handshaker})))
	testpb.RegisterTestServiceServer(s, server{})
	fmt.Printf("LISTENING %s\n", ln.Addr().String())
	if err := s.Serve(ln); err != nil {
		fail("serve: %v", err)
	}
}

func targets() []string {
	if *targetSA == "" {
		return nil
	}
	return strings.Split(*targetSA, ",")
}

func runClient() {
	creds := alts.NewClientCreds(&alts.ClientOptions{
		TargetServiceAccounts:    targets(),
		HandshakerServiceAddress: *handshaker,
	})
	conn, err := grpc.Dial(*target, grpc.WithTransportCredentials(creds))
	if err != nil {
		fail("dial: %v", err)
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var p peer.Peer
	_, err = client.EmptyCall(ctx, &testpb.Empty{}, grpc.Peer(&p))
	if *expectFail {
		if err == nil {
			fail("the call succeeded but was expected to fail")
		}
		fmt.Printf("EXPECTED FAILURE: %v\n", err)
		return
	}
	if err != nil {
		fail("EmptyCall: %v", err)
	}
	serverSA, localSA, proto := describe(p.AuthInfo)
	fmt.Printf("client: server %s local %s (%s)\n", serverSA, localSA, proto)
	if *expectServerSA != "" && serverSA != *expectServerSA {
		fail("server service account %q, want %q", serverSA, *expectServerSA)
	}

	u := *unaryBytes
	resp, err := client.UnaryCall(ctx, &testpb.SimpleRequest{
		ResponseSize: int32(u), Payload: &testpb.Payload{Body: pattern(u, 1)}, FillUsername: true,
	})
	if err != nil {
		fail("UnaryCall: %v", err)
	}
	if err := checkZeros(resp.Payload, int32(u)); err != nil {
		fail("UnaryCall: %v", err)
	}
	fmt.Printf("client: server saw %s\n", resp.Username)
	if *expectUsername != "" && resp.Username != *expectUsername {
		fail("the server saw %q, want %q", resp.Username, *expectUsername)
	}
	moved := 2 * u
	n := *totalBytes

	var params []*testpb.ResponseParameters
	for left := n; left > 0; left -= kChunk {
		size := kChunk
		if left < size {
			size = left
		}
		params = append(params, &testpb.ResponseParameters{Size: int32(size)})
	}
	out, err := client.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{ResponseParameters: params})
	if err != nil {
		fail("StreamingOutputCall: %v", err)
	}
	for i, want := range params {
		r, err := out.Recv()
		if err != nil {
			fail("StreamingOutputCall message %d: %v", i, err)
		}
		if err := checkZeros(r.Payload, want.Size); err != nil {
			fail("StreamingOutputCall message %d: %v", i, err)
		}
		moved += int(want.Size)
	}
	if _, err := out.Recv(); err != io.EOF {
		fail("StreamingOutputCall: want the end of the stream, got %v", err)
	}

	duplex, err := client.FullDuplexCall(ctx)
	if err != nil {
		fail("FullDuplexCall: %v", err)
	}
	for i, want := range params {
		if err := duplex.Send(&testpb.StreamingOutputCallRequest{
			ResponseParameters: []*testpb.ResponseParameters{want},
			Payload:            &testpb.Payload{Body: pattern(int(want.Size), byte(i))},
		}); err != nil {
			fail("FullDuplexCall send %d: %v", i, err)
		}
		r, err := duplex.Recv()
		if err != nil {
			fail("FullDuplexCall message %d: %v", i, err)
		}
		if err := checkZeros(r.Payload, want.Size); err != nil {
			fail("FullDuplexCall message %d: %v", i, err)
		}
		moved += 2 * int(want.Size)
	}
	if err := duplex.CloseSend(); err != nil {
		fail("FullDuplexCall close: %v", err)
	}
	if _, err := duplex.Recv(); err != io.EOF {
		fail("FullDuplexCall: want the end of the stream, got %v", err)
	}
	fmt.Printf("PASS %d bytes\n", moved)
}

// benchResult is the bench mode's JSON line.
type benchResult struct {
	Handshakes   int64   `json:"handshakes"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"per_second"`
	Errors       int64   `json:"errors"`
	Concurrency  int     `json:"concurrency"`
	P50Millis    float64 `json:"p50_ms"`
	P99Millis    float64 `json:"p99_ms"`
	FirstError   string  `json:"first_error,omitempty"`
	ServerErrors int64   `json:"server_errors"`
}

func runBench() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen: %v", err)
	}
	serverCreds := alts.NewServerCreds(&alts.ServerOptions{HandshakerServiceAddress: *handshaker})
	clientCreds := alts.NewClientCreds(&alts.ClientOptions{
		TargetServiceAccounts: targets(), HandshakerServiceAddress: *handshaker,
	})
	var serverErrors int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				sc, _, err := serverCreds.ServerHandshake(c)
				if err != nil {
					atomic.AddInt64(&serverErrors, 1)
					c.Close()
					return
				}
				// The client closes first; reading sees its end.
				buf := make([]byte, 1)
				sc.Read(buf)
				sc.Close()
			}(c)
		}
	}()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		errs      int64
		firstErr  string
	)
	addr := ln.Addr().String()
	start := time.Now()
	deadline := start.Add(*duration)
	var wg sync.WaitGroup
	for w := 0; w < *concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				c, err := net.Dial("tcp", addr)
				if err == nil {
					var sc net.Conn
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					sc, _, err = clientCreds.ClientHandshake(ctx, addr, c)
					cancel()
					if err == nil {
						sc.Close()
					} else {
						c.Close()
					}
				}
				if err != nil {
					mu.Lock()
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	ln.Close()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	r := benchResult{
		Handshakes: int64(len(latencies)), Seconds: elapsed,
		PerSecond: float64(len(latencies)) / elapsed, Errors: errs, Concurrency: *concurrency,
		P50Millis: pct(0.5), P99Millis: pct(0.99), FirstError: firstErr,
		ServerErrors: atomic.LoadInt64(&serverErrors),
	}
	line, _ := json.Marshal(r)
	fmt.Println(string(line))
	if errs > 0 || len(latencies) == 0 {
		os.Exit(1)
	}
}

func main() {
	flag.Parse()
	if flag.NArg() != 0 {
		usage("unexpected argument %q", flag.Arg(0))
	}
	if *handshaker == "" {
		usage("-handshaker HOST:PORT is required")
	}
	switch *mode {
	case "server":
		runServer()
	case "client":
		if *target == "" {
			usage("-target HOST:PORT is required")
		}
		runClient()
	case "bench":
		runBench()
	default:
		usage("-mode must be server, client or bench")
	}
}
