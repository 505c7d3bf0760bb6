package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/publish"
)

// promoteFlags are the flags of a bounded job's publish step: --promote with
// the gate's --min-auc and --max-drop and the announcement's --kafka-brokers
// and --model-topic. "trainer train" and the coordinating "trainer ps" take
// them.
type promoteFlags struct {
	promote bool
	gate    model.Gate
	ann     announceFlags
}

func (p *promoteFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&p.promote, "promote", false, "judge the saved version with the gate on the --validation-dt days (against the champion, when there is one) and make it the champion when it passes; exit code 3 when the gate refuses it (needs --output and --validation-dt)")
	p.gate = model.Gate{Metric: "auc"}
	fs.Float64Var(&p.gate.Floor, "min-auc", model.DefaultMinAUC, "with --promote, gate: the version's AUC must reach this floor")
	fs.Float64Var(&p.gate.Epsilon, "max-drop", model.DefaultMaxDrop, "with --promote, gate: how far below the champion's AUC the version may be")
	p.ann.register(fs)
}

// check refuses the gate's and the announcement's flags on the command line
// without --promote (--kafka-brokers also comes from the environment for
// every command: only a flag on the command line is refused). cmd names
// the command in the message.
func (p *promoteFlags) check(args []string, cmd string) error {
	if p.promote {
		return nil
	}
	for _, name := range []string{"min-auc", "max-drop", "kafka-brokers", "model-topic"} {
		if onCommandLine(args, name) {
			return &usageError{fmt.Sprintf("--%s applies with --promote (%s saves the version without judging it otherwise; trainer models promote judges it later)", name, cmd)}
		}
	}
	return nil
}

// promotion returns the job's publish settings, nil without --promote.
func (p *promoteFlags) promotion(j *trainJob) *job.Promotion {
	if !p.promote {
		return nil
	}
	pr := &job.Promotion{Gate: p.gate}
	if p.ann.brokers != "" {
		pr.Announce = func(ctx context.Context, rec model.AliasRecord) error {
			store, err := lake.Open(ctx, j.lakeURI)
			if err != nil {
				return err
			}
			return p.ann.announce(ctx, store, j.lakeURI, j.output, rec, io.Discard)
		}
	}
	return pr
}

// report prints the gate's decision on v, and returns a *gateRejected when
// it refused the version (exit code 3) or an error when it could not judge
// it. It prints nothing without --promote.
func (p *promoteFlags) report(stdout io.Writer, output string, v *publish.Version) error {
	if v == nil || !p.promote {
		return nil
	}
	switch {
	case v.Error != "":
		return fmt.Errorf("models/%s/%d saved but not judged: %s", output, v.Version, v.Error)
	case !v.Decision.Promoted:
		fmt.Fprintf(stdout, "%s version %d NOT promoted: %s\n", output, v.Version, v.Decision.Reason)
		return &gateRejected{fmt.Sprintf("gate rejected %s version %d", output, v.Version)}
	}
	fmt.Fprintf(stdout, "%s champion → version %d: %s\n", output, v.Version, v.Decision.Reason)
	if v.Announced {
		fmt.Fprintf(stdout, "announced on %s\n", p.ann.topic)
	}
	return nil
}
