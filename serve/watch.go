package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/model"
)

// Announcement is the message on the model topic: an alias of a model now
// designates a version.
type Announcement = model.Announcement

// Announcements delivers announcements in order.
type Announcements interface {
	// Next blocks until an announcement, ctx done, or a fatal error.
	Next(ctx context.Context) (Announcement, error)
}

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Poll is how often the lake is polled for moved references, as a
	// fallback when announcements are lost. Default 30s; 0 keeps the default,
	// a negative value disables polling.
	Poll time.Duration
	// Announcements, when set, triggers loads as soon as a promotion is
	// announced.
	Announcements Announcements
	// OnChange is called after every refresh attempt (the service updates
	// its health from it).
	OnChange func()
}

// Watch keeps e current until ctx ends: it polls every cfg.Poll and follows
// cfg.Announcements. Load failures are logged and counted by the engine and
// do not stop the watch. It returns ctx's error.
func Watch(ctx context.Context, e *Engine, cfg WatchConfig) error {
	if cfg.Poll == 0 {
		cfg.Poll = 30 * time.Second
	}
	changed := func() {
		if cfg.OnChange != nil {
			cfg.OnChange()
		}
	}
	// The announcement reader is owned by Watch: it ends with ctx, and Watch
	// waits for it before returning.
	var readers sync.WaitGroup
	defer readers.Wait()
	if cfg.Announcements != nil {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				a, err := cfg.Announcements.Next(ctx)
				if err != nil {
					if ctx.Err() == nil {
						e.log.Error("model topic watch stopped; relying on polling", "err", err)
					}
					return
				}
				if err := e.Offer(ctx, a.Name, a.Alias); err != nil {
					e.log.Warn("announced version not served", "model", a.Name, "version", a.Version, "err", err)
				}
				changed()
			}
		}()
	}
	if cfg.Poll < 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := e.RefreshAll(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("poll of the model registry", "err", err)
			}
			changed()
		}
	}
}

// KafkaAnnouncements reads announcements from a model topic with franz-go.
// Every predictor reads the topic from where it ended at start-up, with no
// consumer group: each one needs every announcement made while it runs, and
// what came before is covered by the initial RefreshAll.
type KafkaAnnouncements struct {
	cl      *kgo.Client
	pending []Announcement
	log     *slog.Logger
}

// NewKafkaAnnouncements consumes topic from its current end through a client
// made with opts (at least kgo.SeedBrokers): it looks the end offsets up
// before returning, so every announcement produced after it returns is read.
// Partitions added to the topic later are not followed; model topics should
// have one partition, which also keeps announcements in order. Close
// releases the client.
func NewKafkaAnnouncements(ctx context.Context, topic string, opts ...kgo.Opt) (*KafkaAnnouncements, error) {
	admin, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("model topic %s: %w", topic, err)
	}
	adm := kadm.NewClient(admin)
	err = model.EnsureModelTopic(ctx, adm, topic)
	var ends kadm.ListedOffsets
	if err == nil {
		err = kafkaretry.Do(ctx, func() error {
			var err error
			if ends, err = adm.ListEndOffsets(ctx, topic); err == nil {
				err = ends.Error()
			}
			return err
		})
	}
	admin.Close()
	if err != nil {
		return nil, fmt.Errorf("model topic %s: look up its end: %w", topic, err)
	}
	start := map[string]map[int32]kgo.Offset{topic: {}}
	ends.Each(func(o kadm.ListedOffset) { start[topic][o.Partition] = kgo.NewOffset().At(o.Offset) })
	if len(start[topic]) == 0 {
		return nil, fmt.Errorf("model topic %s has no partitions (create it first)", topic)
	}
	opts = append(opts, kgo.ConsumePartitions(start), kgo.FetchMaxWait(100*time.Millisecond))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("model topic %s: %w", topic, err)
	}
	return &KafkaAnnouncements{cl: cl, log: slog.Default()}, nil
}

// Next implements Announcements. Messages that are not announcements are
// logged and skipped.
func (k *KafkaAnnouncements) Next(ctx context.Context) (Announcement, error) {
	for len(k.pending) == 0 {
		fs := k.cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return Announcement{}, err
		}
		if fs.IsClientClosed() {
			return Announcement{}, errors.New("model topic client closed")
		}
		fs.EachError(func(t string, p int32, err error) {
			k.log.Warn("model topic fetch", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			var a Announcement
			if err := json.Unmarshal(r.Value, &a); err != nil || a.Name == "" || a.Version < 1 {
				k.log.Warn("skipping a model topic message that is not an announcement", "partition", r.Partition, "offset", r.Offset, "err", err)
				return
			}
			k.pending = append(k.pending, a)
		})
	}
	a := k.pending[0]
	k.pending = k.pending[1:]
	return a, nil
}

// Close stops consuming.
func (k *KafkaAnnouncements) Close() { k.cl.Close() }

// RetryingAnnouncements connects to the model topic on first use and keeps
// retrying, every retry, until it can; so a predictor started while Kafka is
// down serves by polling and picks up announcements once Kafka is back.
// Announcements made while it was not connected are covered by polling.
type RetryingAnnouncements struct {
	topic string
	opts  []kgo.Opt
	retry time.Duration
	log   *slog.Logger

	mu  sync.Mutex // guards cur against Close during Next's connection attempts
	cur *KafkaAnnouncements
}

// NewRetryingAnnouncements returns announcements from topic through clients
// made with opts, connecting lazily (see RetryingAnnouncements).
func NewRetryingAnnouncements(topic string, retry time.Duration, opts ...kgo.Opt) *RetryingAnnouncements {
	return &RetryingAnnouncements{topic: topic, opts: opts, retry: retry, log: slog.Default()}
}

// Next implements Announcements.
func (r *RetryingAnnouncements) Next(ctx context.Context) (Announcement, error) {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	for cur == nil {
		k, err := NewKafkaAnnouncements(ctx, r.topic, r.opts...)
		if err == nil {
			r.mu.Lock()
			r.cur, cur = k, k
			r.mu.Unlock()
			r.log.Info("following the model topic", "topic", r.topic)
			break
		}
		if ctx.Err() != nil {
			return Announcement{}, ctx.Err()
		}
		r.log.Warn("model topic unavailable; new versions are found by polling until it is back", "topic", r.topic, "retry", r.retry, "err", err)
		select {
		case <-ctx.Done():
			return Announcement{}, ctx.Err()
		case <-time.After(r.retry):
		}
	}
	return cur.Next(ctx)
}

// Close releases the client, if one was made.
func (r *RetryingAnnouncements) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.Close()
	}
}
