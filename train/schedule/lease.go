package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lakestream/lakestream/lake"
)

// Leases: one object per taking of an interval,
// runs/<job>/_leases/<interval>/<n>.json, created with lake.Create, so of
// the schedulers racing to take number n exactly one succeeds. The holder
// rewrites its own object to renew it; another scheduler may take number
// n+1 once number n has expired (or was released). A holder that finds
// number n+1 has lost the interval and stops before its next write: every
// record write is preceded by that check. Objects are never deleted, so
// numbers are never reused.

// leaseBody is the content of a lease object.
type leaseBody struct {
	Owner    string    `json:"owner"`
	Number   int       `json:"number"`
	Expires  time.Time `json:"expires"`
	Released bool      `json:"released,omitempty"`
}

type lease struct {
	store lake.Store
	clock Clock
	ttl   time.Duration
	job   string
	iv    string
	n     int // the lease's number, fixed

	// mu serializes renewals (the keeper goroutine) with release (the
	// attempt's goroutine) and guards body.
	mu   sync.Mutex
	body leaseBody
}

func leasePrefix(job, interval string) string {
	return RunsPrefix(job) + "_leases/" + interval + "/"
}

func leaseKey(job, interval string, n int) string {
	return fmt.Sprintf("%s%06d.json", leasePrefix(job, interval), n)
}

// acquire takes the interval's lease for owner. It returns errBusy when a
// live lease is held (by anyone, this process included) or another
// scheduler won the race for the next number.
func acquire(ctx context.Context, store lake.Store, clock Clock, ttl time.Duration, job, interval, owner string) (*lease, error) {
	if _, ok := store.(lake.Creator); !ok {
		return nil, fmt.Errorf("lease runs of job %s: the lake %T cannot create objects conditionally (lake.Creator)", job, store)
	}
	last, err := latestLease(ctx, store, job, interval)
	if err != nil {
		return nil, err
	}
	if last.Number > 0 && !last.Released && clock.Now().Before(last.Expires) {
		return nil, &BusyError{Job: job, Interval: interval, Owner: last.Owner, Expires: last.Expires}
	}
	l := &lease{store: store, clock: clock, ttl: ttl, job: job, iv: interval, n: last.Number + 1,
		body: leaseBody{Owner: owner, Number: last.Number + 1, Expires: clock.Now().Add(ttl)}}
	raw, _ := json.Marshal(l.body)
	if err := lake.Create(ctx, store, leaseKey(job, interval, l.n), raw); err != nil {
		if errors.Is(err, lake.ErrExist) {
			return nil, &BusyError{Job: job, Interval: interval, Owner: "another scheduler"}
		}
		return nil, fmt.Errorf("lease %s %s: %w", job, interval, err)
	}
	return l, nil
}

// latestLease returns the highest-numbered lease of the interval (Number 0
// when there is none).
func latestLease(ctx context.Context, store lake.Store, job, interval string) (leaseBody, error) {
	infos, err := lake.ListAll(ctx, store, leasePrefix(job, interval))
	if err != nil && !errors.Is(err, lake.ErrNotExist) {
		return leaseBody{}, fmt.Errorf("list leases of %s %s: %w", job, interval, err)
	}
	best := ""
	bestN := 0
	for _, in := range infos {
		name := strings.TrimSuffix(strings.TrimPrefix(in.Key, leasePrefix(job, interval)), ".json")
		if n, err := strconv.Atoi(name); err == nil && n > bestN {
			best, bestN = in.Key, n
		}
	}
	if bestN == 0 {
		return leaseBody{}, nil
	}
	raw, err := lake.ReadAll(ctx, store, best)
	if err != nil {
		return leaseBody{}, err
	}
	var b leaseBody
	if err := json.Unmarshal(raw, &b); err != nil {
		// A lease that cannot be read is treated as expired, so a corrupt
		// object cannot block the interval for ever.
		return leaseBody{Number: bestN}, nil
	}
	b.Number = bestN
	return b, nil
}

// check returns ErrLeaseLost if another scheduler has taken the interval
// over. A holder whose lease expired but was not taken over keeps it (a
// long pause is not a reason to throw a run away); the next renewal extends
// it again.
func (l *lease) check(ctx context.Context) error {
	_, err := l.store.Stat(ctx, leaseKey(l.job, l.iv, l.n+1))
	switch {
	case err == nil:
		return fmt.Errorf("%w: %s %s was taken over", ErrLeaseLost, l.job, l.iv)
	case errors.Is(err, lake.ErrNotExist):
		return nil
	}
	return fmt.Errorf("check lease of %s %s: %w", l.job, l.iv, err)
}

// renew extends the lease by its ttl; a released lease stays released.
func (l *lease) renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.body.Released {
		return nil
	}
	if err := l.check(ctx); err != nil {
		return err
	}
	b := l.body
	b.Expires = l.clock.Now().Add(l.ttl)
	if err := l.put(ctx, b); err != nil {
		return err
	}
	l.body = b
	return nil
}

// release ends the lease so another scheduler may take the interval at once.
func (l *lease) release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(ctx); err != nil {
		return err
	}
	b := l.body
	b.Released, b.Expires = true, l.clock.Now()
	if err := l.put(ctx, b); err != nil {
		return err
	}
	l.body = b
	return nil
}

func (l *lease) put(ctx context.Context, b leaseBody) error {
	raw, _ := json.Marshal(b)
	if err := lake.PutBytes(ctx, l.store, leaseKey(l.job, l.iv, b.Number), raw); err != nil {
		return fmt.Errorf("renew lease of %s %s: %w", l.job, l.iv, err)
	}
	return nil
}

// keep renews the lease every third of its ttl until ctx is done, and calls
// lost when it cannot (taken over, or not renewed in time).
func (l *lease) keep(ctx context.Context, lost func(error)) {
	for {
		if err := l.clock.Sleep(ctx, l.ttl/3); err != nil {
			return
		}
		err := l.renew(ctx)
		if err == nil {
			continue
		}
		if errors.Is(err, ErrLeaseLost) {
			lost(err)
			return
		}
		// A failed renewal (the lake unreachable) is retried at the next
		// period; once the lease has expired another scheduler may take the
		// run over, which the next check sees.
	}
}
