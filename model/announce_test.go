package model_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
	"github.com/lakestream/lakestream/model"
)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		ref, name, at, err string
	}{
		{"ctr", "ctr", "", ""},
		{"ctr@3", "ctr", "3", ""},
		{"ctr@champion", "ctr", "champion", ""},
		{"ctr@0", "", "", "versions start at 1"},
		{"ctr@Bad!", "", "", "alias"},
		{"a/b", "", "", "model name"},
		{"@3", "", "", "model name"},
	} {
		name, at, err := model.ParseRef(tc.ref)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseRef(%q) = %q, %q, %v; want an error containing %q", tc.ref, name, at, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || at != tc.at {
			t.Errorf("ParseRef(%q) = %q, %q, %v; want %q, %q", tc.ref, name, at, err, tc.name, tc.at)
		}
	}
}

func TestPromoteWithoutGateAndResolveRef(t *testing.T) {
	ctx := context.Background()
	store := laketest.NewMemory()
	saveVersions(t, store, 2)
	d, rec, err := model.PromoteWithoutGate(ctx, store, "ctr", 2, "")
	if err != nil || !d.Promoted || rec.Version != 2 || rec.Decision == nil || !math.IsNaN(rec.Decision.Evaluation.Candidate) {
		t.Fatalf("PromoteWithoutGate: %+v, %+v, %v", d, rec, err)
	}
	raw, err := lake.ReadAll(ctx, store, model.DecisionKey("ctr", 2))
	if err != nil || !strings.Contains(string(raw), "manual promotion") {
		t.Fatalf("recorded decision: %s, %v", raw, err)
	}
	if _, _, err := model.PromoteWithoutGate(ctx, store, "ctr", 9, ""); err == nil {
		t.Fatal("a missing version was promoted")
	}
	for ref, want := range map[string]int{"ctr": 0, "ctr@1": 1, "ctr@champion": 2} {
		if name, v, err := model.ResolveRef(ctx, store, ref); err != nil || name != "ctr" || v != want {
			t.Errorf("ResolveRef(%q) = %q, %d, %v; want ctr, %d", ref, name, v, err, want)
		}
	}
	if _, _, err := model.ResolveRef(ctx, store, "ctr@challenger"); err == nil {
		t.Error("an unset alias resolved")
	}
}

func TestAnnounceIntegration(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Name(t, "models") // Announce creates it
	ctx := context.Background()
	store := laketest.NewMemory()
	saveVersions(t, store, 1)
	_, rec, err := model.PromoteWithoutGate(ctx, store, "ctr", 1, "")
	if err != nil {
		t.Fatal(err)
	}
	a, err := model.NewAnnouncement(ctx, store, "s3://bucket/lake/", "ctr", rec)
	if err != nil {
		t.Fatal(err)
	}
	if a.Location != "s3://bucket/lake/models/ctr/1/" || !strings.HasPrefix(a.Checksum, "sha256:") || a.Alias != model.Champion {
		t.Fatalf("announcement: %+v", a)
	}
	cfg := model.DefaultAnnounceConfig(brokers...)
	cfg.Topic = topic
	if err := model.Announce(ctx, cfg, a); err != nil {
		t.Fatal(err)
	}
	recs := kafkatest.ReadAll(t, brokers, topic, false)
	if len(recs) != 1 || string(recs[0].Key) != "ctr" {
		t.Fatalf("model topic holds %d records", len(recs))
	}
	var got model.Announcement
	if err := json.Unmarshal(recs[0].Value, &got); err != nil || got.Version != 1 || got.Checksum != a.Checksum {
		t.Fatalf("announced %s: %v", recs[0].Value, err)
	}
	if err := model.Announce(ctx, model.AnnounceConfig{Topic: topic}, a); err == nil {
		t.Fatal("no brokers accepted")
	}
}
