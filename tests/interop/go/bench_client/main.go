// bench_client is a grpc-go (1.33) benchmark client for any
// grpc.testing.TestService server: grpc-go's (tests/interop/go/
// interop_server) or this project's (tools/interop_server). It prints one
// JSON line per run.
//
//	bench_client --server_addr=HOST:PORT --scenario=NAME
//	             [--duration=5s | --count=N] [--warmup=1s]
//	             [--req_size=B] [--resp_size=B] [--concurrency=N]
//	             [--direction=upload|download] [--connections=N]
//	             [--idle_hold=0s]
//	             [--use_alts --alts_handshaker_service_address=HOST:PORT
//	              [--alts_skip_platform_check]
//	              [--alts_target_service_accounts=A,B]]
//
// Scenarios (defaults in brackets; --req_size/--resp_size override them):
//
//	unary_pingpong      UnaryCall, 1 call in flight [0 B / 0 B]
//	unary_concurrent64  UnaryCall, --concurrency calls in flight over one
//	                    connection [64; 1 KiB / 1 KiB]
//	bidi_pingpong       FullDuplexCall, one request then its response, on
//	                    one stream [1 KiB / 1 KiB]
//	bulk_stream         64 KiB messages one way: upload streams them in
//	                    StreamingInputCall (one call), download asks for them
//	                    in StreamingOutputCall (256 per call) [64 KiB]
//	idle_connections    --connections connections, one EmptyCall each, then
//	                    idle: Go heap, stack and goroutines per connection
//	                    after a collection; then holds them for --idle_hold
//	                    (so the server's side can be measured) and closes
//
// A run lasts --duration, or --count calls (messages for bidi_pingpong and
// bulk_stream) if given, after --warmup (not measured). The JSON fields:
// scenario, transport (plaintext|alts), req_size, resp_size, concurrency,
// seconds, calls (round trips or messages), calls_per_s, mb_per_s (request
// plus response payload bytes), p50_us, p99_us (per call or round trip; 0
// for bulk_stream), cpu_user_s, cpu_sys_s (this process, measured part
// only: getrusage), and for idle_connections the fields of
// peer.MemFigures.PerConnection. Exit status 1 on any failed call, 2 for
// usage errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	pb "altsinterop/grpc_testing"
	"altsinterop/peer"
)

// bulkPerCall is how many 64 KiB responses one download call asks for.
const bulkPerCall = 256

type config struct {
	addr        string
	scenario    string
	duration    time.Duration
	warmup      time.Duration
	count       int64
	reqSize     int
	respSize    int
	concurrency int
	direction   string
	connections int
	idleHold    time.Duration
	sec         *peer.Security
}

// run is one measured phase: it ends at a deadline or after a count.
type run struct {
	end   time.Time
	limit int64
	mu    sync.Mutex
	done  int64
	lat   []time.Duration
}

// next claims one more operation; false once the phase is over.
func (r *run) next() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.limit > 0 {
		if r.done >= r.limit {
			return false
		}
	} else if time.Now().After(r.end) {
		return false
	}
	r.done++
	return true
}

func (r *run) record(d time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
}

func cpu() (float64, float64) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime), tv(ru.Stime)
}

func percentile(lat []time.Duration, p float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	i := int(p * float64(len(lat)-1))
	return float64(lat[i].Nanoseconds()) / 1e3
}

func dial(c *config) *grpc.ClientConn {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, c.addr, c.sec.DialOption(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		peer.Fatalf("dial %s: %v", c.addr, err)
	}
	return conn
}

// phase runs op in `workers` goroutines until r is over; op returns an
// error to stop the run.
func phase(r *run, workers int, op func() error) {
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := op(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		peer.Fatalf("%v", err)
	default:
	}
}

// unaryWorker issues calls until the run is over.
func unaryWorker(client pb.TestServiceClient, c *config, r *run) func() error {
	req := &pb.SimpleRequest{ResponseSize: int32(c.respSize), Payload: peer.Zeros(c.reqSize)}
	return func() error {
		for r.next() {
			start := time.Now()
			if _, err := client.UnaryCall(context.Background(), req); err != nil {
				return fmt.Errorf("UnaryCall: %v", err)
			}
			r.record(time.Since(start))
		}
		return nil
	}
}

