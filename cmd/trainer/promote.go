package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/serve"
)

// announceFlags are the flags of the commands that move an alias: they
// announce the move on the model topic when brokers are given.
type announceFlags struct {
	brokers string
	topic   string
}

func (a *announceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.brokers, "kafka-brokers", "", "Kafka brokers: announce the move on the model topic so predictors load it at once (env LAKESTREAM_KAFKA_BROKERS)")
	fs.StringVar(&a.topic, "model-topic", "lakestream.models", "the model topic (env LAKESTREAM_MODEL_TOPIC)")
}

// announce writes one announcement of rec to the model topic, if brokers
// are configured. The checksum is the SHA-256 of the version's manifest,
// which itself holds the checksum of every file.
func (a *announceFlags) announce(ctx context.Context, store lake.Store, lakeURI, name string, rec model.AliasRecord, stdout io.Writer) error {
	if a.brokers == "" {
		return nil
	}
	key := model.VersionPrefix(name, rec.Version) + model.ManifestFile
	raw, err := lake.ReadAll(ctx, store, key)
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	var mf model.Manifest
	if err := json.Unmarshal(raw, &mf); err != nil {
		return fmt.Errorf("announce: %s: %w", key, err)
	}
	sum := sha256.Sum256(raw)
	msg, err := json.Marshal(model.Announcement{
		Name: name, Alias: rec.Alias, Version: rec.Version,
		Location: strings.TrimSuffix(lakeURI, "/") + "/" + model.VersionPrefix(name, rec.Version),
		Checksum: "sha256:" + hex.EncodeToString(sum[:]),
		Metrics:  mf.Meta.Metrics, Time: time.Now().UTC(),
	})
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(a.brokers, ",")...), kgo.DefaultProduceTopic(a.topic))
	if err != nil {
		return fmt.Errorf("--kafka-brokers: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := serve.EnsureModelTopic(ctx, kadm.NewClient(cl), a.topic); err != nil {
		return fmt.Errorf("announce: %w (the alias has moved; predictors will see it at their next poll)", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(name), Value: msg}).FirstErr(); err != nil {
		return fmt.Errorf("announce %s@%s=%d on topic %s: %w (the alias has moved; predictors will see it at their next poll)", name, rec.Alias, rec.Version, a.topic, err)
	}
	fmt.Fprintf(stdout, "announced on %s\n", a.topic)
	return nil
}

