package kafkaretry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Policy bounds the retries of Do. The zero value is DefaultPolicy.
type Policy struct {
	// Timeout is the time after which the last error is returned.
	Timeout time.Duration
	// Backoff is the first wait; it doubles up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Rebalance also retries REBALANCE_IN_PROGRESS. Set it only for requests
	// that do not depend on a group generation (an admin offset commit or
	// fetch, a group description): a member's commit with a stale generation
	// must rejoin instead.
	Rebalance bool
}

// DefaultPolicy retries for up to a minute, waiting 20ms, 40ms, … up to 1s.
var DefaultPolicy = Policy{Timeout: time.Minute, Backoff: 20 * time.Millisecond, MaxBackoff: time.Second}

// Retriable reports whether err says the request may succeed if sent again
// unchanged: an error kerr marks retriable (COORDINATOR_NOT_AVAILABLE,
// COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR, NOT_LEADER_OR_FOLLOWER,
// LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT, …) or CONCURRENT_TRANSACTIONS.
// It looks through wrapping and kadm's ShardErrors.
//
// UNKNOWN_TOPIC_OR_PARTITION is not retried although kerr marks it
// retriable: far more often than a topic just created, it means a topic
// that does not exist, and the user should hear that at once, not after
// the timeout. Code that creates a topic waits for its leaders itself.
func Retriable(err error) bool {
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return false
	}
	return kerr.IsRetriable(err) || errors.Is(err, kerr.ConcurrentTransactions)
}

// Do calls fn until it returns nil or an error that is not retriable, the
// policy's timeout passes, or ctx is done; it returns fn's last error (or
// ctx's error while waiting).
func Do(ctx context.Context, fn func() error) error {
	return DefaultPolicy.Do(ctx, fn)
}

// Do is the package's Do under policy p.
func (p Policy) Do(ctx context.Context, fn func() error) error {
	d := DefaultPolicy
	if p.Timeout > 0 {
		d.Timeout = p.Timeout
	}
	if p.Backoff > 0 {
		d.Backoff = p.Backoff
	}
	if p.MaxBackoff > 0 {
		d.MaxBackoff = p.MaxBackoff
	}
	deadline := time.Now().Add(d.Timeout)
	backoff := d.Backoff
	for {
		err := fn()
		if err == nil || !(Retriable(err) || p.Rebalance && errors.Is(err, kerr.RebalanceInProgress)) {
			return err
		}
		if !time.Now().Add(backoff).Before(deadline) {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, d.MaxBackoff)
	}
}

// CreateTopic creates topic with partitions partitions and the broker's
// default replication unless it exists, retrying retriable answers as Do
// does. A topic that already exists is left as it is (its partition count
// included). It returns once the metadata lists every partition of the
// topic with a leader, so that a caller describing, producing to or reading
// the topic right after does not see it half created (a describe at once
// can list it with no partitions on a busy broker).
func CreateTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32) error {
	if err := Do(ctx, func() error {
		resp, err := adm.CreateTopic(ctx, partitions, -1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAlreadyExists) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	return Do(ctx, func() error {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return err
		}
		td, ok := md.Topics[topic]
		switch {
		case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) || len(td.Partitions) == 0:
			return fmt.Errorf("topic %s created but not yet in the metadata: %w", topic, kerr.LeaderNotAvailable)
		case td.Err != nil:
			return td.Err
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 {
				return fmt.Errorf("topic %s partition %d has no leader yet: %w", topic, p.Partition, kerr.LeaderNotAvailable)
			}
		}
		return nil
	})
}
