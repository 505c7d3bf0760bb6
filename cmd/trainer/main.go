// Command trainer trains, evaluates and publishes Lakestream models over the
// data lake and Kafka. Run "trainer help" for the subcommands.
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
	{"train", "train a model on a Parquet table in the lake", runTrain},
	{"stream", "train continuously on a Kafka topic of JSON rows: prequential metrics, a version through the gate every --publish-every", runStream},
	{"models", "the model registry: list | show NAME[@VERSION] | promote NAME VERSION | rollback NAME [VERSION] | retain NAME", runModels},
	{"eval", "evaluate a model (or champion vs challenger) on a held-out table: report.json and plots", runEval},
	{"ps", "serve one parameter-server shard (--shard i/n); shard 0 can coordinate the job's workers", runPS},
	{"worker", "join a distributed training job against the ps shards: the coordinator's Parquet splits, or with --topic the Kafka partitions its consumer group assigns", runWorker},
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

// usageError marks errors caused by how the command was called; they exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error) int {
	var ue *usageError
	if errors.Is(err, flag.ErrHelp) {
		return 0 // -h asked for the usage, which was printed
	}
	if errors.As(err, &ue) {
		return 2
	}
	if ce, ok := errors.AsType[interface {
		error
		ExitCode() int
	}](err); ok {
		return ce.ExitCode() // e.g. "trainer schedule run"'s outcomes
	}
	return 1
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout)
		if len(args) == 0 {
			return &usageError{"no subcommand given"}
		}
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
	fmt.Fprintln(w, `Run "trainer <subcommand> -h" for its flags.`)
}
