package serve_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/serve/swaptest"
)

// TestSwapUnderLoadIntegration promotes 100 versions, and a corrupt one in
// the middle, through the registry and the real Kafka model topic while a
// fixed-rate load of 100k requests runs against the predictor over gRPC.
// Latency figures are recorded by bench/serve, not asserted here.
func TestSwapUnderLoadIntegration(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1, nil)
	store, err := lake.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := swaptest.DefaultConfig()
	cfg.Store, cfg.Brokers, cfg.Topic = store, brokers, topic
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := swaptest.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if n := rep.Baseline.Failed + rep.Swapping.Failed; n != 0 {
		t.Errorf("%d requests failed, e.g. %v", n, rep.Failures)
	}
	if rep.Baseline.Requests+rep.Swapping.Requests != cfg.Requests {
		t.Errorf("%d requests made, want %d", rep.Baseline.Requests+rep.Swapping.Requests, cfg.Requests)
	}
	if len(rep.Violations) != 0 {
		t.Errorf("responses from versions that were not serving: %v", rep.Violations)
	}
	if rep.CorruptServed != 0 {
		t.Errorf("the corrupt version answered %d requests", rep.CorruptServed)
	}
	// Every promoted version is swapped in, unless the alias had already
	// moved on when the predictor acted on its announcement (it resolves the
	// alias then, so a superseded version is rightly skipped: on a loaded
	// machine the swap lag can exceed the ~90ms between promotions). None
	// may be lost. (A version superseded within one fetch of the topic may
	// also answer no request before the next swap.)
	if len(rep.Missed) > 0 {
		t.Errorf("promoted versions never swapped in although nothing superseded them: %v", rep.Missed)
	}
	if rep.Promoted != cfg.Promotions || len(rep.SwapLag)+rep.Superseded != rep.Promoted || rep.Swaps != len(rep.SwapLag)+1 {
		t.Errorf("%d promoted, %d swapped in, %d superseded (%d swaps); want %d promoted, each swapped in or superseded",
			rep.Promoted, len(rep.SwapLag), rep.Superseded, rep.Swaps, cfg.Promotions)
	}
	if want := strconv.Itoa(cfg.Promotions + 1); rep.Final != want {
		t.Errorf("serving version %s at the end, want the last promoted, %s", rep.Final, want)
	}
}