func bidiWorker(client pb.TestServiceClient, c *config, r *run) func() error {
	return func() error {
		stream, err := client.FullDuplexCall(context.Background())
		if err != nil {
			return fmt.Errorf("FullDuplexCall: %v", err)
		}
		req := &pb.StreamingOutputCallRequest{
			ResponseParameters: []*pb.ResponseParameters{{Size: int32(c.respSize)}},
			Payload:            peer.Zeros(c.reqSize),
		}
		for r.next() {
			start := time.Now()
			if err := stream.Send(req); err != nil {
				return fmt.Errorf("send: %v", err)
			}
			if _, err := stream.Recv(); err != nil {
				return fmt.Errorf("recv: %v", err)
			}
			r.record(time.Since(start))
		}
		stream.CloseSend()
		if _, err := stream.Recv(); err != io.EOF {
			return fmt.Errorf("FullDuplexCall end: %v", err)
		}
		return nil
	}
}

func bulkWorker(client pb.TestServiceClient, c *config, r *run) func() error {
	if c.direction == "upload" {
		return func() error {
			stream, err := client.StreamingInputCall(context.Background())
			if err != nil {
				return fmt.Errorf("StreamingInputCall: %v", err)
			}
			req := &pb.StreamingInputCallRequest{Payload: peer.Zeros(c.reqSize)}
			for r.next() {
				if err := stream.Send(req); err != nil {
					return fmt.Errorf("send: %v", err)
				}
			}
			if _, err := stream.CloseAndRecv(); err != nil {
				return fmt.Errorf("StreamingInputCall: %v", err)
			}
			return nil
		}
	}
	return func() error {
		req := &pb.StreamingOutputCallRequest{}
		for i := 0; i < bulkPerCall; i++ {
			req.ResponseParameters = append(req.ResponseParameters, &pb.ResponseParameters{Size: int32(c.respSize)})
		}
		for {
			stream, err := client.StreamingOutputCall(context.Background(), req)
			if err != nil {
				return fmt.Errorf("StreamingOutputCall: %v", err)
			}
			for {
				if _, err := stream.Recv(); err == io.EOF {
					break
				} else if err != nil {
					return fmt.Errorf("StreamingOutputCall: %v", err)
				}
				if !r.next() {
					return nil // cancels the call in flight: its context goes away
				}
			}
		}
	}
}

func measure(c *config) map[string]interface{} {
	conn := dial(c)
	defer conn.Close()
	client := pb.NewTestServiceClient(conn)
	var worker func(*run) func() error
	workers := 1
	switch c.scenario {
	case "unary_pingpong":
		worker = func(r *run) func() error { return unaryWorker(client, c, r) }
	case "unary_concurrent64":
		workers = c.concurrency
		worker = func(r *run) func() error { return unaryWorker(client, c, r) }
	case "bidi_pingpong":
		worker = func(r *run) func() error { return bidiWorker(client, c, r) }
	case "bulk_stream":
		worker = func(r *run) func() error { return bulkWorker(client, c, r) }
	}
	if c.warmup > 0 {
		w := &run{end: time.Now().Add(c.warmup)}
		phase(w, workers, worker(w))
	}
	r := &run{end: time.Now().Add(c.duration), limit: c.count}
	if r.limit > 0 {
		r.lat = make([]time.Duration, 0, r.limit)
	}
	u0, s0 := cpu()
	start := time.Now()
	phase(r, workers, worker(r))
	secs := time.Since(start).Seconds()
	u1, s1 := cpu()
	sort.Slice(r.lat, func(i, j int) bool { return r.lat[i] < r.lat[j] })
	bytesPer := c.reqSize + c.respSize
	if c.scenario == "bulk_stream" {
		bytesPer = c.reqSize
		if c.direction == "download" {
			bytesPer = c.respSize
		}
	}
	return map[string]interface{}{
		"scenario":    c.scenario,
		"transport":   c.sec.Mode(),
		"peer":        "grpc-go client",
		"req_size":    c.reqSize,
		"resp_size":   c.respSize,
		"concurrency": workers,
		"direction":   c.direction,
		"seconds":     secs,
		"calls":       r.done,
		"calls_per_s": float64(r.done) / secs,
		"mb_per_s":    float64(r.done) * float64(bytesPer) / secs / 1e6,
		"p50_us":      percentile(r.lat, 0.50),
		"p99_us":      percentile(r.lat, 0.99),
		"cpu_user_s":  u1 - u0,
		"cpu_sys_s":   s1 - s0,
	}
}

