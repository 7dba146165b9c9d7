// Package peer holds what the grpc-go interop and benchmark peers share:
// transport credentials from flags (plaintext, or grpc-go's ALTS through a
// handshaker service), payloads and one-line JSON output.
package peer

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	_ "unsafe" // go:linkname

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/alts"

	pb "altsinterop/grpc_testing"
)

// vmOnGCP is grpc-go's own record of whether it runs on Google Cloud: its
// ALTS refuses every handshake elsewhere (ErrUntrustedPlatform). Tests that
// run a handshaker service on loopback set it with
// --alts_skip_platform_check.
//
//go:linkname vmOnGCP google.golang.org/grpc/credentials/alts.vmOnGCP
var vmOnGCP bool

// Security is the transport flags every peer takes.
type Security struct {
	UseTLS        *bool
	UseALTS       *bool
	HandshakerSvc *string
	SkipPlatform  *bool
	Targets       *string
}

// AddSecurityFlags registers --use_tls, --use_alts,
// --alts_handshaker_service_address, --alts_skip_platform_check and, for
// clients, --alts_target_service_accounts.
func AddSecurityFlags(client bool) *Security {
	s := &Security{
		UseTLS:  flag.Bool("use_tls", false, "TLS (not supported: must be false)"),
		UseALTS: flag.Bool("use_alts", false, "ALTS through grpc-go's alts credentials"),
		HandshakerSvc: flag.String("alts_handshaker_service_address", "",
			"ALTS handshaker service HOST:PORT (required with --use_alts)"),
		SkipPlatform: flag.Bool("alts_skip_platform_check", false,
			"let grpc-go's ALTS run off Google Cloud (it refuses otherwise)"),
	}
	if client {
		s.Targets = flag.String("alts_target_service_accounts", "",
			"comma-separated service accounts the server must have (empty: any)")
	}
	return s
}

// Check returns an error for flag combinations the peers refuse.
func (s *Security) Check() error {
	if *s.UseTLS {
		return errors.New("--use_tls=true: TLS is not supported; use plaintext or --use_alts")
	}
	if *s.UseALTS && *s.HandshakerSvc == "" {
		return errors.New("--use_alts needs --alts_handshaker_service_address")
	}
	return nil
}

// ServerOptions returns the grpc.ServerOption for the flags (none for
// plaintext).
func (s *Security) ServerOptions() []grpc.ServerOption {
	if !*s.UseALTS {
		return nil
	}
	creds := alts.NewServerCreds(&alts.ServerOptions{HandshakerServiceAddress: *s.HandshakerSvc})
	s.platform()
	return []grpc.ServerOption{grpc.Creds(creds)}
}

// DialOption returns the transport option for the flags.
func (s *Security) DialOption() grpc.DialOption {
	if !*s.UseALTS {
		return grpc.WithInsecure()
	}
	opts := &alts.ClientOptions{HandshakerServiceAddress: *s.HandshakerSvc}
	if s.Targets != nil && *s.Targets != "" {
		opts.TargetServiceAccounts = strings.Split(*s.Targets, ",")
	}
	creds := alts.NewClientCreds(opts)
	s.platform()
	return grpc.WithTransportCredentials(creds)
}

// platform runs after the first New*Creds (which sets vmOnGCP once).
func (s *Security) platform() {
	if *s.SkipPlatform {
		vmOnGCP = true
	}
}

// Mode names the transport for reports: "plaintext" or "alts".
func (s *Security) Mode() string {
	if *s.UseALTS {
		return "alts"
	}
	return "plaintext"
}

// Zeros returns a COMPRESSABLE payload of n zero bytes.
func Zeros(n int) *pb.Payload {
	return &pb.Payload{Type: pb.PayloadType_COMPRESSABLE, Body: make([]byte, n)}
}

// PrintJSON writes v as one JSON line on stdout.
func PrintJSON(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		Fatalf("json: %v", err)
	}
	fmt.Println(string(b))
}

// Fatalf prints "<program>: message" on stderr and exits 1.
func Fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", programName(), fmt.Sprintf(format, args...))
	os.Exit(1)
}

// Usagef prints "<program>: message" on stderr and exits 2.
func Usagef(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", programName(), fmt.Sprintf(format, args...))
	os.Exit(2)
}

func programName() string {
	name := os.Args[0]
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// MemFigures are the Go runtime's memory figures after a collection.
type MemFigures struct {
	HeapInuse, HeapAlloc, StackInuse, Sys uint64
	Goroutines                            int
}

// ReadMemFigures collects garbage (twice, so finalizers' frees count) and
// reads the figures.
func ReadMemFigures() MemFigures {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return MemFigures{HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, StackInuse: ms.StackInuse,
		Sys: ms.Sys, Goroutines: runtime.NumGoroutine()}
}

// PerConnection returns the increase of each figure over `base`, divided
// by n, as report fields (bytes, goroutines).
func (m MemFigures) PerConnection(base MemFigures, n int) map[string]interface{} {
	per := func(now, then uint64) float64 { return (float64(now) - float64(then)) / float64(n) }
	return map[string]interface{}{
		"heap_inuse_per_conn":  per(m.HeapInuse, base.HeapInuse),
		"heap_alloc_per_conn":  per(m.HeapAlloc, base.HeapAlloc),
		"stack_inuse_per_conn": per(m.StackInuse, base.StackInuse),
		"sys_per_conn":         per(m.Sys, base.Sys),
		"goroutines_per_conn":  float64(m.Goroutines-base.Goroutines) / float64(n),
		"heap_inuse_total":     m.HeapInuse,
		"stack_inuse_total":    m.StackInuse,
	}
}
