package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/model/modeltest"
)

// TestModelsPromoteGateRollbackIntegration drives the registry commands as
// a scheduler would: the gate promotes a good first version, refuses a worse
// one, promotes a better one and announces it on the real model topic, and
// rollback returns to the previous champion.
func TestModelsPromoteGateRollbackIntegration(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Topic(t, brokers, 1, nil)
	lakeDir, _ := writeHeldOut(t, 3000)
	ctx := context.Background()
	store, err := lake.NewLocal(lakeDir)
	if err != nil {
		t.Fatal(err)
	}
	modeltest.SaveLogistic(t, store, "ctr", 1, 0)    // v1: sees x1
	modeltest.SaveLogistic(t, store, "ctr", 1, -0.3) // v2: worse than v1, above the floor
	modeltest.SaveLogistic(t, store, "ctr", 1, 1)    // v3: the true model
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := dispatch(ctx, append([]string{"models"}, args...), &out, &out)
		return out.String(), err
	}
	common := []string{"--lake", lakeDir, "--data", "heldout", "--min-auc", "0.6", "--max-drop", "0.001"}

	out, err := run(append([]string{"promote", "ctr", "1"}, common...)...)
	if err != nil || !strings.Contains(out, "no champion") {
		t.Fatalf("first promotion: %v\n%s", err, out)
	}
	out, err = run(append([]string{"promote", "ctr", "2"}, common...)...)
	if err == nil || !strings.Contains(out, "NOT promoted") || !strings.Contains(out, "worse than champion") {
		t.Fatalf("worse version promoted: %v\n%s", err, out)
	}
	if v, _ := model.Resolve(ctx, store, "ctr", model.Champion); v != 1 {
		t.Fatalf("champion = %d after a refused promotion, want 1", v)
	}
	var d model.Decision
	raw, err := lake.ReadAll(ctx, store, model.DecisionKey("ctr", 2))
	if err != nil || json.Unmarshal(raw, &d) != nil || d.Promoted || d.Evaluation.ChampionVersion != 1 || !(d.Evaluation.Candidate < d.Evaluation.Champion) {
		t.Fatalf("recorded decision for v2: %+v, %v", d, err)
	}

	reader, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	out, err = run(append([]string{"promote", "ctr", "3", "--kafka-brokers", strings.Join(brokers, ","), "--model-topic", topic}, common...)...)
	if err != nil || !strings.Contains(out, "announced") {
		t.Fatalf("better version: %v\n%s", err, out)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var ann model.Announcement
	for ann.Version == 0 {
		fs := reader.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatal("no announcement on the model topic")
		}
		fs.EachRecord(func(r *kgo.Record) { json.Unmarshal(r.Value, &ann) })
	}
	if ann.Name != "ctr" || ann.Alias != model.Champion || ann.Version != 3 || !strings.HasPrefix(ann.Checksum, "sha256:") {
		t.Errorf("announcement %+v", ann)
	}
	out, err = run("list", "--lake", lakeDir)
	if err != nil || !strings.Contains(out, "champion=3") {
		t.Errorf("models list does not show the champion: %v\n%s", err, out)
	}
	out, err = run("show", "ctr@3", "--lake", lakeDir)
	if err != nil || !strings.Contains(out, "aliases") || !strings.Contains(out, "champion") {
		t.Errorf("models show does not show the alias: %v\n%s", err, out)
	}
	out, err = run("rollback", "ctr", "--lake", lakeDir)
	if err != nil || !strings.Contains(out, "champion → version 1") {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	if _, err := run("promote", "ctr", "3", "--lake", lakeDir); err == nil {
		t.Error("promote without --data or --no-gate was accepted")
	}
	// A manual promotion is recorded as one.
	if out, err := run("promote", "ctr", "2", "--lake", lakeDir, "--no-gate"); err != nil {
		t.Fatalf("manual promotion: %v\n%s", err, out)
	}
	raw, err = lake.ReadAll(ctx, store, model.DecisionKey("ctr", 2))
	var manual model.Decision
	if err != nil || json.Unmarshal(raw, &manual) != nil || !manual.Promoted || !strings.Contains(manual.Reason, "manual") {
		t.Errorf("manual promotion recorded as %s, %v", raw, err)
	}
}
