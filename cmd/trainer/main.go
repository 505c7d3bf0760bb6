package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lakestream/lakestream/internal/cliconfig"
)

// command is one trainer subcommand. run receives the arguments after the
// subcommand name and writes user-facing output to stdout.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

// commands lists every subcommand in the order "trainer help" shows them.
// Each lives in a file named after it.
var commands = []command{
	// Subcommands are added here, one line each.
	{"quickstart", "generate a click-log lake, train LR and FM, evaluate and save them (no services needed)", runQuickstart},
	{"setup", "prepare S3 and Kafka for the examples: create the bucket, upload a local lake, create the topics", runSetup},
	{"train", "train a model on a Parquet table in the lake", runTrain},
	{"stream", "train continuously on a Kafka topic of JSON rows: prequential metrics, a version through the gate every --publish-every", runStream},
	{"produce", "write the rows of a lake table to a Kafka topic as JSON (replay days into a stream)", runProduce},
	{"models", "the model registry: list | show NAME[@VERSION] | promote NAME VERSION | rollback NAME [VERSION] | retain NAME", runModels},
	{"predict", "score a lake table with a model version and write the scores to the lake as Parquet, partitioned like the input", runPredict},
	{"eval", "evaluate a model (or champion vs challenger) on a held-out table: report.json and plots", runEval},
	{"ps", "serve one parameter-server shard (--shard i/n); shard 0 can coordinate the job's workers", runPS},
	{"worker", "join a distributed training job against the ps shards: the coordinator's Parquet splits, with --topic the Kafka partitions its consumer group assigns (at-least-once), or with --topic --coordinator --worker-index fixed partitions of an exactly-once stream job", runWorker},
	{"console", "serve the model registry and jobs as a web page and a REST API (read-only unless --allow-writes)", runConsole},
	{"schedule", "scheduled retraining from a YAML file of jobs: serve | run JOB --interval ID | backfill JOB --from --to | status [JOB]", runSchedule},
	{"scan", "print a Parquet table's schema, partitions, files and rows (--generate-sample DIR: no services needed)", runScan},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "trainer:", err)
		}
		os.Exit(exitCode(err))
	}
}

// Exit codes, for schedulers: 0 success (and -h), 1 failure, 2 a usage
// error (a flag, the environment or the config file; nothing was done),
// exitGateRefused (3) the gate refused the model (nothing is wrong, the
// model is not good enough: "models promote", "eval --fail-on-reject",
// "schedule run"), and schedule run's own codes (schedule.go).
const (
	exitFailure = 1
	exitUsage   = 2
)

// gateRejected is the error of a command whose gate refused the model.
type gateRejected struct{ msg string }

func (e *gateRejected) Error() string { return e.msg }

func exitCode(err error) int {
	var ue *usageError
	var gr *gateRejected
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0 // -h asked for the usage, which was printed
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &gr):
		return exitGateRefused
	}
	if ce, ok := errors.AsType[interface {
		error
		ExitCode() int
	}](err); ok {
		return ce.ExitCode() // e.g. "trainer schedule run"'s outcomes
	}
	return exitFailure
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		if len(args) == 0 {
			return &usageError{"no subcommand given"}
		}
		return nil
	}
	if args[0] == "version" || args[0] == "--version" || args[0] == "-version" {
		fmt.Fprintln(stdout, "trainer", cliconfig.Version())
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout)
		}
	}
	printUsage(stderr)
	return &usageError{fmt.Sprintf("unknown subcommand %q", args[0])}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: trainer <subcommand> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Subcommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "trainer <subcommand> -h" for its flags; "trainer --version" for the build.`)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit codes: 0 success, 1 failure, 2 usage error (nothing done), 3 the gate refused the model.")
}