// modelsPromote is "trainer models promote NAME VERSION": it scores the
// candidate and the current champion on the same held-out slice, applies the
// gate, records the decision, and moves the champion alias when it passes.
func modelsPromote(ctx context.Context, args []string, stdout io.Writer) error {
	name, version, args, err := nameVersionArgs("promote", args)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("models promote", flag.ContinueOnError)
	uri := lakeFlag(fs)
	data := fs.String("data", "", "held-out table both versions are scored on (required unless --no-gate)")
	where := fs.String("where", "", "row filter on the held-out table, e.g. \"dt = '2026-11-04'\"")
	dt := fs.String("dt", "", "dt partition day or range a..b of the held-out table")
	floor := fs.Float64("min-auc", 0.5, "gate: the candidate's AUC must reach this floor")
	epsilon := fs.Float64("max-drop", 0.002, "gate: how far below the champion's AUC the candidate may be")
	noGate := fs.Bool("no-gate", false, "move the champion without evaluating (recorded as a manual promotion)")
	var ann announceFlags
	ann.register(fs)
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	if *noGate {
		d := model.Decision{Candidate: version, Promoted: true, Reason: "manual promotion (--no-gate): not evaluated", Time: time.Now().UTC(),
			Evaluation: model.Evaluation{Champion: math.NaN(), Candidate: math.NaN()}}
		raw, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return err
		}
		if err := lake.PutBytes(ctx, store, model.DecisionKey(name, version), raw); err != nil {
			return fmt.Errorf("record the manual promotion of %s version %d: %w", name, version, err)
		}
		rec, err := model.SetAlias(ctx, store, name, model.Champion, version, &d)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s champion → version %d (manual, no gate)\n", name, version)
		return ann.announce(ctx, store, *uri, name, rec, stdout)
	}
	if *data == "" {
		return &usageError{"models promote: --data is required (the held-out slice the gate scores both versions on), or pass --no-gate"}
	}
	gate := model.Gate{Metric: "auc", Floor: *floor, Epsilon: *epsilon}
	if err := gate.Validate(); err != nil {
		return &usageError{err.Error()}
	}
	slice := *data
	if *where != "" {
		slice += " where " + *where
	}
	if *dt != "" {
		slice += " dt=" + *dt
	}
	ev := model.Evaluation{Slice: slice, Champion: math.NaN()}
	candidateRef := name + "@" + strconv.Itoa(version)
	job := &evalJob{lakeURI: *uri, data: *data, where: *where, dt: *dt, binary: eval.DefaultBinaryConfig(),
		boot: eval.DefaultBootstrapConfig(), batchSize: 8192, now: time.Now}
	job.binary.KeepScores = true
	champ, err := model.Alias(ctx, store, name, model.Champion)
	switch {
	case err == nil && champ.Version != version:
		job.modelRef, job.challengerRef = name+"@"+strconv.Itoa(champ.Version), candidateRef
		rep, err := job.execute(ctx)
		if err != nil {
			return err
		}
		ev.Champion, ev.ChampionVersion = rep.Comparison.ChampionAUC, champ.Version
		ev.Candidate = rep.Comparison.ChallengerAUC
	case err == nil:
		fmt.Fprintf(stdout, "%s version %d is already the champion\n", name, version)
		return nil
	case errors.Is(err, model.ErrNotFound):
		job.modelRef = candidateRef
		rep, err := job.execute(ctx)
		if err != nil {
			return err
		}
		if rep.Binary == nil {
			return fmt.Errorf("models promote: the gate needs a binary model's AUC; %s has none", candidateRef)
		}
		ev.Candidate = rep.Binary.AUC
	default:
		return err
	}
	d, rec, err := model.Promote(ctx, store, name, version, gate, ev)
	if err != nil {
		return err
	}
	if !d.Promoted {
		fmt.Fprintf(stdout, "%s version %d NOT promoted: %s\n", name, version, d.Reason)
		return fmt.Errorf("gate rejected %s version %d", name, version)
	}
	fmt.Fprintf(stdout, "%s champion → version %d: %s\n", name, version, d.Reason)
	return ann.announce(ctx, store, *uri, name, rec, stdout)
}

// modelsRollback is "trainer models rollback NAME [VERSION]".
func modelsRollback(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return &usageError{"models rollback: want NAME [VERSION] (default: the version the alias designated before)"}
	}
	name, args := args[0], args[1:]
	to := 0
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 {
			return &usageError{fmt.Sprintf("models rollback: version %q is not a version number", args[0])}
		}
		to, args = v, args[1:]
	}
	fs := flag.NewFlagSet("models rollback", flag.ContinueOnError)
	uri := lakeFlag(fs)
	alias := fs.String("alias", model.Champion, "the alias to move back")
	var ann announceFlags
	ann.register(fs)
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	rec, err := model.Rollback(ctx, store, name, *alias, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s → version %d\n", name, *alias, rec.Version)
	return ann.announce(ctx, store, *uri, name, rec, stdout)
}

// modelsRetain is "trainer models retain NAME --keep N".
func modelsRetain(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return &usageError{"models retain: want NAME --keep N"}
	}
	name, args := args[0], args[1:]
	fs := flag.NewFlagSet("models retain", flag.ContinueOnError)
	uri := lakeFlag(fs)
	keep := fs.Int("keep", 10, "newest versions to keep (versions an alias designates or remembers are always kept)")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	deleted, err := model.Retain(ctx, store, name, *keep)
	fmt.Fprintf(stdout, "%s: deleted versions %v\n", name, deleted)
	return err
}

func nameVersionArgs(cmd string, args []string) (string, int, []string, error) {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		return "", 0, nil, &usageError{fmt.Sprintf("models %s: want NAME VERSION [flags]", cmd)}
	}
	v, err := strconv.Atoi(args[1])
	if err != nil || v < 1 {
		return "", 0, nil, &usageError{fmt.Sprintf("models %s: version %q is not a version number", cmd, args[1])}
	}
	return args[0], v, args[2:], nil
}
