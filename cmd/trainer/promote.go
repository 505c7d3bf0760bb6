package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// announceFlags are the flags of the commands that move an alias: they
// announce the move on the model topic when brokers are given.
type announceFlags struct {
	brokers string
	topic   string
}

func (a *announceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.brokers, "kafka-brokers", "", "Kafka brokers: announce the move on the model topic so predictors load it at once (env LAKESTREAM_KAFKA_BROKERS)")
	fs.StringVar(&a.topic, "model-topic", model.DefaultModelTopic, "the model topic (env LAKESTREAM_MODEL_TOPIC)")
}

// announce publishes the move rec of model name, if brokers are configured.
func (a *announceFlags) announce(ctx context.Context, store lake.Store, lakeURI, name string, rec model.AliasRecord, stdout io.Writer) error {
	if a.brokers == "" {
		return nil
	}
	msg, err := model.NewAnnouncement(ctx, store, lakeURI, name, rec)
	if err != nil {
		return err
	}
	cfg := model.DefaultAnnounceConfig(strings.Split(a.brokers, ",")...)
	cfg.Topic = a.topic
	if err := model.Announce(ctx, cfg, msg); err != nil {
		return err
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
	cfg := evaltable.DefaultConfig()
	fs.StringVar(&cfg.Data, "data", "", "held-out table both versions are scored on (required unless --no-gate)")
	fs.StringVar(&cfg.Where, "where", "", "row filter on the held-out table, e.g. \"dt = '2026-11-04'\"")
	fs.StringVar(&cfg.DT, "dt", "", "dt partition day or range a..b of the held-out table")
	fs.BoolVar(&cfg.IncludeUncommitted, "include-uncommitted", false, "also read partitions without a _SUCCESS marker (skipped with a warning otherwise)")
	gate := model.Gate{Metric: "auc"}
	fs.Float64Var(&gate.Floor, "min-auc", model.DefaultMinAUC, "gate: the candidate's AUC must reach this floor")
	fs.Float64Var(&gate.Epsilon, "max-drop", model.DefaultMaxDrop, "gate: how far below the champion's AUC the candidate may be")
	noGate := fs.Bool("no-gate", false, "move the champion without evaluating (recorded as a manual promotion)")
	var ann announceFlags
	ann.register(fs)
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if !*noGate {
		if cfg.Data == "" {
			return &usageError{"models promote: --data is required (the held-out slice the gate scores both versions on), or pass --no-gate"}
		}
		if err := gate.Validate(); err != nil {
			return &usageError{err.Error()}
		}
		if err := checkSlice(cfg.Where, cfg.DT); err != nil {
			return err
		}
		cfg.Model = name // Validate wants a model; GateEvaluation sets the real ones
		if err := cfg.Validate(); err != nil {
			return &usageError{err.Error()}
		}
	}
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	if *noGate {
		_, rec, err := model.PromoteWithoutGate(ctx, store, name, version, "manual promotion (--no-gate): not evaluated")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s champion → version %d (manual, no gate)\n", name, version)
		return ann.announce(ctx, store, *uri, name, rec, stdout)
	}
	cfg.Logger = newLogger(os.Stderr)
	ev, err := evaltable.GateEvaluation(ctx, store, cfg, name, version)
	if errors.Is(err, evaltable.ErrAlreadyChampion) {
		fmt.Fprintf(stdout, "%s version %d is already the champion\n", name, version)
		return nil
	}
	if err != nil {
		return uncommittedHint(err)
	}
	d, rec, err := model.Promote(ctx, store, name, version, gate, ev)
	if err != nil {
		return err
	}
	if !d.Promoted {
		fmt.Fprintf(stdout, "%s version %d NOT promoted: %s\n", name, version, d.Reason)
		return &gateRejected{fmt.Sprintf("gate rejected %s version %d", name, version)}
	}
	fmt.Fprintf(stdout, "%s champion → version %d: %s\n", name, version, d.Reason)
	return ann.announce(ctx, store, *uri, name, rec, stdout)
}

// modelsRollback is "trainer models rollback NAME [VERSION]".
func modelsRollback(ctx context.Context, args []string, stdout io.Writer) error {
	var name string
	to := 0
	if wantsHelp(args) {
		args = []string{"-h"}
	} else if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return &usageError{"models rollback: want NAME [VERSION] (default: the version the alias designated before)"}
	} else {
		name, args = args[0], args[1:]
	}
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
	var name string
	switch {
	case wantsHelp(args):
		args = []string{"-h"}
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		return &usageError{"models retain: want NAME --keep N"}
	default:
		name, args = args[0], args[1:]
	}
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

// nameVersionArgs splits "NAME VERSION [flags]"; when the flags ask for
// help it returns just "-h" so the caller prints its usage.
func nameVersionArgs(cmd string, args []string) (string, int, []string, error) {
	if wantsHelp(args) {
		return "", 0, []string{"-h"}, nil
	}
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		return "", 0, nil, &usageError{fmt.Sprintf("models %s: want NAME VERSION [flags]", cmd)}
	}
	v, err := strconv.Atoi(args[1])
	if err != nil || v < 1 {
		return "", 0, nil, &usageError{fmt.Sprintf("models %s: version %q is not a version number", cmd, args[1])}
	}
	return args[0], v, args[2:], nil
}
