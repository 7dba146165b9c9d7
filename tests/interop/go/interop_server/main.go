// interop_server is a grpc-go (1.33, Debian's golang-google-grpc-dev)
// server of gRPC's interop service grpc.testing.TestService, for this
// project's interop client and benchmarks (docs/interop.md).
//
//	interop_server [--port=0] [--host=0.0.0.0] [--use_tls=false]
//	               [--use_alts --alts_handshaker_service_address=HOST:PORT
//	                [--alts_skip_platform_check]]
//	               [--idle_report_connections=N]
//
// It prints "LISTENING HOST:PORT" (the bound port; --port=0 picks one) and
// serves until SIGINT or SIGTERM. The service follows gRPC's interop server
// description: EmptyCall, UnaryCall (response_size, response_type,
// response_status, fill_username = the ALTS peer's service account),
// CacheableUnaryCall, StreamingOutputCall / FullDuplexCall / HalfDuplexCall
// (ResponseParameters size and interval_us, response_status),
// StreamingInputCall; it echoes x-grpc-test-echo-initial in the headers and
// x-grpc-test-echo-trailing-bin in the trailers; UnimplementedCall and
// UnimplementedService answer UNIMPLEMENTED. response_compressed is not
// honoured (grpc-go 1.33 has no per-call send compressor).
//
// --use_alts switches to grpc-go's alts.NewServerCreds with the given
// handshaker service; grpc-go's ALTS refuses to run off Google Cloud unless
// --alts_skip_platform_check.
//
// Test faults: --fault=no_echo (no metadata echo), short_payload (every
// payload one byte short) or wrong_status_message (echoed status messages
// altered) make the server misbehave on purpose, so tests can check that
// interop clients notice.
//
// Idle memory: with --idle_report_connections=N, once N connections have
// each completed a call and no call is active, the server runs the garbage
// collector and prints one JSON line: {"idle_connections":N,
// "heap_inuse_per_conn":..., "heap_alloc_per_conn":...,
// "stack_inuse_per_conn":..., "goroutines_per_conn":..., ...}, each the
// increase over the same figures taken after listening, divided by N, and
// open_connections (the clients must keep them open meanwhile, e.g.
// bench_client --scenario=idle_connections --idle_hold=5s).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/alts"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	pb "altsinterop/grpc_testing"
	"altsinterop/peer"
)

const (
	echoInitialKey  = "x-grpc-test-echo-initial"
	echoTrailingKey = "x-grpc-test-echo-trailing-bin"
	// maxPayload bounds response sizes: gRPC's default receive limit.
	maxPayload = 4 << 20
)

// fault is --fault: a deliberate misbehaviour for tests (empty: none).
var fault string

type testServer struct {
	pb.UnimplementedTestServiceServer
}

func payload(t pb.PayloadType, size int32) (*pb.Payload, error) {
	if size < 0 || size > maxPayload {
		return nil, status.Errorf(codes.InvalidArgument, "payload size %d outside [0, %d]", size, maxPayload)
	}
	if fault == "short_payload" && size > 0 {
		size--
	}
	body := make([]byte, size)
	switch t {
	case pb.PayloadType_COMPRESSABLE:
	case pb.PayloadType_UNCOMPRESSABLE:
		x := uint64(0x9e3779b97f4a7c15) ^ uint64(size)
		for i := range body {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			body[i] = byte(x)
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unsupported response_type %v", t)
	}
	return &pb.Payload{Type: t, Body: body}, nil
}

func echoed(s *pb.EchoStatus) error {
	if s == nil || s.Code == 0 {
		return nil
	}
	if fault == "wrong_status_message" {
		return status.Error(codes.Code(s.Code), s.Message+" (altered)")
	}
	return status.Error(codes.Code(s.Code), s.Message)
}

// echoHeaders returns the echoed initial and trailing metadata of a call.
func echoHeaders(ctx context.Context) (metadata.MD, metadata.MD) {
	md, _ := metadata.FromIncomingContext(ctx)
	header, trailer := metadata.MD{}, metadata.MD{}
	if fault == "no_echo" {
		return header, trailer
	}
	if v := md.Get(echoInitialKey); len(v) > 0 {
		header.Set(echoInitialKey, v...)
	}
	if v := md.Get(echoTrailingKey); len(v) > 0 {
		trailer.Set(echoTrailingKey, v...)
	}
	return header, trailer
}

func echoUnary(ctx context.Context) {
	header, trailer := echoHeaders(ctx)
	if header.Len() > 0 {
		grpc.SendHeader(ctx, header)
	}
	if trailer.Len() > 0 {
		grpc.SetTrailer(ctx, trailer)
	}
}

func echoStream(stream grpc.ServerStream) error {
	header, trailer := echoHeaders(stream.Context())
	if header.Len() > 0 {
		if err := stream.SendHeader(header); err != nil {
			return err
		}
	}
	stream.SetTrailer(trailer)
	return nil
}

func (testServer) EmptyCall(ctx context.Context, _ *pb.Empty) (*pb.Empty, error) {
	echoUnary(ctx)
	return &pb.Empty{}, nil
}

func (testServer) UnaryCall(ctx context.Context, req *pb.SimpleRequest) (*pb.SimpleResponse, error) {
	echoUnary(ctx)
	if err := echoed(req.ResponseStatus); err != nil {
		return nil, err
	}
	p, err := payload(req.ResponseType, req.ResponseSize)
	if err != nil {
		return nil, err
	}
	resp := &pb.SimpleResponse{Payload: p}
	if req.FillUsername {
		if info, err := alts.AuthInfoFromContext(ctx); err == nil {
			resp.Username = info.PeerServiceAccount()
		}
	}
	return resp, nil
}

func (testServer) CacheableUnaryCall(ctx context.Context, req *pb.SimpleRequest) (*pb.SimpleResponse, error) {
	echoUnary(ctx)
	body := []byte(strconv.FormatInt(time.Now().UnixNano(), 10))
	return &pb.SimpleResponse{Payload: &pb.Payload{Body: body}}, nil
}

type outputStream interface {
	Send(*pb.StreamingOutputCallResponse) error
}

// serve sends the responses `req` asks for, each after its interval.
func serve(req *pb.StreamingOutputCallRequest, stream outputStream) error {
	for _, p := range req.ResponseParameters {
		if p.IntervalUs > 0 {
			time.Sleep(time.Duration(p.IntervalUs) * time.Microsecond)
		}
		body, err := payload(req.ResponseType, p.Size)
		if err != nil {
			return err
		}
		if err := stream.Send(&pb.StreamingOutputCallResponse{Payload: body}); err != nil {
			return err
		}
	}
	return nil
}

func (testServer) StreamingOutputCall(req *pb.StreamingOutputCallRequest, stream pb.TestService_StreamingOutputCallServer) error {
	if err := echoStream(stream); err != nil {
		return err
	}
	if err := serve(req, stream); err != nil {
		return err
	}
	return echoed(req.ResponseStatus)
}

func (testServer) StreamingInputCall(stream pb.TestService_StreamingInputCallServer) error {
	if err := echoStream(stream); err != nil {
		return err
	}
	var sum int64
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return stream.SendAndClose(&pb.StreamingInputCallResponse{AggregatedPayloadSize: int32(sum)})
		}
		if err != nil {
			return err
		}
		sum += int64(len(req.GetPayload().GetBody()))
	}
}

