package guard

import (
	"context"
	"crypto/subtle"
	"slices"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// Header is the metadata key that carries the token, as
// "authorization: Bearer <token>". Without TLS it crosses the network in
// clear text.
const Header = "authorization"

// Config says what a Guard admits.
type Config struct {
	// Token, when set, must be sent as "authorization: Bearer <token>" on
	// every call except the Open methods.
	Token string
	// Open lists the full method names callable without the token, such
	// as "/grpc.health.v1.Health/Check".
	Open []string
	// MaxInFlight bounds the calls admitted at once; 0 means no bound.
	MaxInFlight int
	// Unbounded lists full method names that do not count against
	// MaxInFlight: long-lived streams such as health Watch, which would
	// otherwise hold a slot for their whole life.
	Unbounded []string
}

// Guard checks calls from their headers. It is safe for concurrent use.
type Guard struct {
	cfg      Config
	want     []byte
	inFlight atomic.Int64
	refused  atomic.Int64
}

// New returns a Guard for cfg.
func New(cfg Config) *Guard {
	g := &Guard{cfg: cfg}
	if cfg.Token != "" {
		g.want = []byte("Bearer " + cfg.Token)
	}
	return g
}

// ServerOption returns the option that installs g on a grpc.Server as its
// tap handle. A server has one tap handle.
func (g *Guard) ServerOption() grpc.ServerOption { return grpc.InTapHandle(g.tap) }

// InFlight returns the number of calls holding a slot now.
func (g *Guard) InFlight() int { return int(g.inFlight.Load()) }

// Refused returns how many calls were refused for the budget so far.
func (g *Guard) Refused() int64 { return g.refused.Load() }

// Authorized reports whether values, the values of the authorization
// header, hold the token. It is true when no token is configured. The
// REST front end uses it with its HTTP header.
func (g *Guard) Authorized(values []string) bool {
	if g.want == nil {
		return true
	}
	ok := false
	for _, v := range values {
		// Every value is compared, in constant time, so timing says
		// nothing about which one or how much matched.
		if subtle.ConstantTimeCompare([]byte(v), g.want) == 1 {
			ok = true
		}
	}
	return ok
}

// ErrUnauthenticated is the status of a call without the right token.
var ErrUnauthenticated = status.Error(codes.Unauthenticated, "missing or wrong token: send metadata \"authorization: Bearer <token>\"")

// errBusy is the status of a call beyond the in-flight budget.
var errBusy = status.Error(codes.ResourceExhausted, "server busy: too many requests in flight; retry with backoff")

// Acquire takes an in-flight slot for a call that is not a gRPC stream
// (the REST front end). It returns a release function, or a
// ResourceExhausted status when the budget is spent.
func (g *Guard) Acquire() (release func(), err error) {
	if !g.take() {
		return nil, errBusy
	}
	s := &slot{g: g}
	return s.release, nil
}

func (g *Guard) take() bool {
	if g.cfg.MaxInFlight <= 0 {
		g.inFlight.Add(1)
		return true
	}
	if g.inFlight.Add(1) > int64(g.cfg.MaxInFlight) {
		g.inFlight.Add(-1)
		g.refused.Add(1)
		return false
	}
	return true
}

// slot is one admitted call's share of the budget, freed once.
type slot struct {
	g    *Guard
	done atomic.Bool
}

func (s *slot) release() {
	if s.done.CompareAndSwap(false, true) {
		s.g.inFlight.Add(-1)
	}
}

// tap runs when a call's headers arrive, before any of its message is
// read.
func (g *Guard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if g.want != nil && !slices.Contains(g.cfg.Open, info.FullMethodName) && !g.Authorized(info.Header.Get(Header)) {
		return ctx, ErrUnauthenticated
	}
	if slices.Contains(g.cfg.Unbounded, info.FullMethodName) {
		return ctx, nil
	}
	if !g.take() {
		return ctx, errBusy
	}
	// The stream's context ends when the call finishes, however it
	// finishes (status written, reset, connection lost, unknown method).
	sl := &slot{g: g}
	context.AfterFunc(ctx, sl.release)
	return ctx, nil
}
