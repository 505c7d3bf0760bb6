package main

import (
	"errors"
	"flag"

	"github.com/lakestream/lakestream/internal/cliconfig"
)

// Configuration follows internal/cliconfig, shared with the predictor: a
// flag on the command line wins over the environment variable
// LAKESTREAM_<FLAG> (--learning-rate ↔ LAKESTREAM_LEARNING_RATE), which
// wins over the key of the same name in the YAML file given by --config (or
// LAKESTREAM_CONFIG), which wins over the flag's default:
//
//	model: fm
//	factors: 8
//	learning-rate: 0.05
//	dt: 2026-11-01
//
// Unknown keys are an error, so a typo does not silently fall back to a
// default.

// usageError marks errors caused by how the command was called; they exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usageLines are the usage headers of subcommands that take more than
// flags, by flag set name; the others read "trainer NAME [flags]".
var usageLines = map[string]string{
	"models list":       "models list [flags]: every model with its latest version (corrupt versions marked)",
	"models show":       "models show NAME[@VERSION|@ALIAS] [flags]: one version's manifest",
	"models promote":    "models promote NAME VERSION [flags]: gate VERSION against the champion and move the champion alias",
	"models rollback":   "models rollback NAME [VERSION] [flags]: move an alias back",
	"models retain":     "models retain NAME --keep N [flags]: delete old versions no alias needs",
	"console":           "console [flags]: the registry and jobs as a web page and a REST API (/api/v1, /api/openapi.yaml), read-only unless --allow-writes",
	"schedule serve":    "schedule serve --schedule FILE [flags]: run every job's intervals as they close",
	"schedule run":      "schedule run JOB --interval ID --schedule FILE [flags]: run one interval (exit 0 ok, 1 failed, 2 bad input, 3 gate refused, 4 no data, 5 another scheduler runs it)",
	"schedule backfill": "schedule backfill JOB --from ID --to ID --schedule FILE [flags]: run the intervals of a range in order",
	"schedule status":   "schedule status [JOB] --schedule FILE [flags]: the run records as a table",
}

// parseConfig gives fs a usage text with a header line and parses args into
// it with the configuration convention; getenv is os.LookupEnv when nil.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) (string, bool)) error {
	line, ok := usageLines[fs.Name()]
	if !ok {
		line = fs.Name() + " [flags]"
	}
	cliconfig.SetUsage(fs, "Usage: trainer "+line, "")
	err := cliconfig.Parse(fs, args, getenv)
	var ue *cliconfig.UsageError
	if errors.As(err, &ue) {
		return &usageError{ue.Msg}
	}
	return err
}

// wantsHelp reports whether args ask for the usage (-h, -help, --help), so
// commands with positional arguments can answer it before checking them.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}