func (testServer) FullDuplexCall(stream pb.TestService_FullDuplexCallServer) error {
	if err := echoStream(stream); err != nil {
		return err
	}
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := echoed(req.ResponseStatus); err != nil {
			return err
		}
		if err := serve(req, stream); err != nil {
			return err
		}
	}
}

func (testServer) HalfDuplexCall(stream pb.TestService_HalfDuplexCallServer) error {
	if err := echoStream(stream); err != nil {
		return err
	}
	var reqs []*pb.StreamingOutputCallRequest
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		reqs = append(reqs, req)
	}
	for _, req := range reqs {
		if err := echoed(req.ResponseStatus); err != nil {
			return err
		}
		if err := serve(req, stream); err != nil {
			return err
		}
	}
	return nil
}

// idleReporter is a stats.Handler that prints the idle-memory report once
// `want` connections have each completed a call and no call is active.
type idleReporter struct {
	want     int
	baseline peer.MemFigures

	mu     sync.Mutex
	nextID int
	done   map[int]bool // connections with a completed call
	open   int
	active int
	once   sync.Once
}

type connKey struct{}

func (r *idleReporter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	return context.WithValue(ctx, connKey{}, id)
}

func (r *idleReporter) HandleConn(_ context.Context, s stats.ConnStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch s.(type) {
	case *stats.ConnBegin:
		r.open++
	case *stats.ConnEnd:
		r.open--
	}
}

func (r *idleReporter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (r *idleReporter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	switch s.(type) {
	case *stats.Begin:
		r.mu.Lock()
		r.active++
		r.mu.Unlock()
	case *stats.End:
		id, _ := ctx.Value(connKey{}).(int)
		r.mu.Lock()
		r.active--
		r.done[id] = true
		ready := len(r.done) >= r.want && r.active == 0
		r.mu.Unlock()
		if ready {
			r.once.Do(func() { go r.report() })
		}
	}
}

func (r *idleReporter) report() {
	// The handler's End comes before the call's last frames are written.
	time.Sleep(100 * time.Millisecond)
	now := peer.ReadMemFigures()
	r.mu.Lock()
	open := r.open
	r.mu.Unlock()
	rep := now.PerConnection(r.baseline, r.want)
	rep["idle_connections"] = r.want
	rep["open_connections"] = open
	rep["side"] = "grpc-go server"
	peer.PrintJSON(rep)
}

func main() {
	port := flag.Int("port", 0, "port to listen on (0: pick one)")
	host := flag.String("host", "0.0.0.0", "address to listen on")
	idle := flag.Int("idle_report_connections", 0, "report idle memory once this many connections each completed a call")
	flag.StringVar(&fault, "fault", "", "misbehave on purpose: no_echo, short_payload or wrong_status_message")
	sec := peer.AddSecurityFlags(false)
	flag.Parse()
	switch fault {
	case "", "no_echo", "short_payload", "wrong_status_message":
	default:
		peer.Usagef("unknown --fault=%s", fault)
	}
	if flag.NArg() != 0 {
		peer.Usagef("unexpected argument %q", flag.Arg(0))
	}
	if err := sec.Check(); err != nil {
		peer.Usagef("%v", err)
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		peer.Fatalf("listen: %v", err)
	}
	opts := sec.ServerOptions()
	if *idle > 0 {
		rep := &idleReporter{want: *idle, done: map[int]bool{}, baseline: peer.ReadMemFigures()}
		opts = append(opts, grpc.StatsHandler(rep))
	}
	server := grpc.NewServer(opts...)
	pb.RegisterTestServiceServer(server, &testServer{})
	fmt.Printf("LISTENING %s\n", lis.Addr())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-stop
		server.GracefulStop()
	}()
	if err := server.Serve(lis); err != nil {
		peer.Fatalf("serve: %v", err)
	}
}
