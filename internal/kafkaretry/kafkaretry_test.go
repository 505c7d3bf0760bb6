package kafkaretry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestRetriable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{kerr.CoordinatorNotAvailable, true},
		{kerr.CoordinatorLoadInProgress, true},
		{kerr.NotCoordinator, true},
		{kerr.NotLeaderForPartition, true},
		{kerr.LeaderNotAvailable, true},
		{kerr.ConcurrentTransactions, true},
		{fmt.Errorf("unable to fetch offsets: %w", kerr.CoordinatorNotAvailable), true},
		{&kadm.ShardErrors{Name: "list offsets", Errs: []kadm.ShardError{{Err: kerr.NotLeaderForPartition}}}, true},
		{kerr.RebalanceInProgress, false},     // only with Policy.Rebalance
		{kerr.UnknownTopicOrPartition, false}, // a missing topic is reported at once
		{kerr.TopicAuthorizationFailed, false},
		{kerr.InvalidProducerEpoch, false},
		{kerr.ProducerFenced, false},
		{errors.New("dial tcp: connection refused"), false},
	} {
		if got := Retriable(tc.err); got != tc.want {
			t.Errorf("Retriable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// fast keeps the unit tests quick; the bound logic is the same at any scale.
var fast = Policy{Timeout: 200 * time.Millisecond, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func TestDoRetriesUntilSuccess(t *testing.T) {
	calls := 0
	err := fast.Do(context.Background(), func() error {
		calls++
		if calls < 4 {
			return fmt.Errorf("fetch: %w", kerr.CoordinatorLoadInProgress)
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("Do = %v after %d calls, want nil after 4", err, calls)
	}
}

func TestDoStopsOnPermanentError(t *testing.T) {
	calls := 0
	err := fast.Do(context.Background(), func() error {
		calls++
		return kerr.TopicAuthorizationFailed
	})
	if !errors.Is(err, kerr.TopicAuthorizationFailed) || calls != 1 {
		t.Fatalf("Do = %v after %d calls, want the error after 1", err, calls)
	}
}

func TestDoIsBounded(t *testing.T) {
	calls := 0
	start := time.Now()
	err := fast.Do(context.Background(), func() error {
		calls++
		return kerr.CoordinatorNotAvailable
	})
	if !errors.Is(err, kerr.CoordinatorNotAvailable) || calls < 2 {
		t.Fatalf("Do = %v after %d calls, want the last retriable error after retries", err, calls)
	}
	// The policy's timeout is 200ms; a second is far beyond any scheduling
	// delay and far below "forever".
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Do took %v with a 200ms bound", d)
	}
}

func TestDoRebalanceOnlyWhenAsked(t *testing.T) {
	for _, rebalance := range []bool{false, true} {
		p := fast
		p.Rebalance = rebalance
		calls := 0
		err := p.Do(context.Background(), func() error {
			calls++
			if calls < 3 {
				return kerr.RebalanceInProgress
			}
			return nil
		})
		if rebalance && (err != nil || calls != 3) || !rebalance && (!errors.Is(err, kerr.RebalanceInProgress) || calls != 1) {
			t.Errorf("Rebalance=%v: Do = %v after %d calls", rebalance, err, calls)
		}
	}
}

func TestDoStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Policy{Timeout: time.Hour, Backoff: time.Millisecond}.Do(ctx, func() error {
		calls++
		if calls == 2 {
			cancel()
		}
		return kerr.NotCoordinator
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
}
