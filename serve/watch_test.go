package serve

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
)

// chanAnnouncements delivers announcements from a channel.
type chanAnnouncements chan Announcement

func (c chanAnnouncements) Next(ctx context.Context) (Announcement, error) {
	select {
	case a := <-c:
		return a, nil
	case <-ctx.Done():
		return Announcement{}, ctx.Err()
	}
}

func waitServed(t *testing.T, e *Engine, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.Served(name) != want {
		if time.Now().After(deadline) {
			t.Fatalf("served %q, want %q after 10s", e.Served(name), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWatchFollowsAnnouncementsAndPolls(t *testing.T) {
	l := &fakeLoader{champion: "1"}
	e, _ := NewEngine(l, []ModelRef{{Name: "ctr"}, {Name: "pinned", Ref: "5"}})
	ctx, cancel := context.WithCancel(context.Background())
	if err := e.RefreshAll(ctx); err != nil {
		t.Fatal(err)
	}
	ann := make(chanAnnouncements)
	done := make(chan error)
	go func() { done <- Watch(ctx, e, WatchConfig{Poll: 50 * time.Millisecond, Announcements: ann}) }()

	// An announcement makes the engine read the registry at once.
	l.setChampion("2")
	ann <- Announcement{Name: "ctr", Alias: "champion", Version: 2}
	waitServed(t, e, "ctr", "2")
	// Announcements for other aliases or models leave the slot alone.
	ann <- Announcement{Name: "pinned", Alias: "champion", Version: 9}
	ann <- Announcement{Name: "ctr", Alias: "challenger", Version: 7}
	// The poll converges on what the registry says.
	l.setChampion("3")
	waitServed(t, e, "ctr", "3")
	if got := e.Served("pinned"); got != "5" {
		t.Errorf("pinned model serves %q, want 5", got)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Watch returned %v, want context.Canceled", err)
	}
}

func TestKafkaAnnouncementsIntegration(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old, _ := json.Marshal(Announcement{Name: "ctr", Alias: "champion", Version: 1})
	kafkatest.Produce(t, brokers, topic, &kgo.Record{Topic: topic, Value: old})

	ka, err := NewKafkaAnnouncements(ctx, topic, kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	// Announcements made before the reader started are not replayed;
	// everything after is read, and garbage is skipped.
	want := Announcement{Name: "ctr", Alias: "champion", Version: 4, Checksum: "sha256:00", Time: time.Unix(1700000000, 0).UTC()}
	val, _ := json.Marshal(want)
	kafkatest.Produce(t, brokers, topic, &kgo.Record{Topic: topic, Value: []byte("not json")}, &kgo.Record{Topic: topic, Value: val})
	a, err := ka.Next(ctx)
	if err != nil {
		t.Fatalf("no announcement read from the real broker: %v", err)
	}
	if a.Name != want.Name || a.Version != want.Version || a.Alias != want.Alias || !a.Time.Equal(want.Time) || a.Checksum != want.Checksum {
		t.Fatalf("got %+v, want %+v", a, want)
	}
}

// TestRetryingAnnouncementsWaitsForTheBroker: with no broker, Next keeps
// retrying until its context ends instead of failing the watch.
func TestRetryingAnnouncementsWaitsForTheBroker(t *testing.T) {
	// 127.0.0.1:1 refuses connections at once.
	r := NewRetryingAnnouncements("models", 20*time.Millisecond, kgo.SeedBrokers("127.0.0.1:1"), kgo.RetryTimeout(100*time.Millisecond))
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.Next(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Next = %v, want the context's deadline", err)
	}
	if time.Since(start) < 400*time.Millisecond {
		t.Errorf("Next gave up after %v, before its context ended", time.Since(start))
	}
}
