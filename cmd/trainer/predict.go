package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/predict"
)

// runPredict is the "trainer predict" subcommand: batch scoring of a lake
// table into another (package predict).
func runPredict(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	cfg := predict.DefaultConfig()
	fs.StringVar(&cfg.Data, "data", "", "input table in the lake: a folder, key or glob (Parquet)")
	fs.StringVar(&cfg.Where, "where", "", "row filter, e.g. \"country = 'fr'\" (prunes partitions and row groups)")
	fs.StringVar(&cfg.DT, "dt", "", "dt partition day or range a..b to score")
	fs.BoolVar(&cfg.IncludeUncommitted, "include-uncommitted", false, "also read partitions without a _SUCCESS marker (skipped with a warning otherwise)")
	fs.StringVar(&cfg.Model, "model", "", "model version to score with: name (latest), name@version or name@alias")
	fs.StringVar(&cfg.Output, "output", "", "output table folder in the lake; partitioned like the input, one Parquet file and a _SUCCESS marker per partition")
	keep := fs.String("keep", "", "comma-separated input columns to copy next to the scores (e.g. request_id,click)")
	fs.BoolVar(&cfg.Overwrite, "overwrite", false, "replace output partitions that exist (refused otherwise)")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "rows read and scored at a time")
	fs.Int64Var(&cfg.RowGroupRows, "row-group-rows", cfg.RowGroupRows, "rows per output row group (the most a writer holds in memory)")
	topN := fs.Int("top-n", 0, fmt.Sprintf("mf models: instead of scoring rows, write each user's N best items (1 to %d) among the items of the selected rows that the user has no row with: user, item, score, rank (one file and _SUCCESS under --output)", predict.MaxTopN))
	lakeURI := fs.String("lake", "lake", "the lake: a folder, file:///path or s3://bucket/prefix")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("unexpected argument %q: trainer predict takes flags only", fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["top-n"] {
		switch {
		case *topN < 1 || *topN > predict.MaxTopN:
			return &usageError{fmt.Sprintf("--top-n %d: want 1 to %d", *topN, predict.MaxTopN)}
		case set["keep"]:
			return &usageError{"--keep copies input columns next to row scores; --top-n writes user, item, score and rank: drop one"}
		case set["row-group-rows"]:
			return &usageError{"--row-group-rows sizes row-score files; --top-n writes one file in batches of --batch-size rows: drop it"}
		}
		tc := predict.DefaultTopNConfig()
		tc.Data, tc.Where, tc.DT, tc.IncludeUncommitted = cfg.Data, cfg.Where, cfg.DT, cfg.IncludeUncommitted
		tc.Model, tc.N, tc.Output, tc.Overwrite, tc.BatchSize = cfg.Model, *topN, cfg.Output, cfg.Overwrite, cfg.BatchSize
		return runTopN(ctx, *lakeURI, tc, stdout)
	}
	if *keep != "" {
		cfg.Keep = strings.Split(*keep, ",")
		for i := range cfg.Keep {
			cfg.Keep[i] = strings.TrimSpace(cfg.Keep[i])
		}
	}
	if err := checkPredictFlags(cfg.Data, cfg.Model, cfg.Output, cfg.Where, cfg.DT, cfg.BatchSize, "the input table"); err != nil {
		return err
	}
	if cfg.RowGroupRows <= 0 {
		return &usageError{fmt.Sprintf("--row-group-rows %d: want > 0", cfg.RowGroupRows)}
	}
	if err := predict.CheckKeep(cfg.Keep); err != nil {
		return &usageError{"--keep: " + err.Error()}
	}
	store, err := lake.Open(ctx, *lakeURI)
	if err != nil {
		return &usageError{fmt.Sprintf("--lake: %v", err)}
	}
	cfg.Logger = newLogger(os.Stderr)
	res, err := predict.Run(ctx, store, cfg)
	if err != nil {
		return predictError(err)
	}
	for _, p := range res.Partitions {
		fmt.Fprintf(stdout, "%s: %d rows\n", p.Folder, p.Rows)
	}
	fmt.Fprintf(stdout, "scored %d rows with %s@%d into %d partition(s) of %s\n", res.Rows, res.Model, res.Version, len(res.Partitions), cfg.Output)
	return nil
}

// runTopN is "trainer predict --top-n".
func runTopN(ctx context.Context, lakeURI string, cfg predict.TopNConfig, stdout io.Writer) error {
	if err := checkPredictFlags(cfg.Data, cfg.Model, cfg.Output, cfg.Where, cfg.DT, cfg.BatchSize, "the interactions table"); err != nil {
		return err
	}
	store, err := lake.Open(ctx, lakeURI)
	if err != nil {
		return &usageError{fmt.Sprintf("--lake: %v", err)}
	}
	res, err := predict.TopN(ctx, store, cfg)
	if errors.Is(err, predict.ErrNotRecommender) {
		return &usageError{"--top-n: " + err.Error()}
	}
	if err != nil {
		return predictError(err)
	}
	fmt.Fprintf(stdout, "wrote the top %d of %d items for %d users (%d rows) with %s@%d to %s\n",
		cfg.N, res.Items, res.Users, res.Rows, res.Model, res.Version, cfg.Output)
	return nil
}

// checkPredictFlags checks the flags "trainer predict" and its --top-n
// share, before anything is read; table names --data's table in errors.
func checkPredictFlags(data, ref, output, where, dt string, batchSize int, table string) error {
	switch {
	case data == "":
		return &usageError{"--data is required (" + table + " in the lake)"}
	case ref == "":
		return &usageError{"--model is required (name, name@version or name@alias)"}
	case output == "":
		return &usageError{"--output is required (the folder of the output table in the lake)"}
	case batchSize <= 0:
		return &usageError{fmt.Sprintf("--batch-size %d: want > 0", batchSize)}
	}
	if _, _, err := model.ParseRef(ref); err != nil {
		return &usageError{fmt.Sprintf("--model: %v", err)}
	}
	if err := lake.ValidateKey(strings.TrimSuffix(output, "/")); err != nil {
		return &usageError{fmt.Sprintf("--output %q: %v", output, err)}
	}
	return checkSlice(where, dt)
}

// predictError says what to change for an error of predict.Run or
// predict.TopN.
func predictError(err error) error {
	var exists *predict.OutputExistsError
	switch {
	case errors.As(err, &exists):
		return &usageError{err.Error() + ": pass --overwrite to replace it, or choose another --output"}
	case errors.Is(err, predict.ErrInvalidConfig):
		return &usageError{strings.TrimSuffix(err.Error(), ": "+predict.ErrInvalidConfig.Error())}
	}
	return uncommittedHint(err)
}