func idle(c *config) map[string]interface{} {
	base := peer.ReadMemFigures()
	conns := make([]*grpc.ClientConn, 0, c.connections)
	for i := 0; i < c.connections; i++ {
		conn := dial(c)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := pb.NewTestServiceClient(conn).EmptyCall(ctx, &pb.Empty{})
		cancel()
		if err != nil {
			peer.Fatalf("EmptyCall on connection %d: %v", i, err)
		}
		conns = append(conns, conn)
	}
	now := peer.ReadMemFigures()
	rep := now.PerConnection(base, c.connections)
	rep["scenario"] = c.scenario
	rep["transport"] = c.sec.Mode()
	rep["side"] = "grpc-go client"
	rep["idle_connections"] = c.connections
	peer.PrintJSON(rep)
	time.Sleep(c.idleHold)
	for _, conn := range conns {
		conn.Close()
	}
	return nil
}

func main() {
	c := &config{}
	flag.StringVar(&c.addr, "server_addr", "", "server HOST:PORT (required)")
	flag.StringVar(&c.scenario, "scenario", "", "unary_pingpong, unary_concurrent64, bidi_pingpong, bulk_stream or idle_connections")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measured time (ignored with --count)")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured time first")
	flag.Int64Var(&c.count, "count", 0, "measured calls or messages instead of --duration")
	reqSize := flag.Int("req_size", -1, "request payload bytes (default: per scenario)")
	respSize := flag.Int("resp_size", -1, "response payload bytes (default: per scenario)")
	flag.IntVar(&c.concurrency, "concurrency", 64, "calls in flight for unary_concurrent64")
	flag.StringVar(&c.direction, "direction", "upload", "bulk_stream: upload or download")
	flag.IntVar(&c.connections, "connections", 100, "idle_connections: how many")
	flag.DurationVar(&c.idleHold, "idle_hold", 0, "idle_connections: hold them this long after the report")
	c.sec = peer.AddSecurityFlags(true)
	flag.Parse()
	if flag.NArg() != 0 {
		peer.Usagef("unexpected argument %q", flag.Arg(0))
	}
	if c.addr == "" {
		peer.Usagef("--server_addr is required")
	}
	if err := c.sec.Check(); err != nil {
		peer.Usagef("%v", err)
	}
	defReq, defResp := 1024, 1024
	switch c.scenario {
	case "unary_pingpong":
		defReq, defResp = 0, 0
	case "unary_concurrent64", "bidi_pingpong":
	case "bulk_stream":
		defReq, defResp = 64<<10, 64<<10
		if c.direction != "upload" && c.direction != "download" {
			peer.Usagef("--direction must be upload or download")
		}
	case "idle_connections":
		if c.connections <= 0 {
			peer.Usagef("--connections must be positive")
		}
	default:
		peer.Usagef("unknown --scenario=%q", c.scenario)
	}
	c.reqSize, c.respSize = defReq, defResp
	if *reqSize >= 0 {
		c.reqSize = *reqSize
	}
	if *respSize >= 0 {
		c.respSize = *respSize
	}
	if c.concurrency <= 0 || c.count < 0 || c.duration <= 0 {
		peer.Usagef("--concurrency and --duration must be positive, --count not negative")
	}
	if c.scenario == "idle_connections" {
		idle(c)
		return
	}
	peer.PrintJSON(measure(c))
}
