package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
)

// runModels is "trainer models list|show|promote|rollback|retain".
func runModels(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		printModelsUsage(os.Stderr)
		return &usageError{"models: want a subcommand: list, show NAME[@VERSION|@ALIAS], promote NAME VERSION, rollback NAME [VERSION], or retain NAME"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		printModelsUsage(stdout)
		return nil
	case "list":
		return modelsList(ctx, args[1:], stdout)
	case "show":
		return modelsShow(ctx, args[1:], stdout)
	case "promote":
		return modelsPromote(ctx, args[1:], stdout)
	case "rollback":
		return modelsRollback(ctx, args[1:], stdout)
	case "retain":
		return modelsRetain(ctx, args[1:], stdout)
	}
	return &usageError{fmt.Sprintf("models: unknown subcommand %q (want list, show, promote, rollback or retain)", args[0])}
}

func printModelsUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: trainer models <subcommand> [arguments] [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Subcommands:")
	for _, k := range []string{"models list", "models show", "models promote", "models rollback", "models retain"} {
		fmt.Fprintln(w, "  trainer "+usageLines[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "trainer models <subcommand> -h" for its flags.`)
}

func lakeFlag(fs *flag.FlagSet) *string {
	return fs.String("lake", "lake", "the lake: a folder, file:///path or s3://bucket/prefix")
}

// modelsList prints every model with its latest version.
func modelsList(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("models list", flag.ContinueOnError)
	uri := lakeFlag(fs)
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	names, err := model.Names(ctx, store)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fmt.Fprintf(stdout, "no models in %s (train one with: trainer train ... --output NAME)\n", *uri)
		return nil
	}
	// A corrupt version is marked and the listing goes on: one bad manifest
	// must not hide the healthy versions.
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "name\tversions\tlatest\taliases\tkind\tcreated\trows\tmetrics")
	var bad []string
	for _, n := range names {
		vs, err := model.ListVersions(ctx, store, n)
		if err != nil {
			return err
		}
		var latest *model.Manifest
		healthy := 0
		for _, v := range vs {
			if v.Err != nil {
				bad = append(bad, fmt.Sprintf("%s version %d: CORRUPT: %v", n, v.Version, v.Err))
				continue
			}
			healthy++
			latest = v.Manifest
		}
		aliases, err := aliasesText(ctx, store, n)
		if err != nil {
			return err
		}
		if latest == nil {
			fmt.Fprintf(tw, "%s\t0 healthy of %d\t-\t%s\t-\t-\t-\t-\n", n, len(vs), aliases)
			continue
		}
		count := strconv.Itoa(healthy)
		if healthy < len(vs) {
			count = fmt.Sprintf("%d (+%d corrupt)", healthy, len(vs)-healthy)
		}
		m := latest.Meta
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", n, count, m.Version, aliases, m.Kind,
			m.Created.Format(time.DateTime), m.Rows, formatMetricMap(m.Metrics))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, b := range bad {
		fmt.Fprintln(stdout, b)
	}
	return nil
}

// modelsShow prints one version's manifest.
func modelsShow(ctx context.Context, args []string, stdout io.Writer) error {
	var ref string
	if wantsHelp(args) {
		args = []string{"-h"}
	} else if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		ref, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("models show", flag.ContinueOnError)
	uri := lakeFlag(fs)
	asJSON := fs.Bool("json", false, "print the manifest as JSON")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if ref == "" {
		return &usageError{"models show: want NAME, NAME@VERSION or NAME@ALIAS before the flags"}
	}
	if _, _, err := model.ParseRef(ref); err != nil {
		return &usageError{err.Error()}
	}
	store, err := lake.Open(ctx, *uri)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	name, ver, err := model.ResolveRef(ctx, store, ref)
	if err != nil {
		return err
	}
	mf, err := model.ReadManifest(ctx, store, name, ver)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(mf)
	}
	m := mf.Meta
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "model\t%s version %d\n", m.Name, m.Version)
	aliases, err := model.Aliases(ctx, store, name)
	if err != nil {
		return err
	}
	var here []string
	for _, a := range aliases {
		if a.Version == m.Version {
			here = append(here, a.Alias)
		}
	}
	if len(here) > 0 {
		fmt.Fprintf(tw, "aliases\t%s\n", strings.Join(here, ", "))
	}
	fmt.Fprintf(tw, "kind\t%s\n", m.Kind)
	arch, _ := json.Marshal(m.Arch)
	fmt.Fprintf(tw, "arch\t%s\n", arch)
	fmt.Fprintf(tw, "created\t%s\n", m.Created.Format(time.RFC3339))
	fmt.Fprintf(tw, "code\t%s\n", m.CodeVersion)
	fmt.Fprintf(tw, "data\t%s  %s..%s\n", m.Data.Source, m.Data.From, m.Data.To)
	fmt.Fprintf(tw, "rows\t%d\n", m.Rows)
	if m.Optimizer != nil {
		opt, _ := json.Marshal(m.Optimizer)
		fmt.Fprintf(tw, "optimizer\t%s\n", opt)
	}
	fmt.Fprintf(tw, "seed\t%d\n", m.Seed)
	fmt.Fprintf(tw, "metrics\t%s\n", formatMetricMap(m.Metrics))
	fmt.Fprintf(tw, "hyperparameters\t%s\n", formatStringMap(m.Hyperparameters))
	for _, t := range mf.Tables {
		kind := "sparse"
		if t.Dense {
			kind = "dense"
		}
		fmt.Fprintf(tw, "table %s\t%s %d×%d (%d bytes)\n", t.Name, kind, t.Rows, t.Width, t.Values.Size)
	}
	fmt.Fprintf(tw, "size\t%d bytes in %s\n", mf.Size(), model.VersionPrefix(m.Name, m.Version))
	return tw.Flush()
}

// aliasesText renders a model's aliases as "champion=3 challenger=4", or "-".
func aliasesText(ctx context.Context, store lake.Store, name string) (string, error) {
	aliases, err := model.Aliases(ctx, store, name)
	if err != nil || len(aliases) == 0 {
		return "-", err
	}
	parts := make([]string, len(aliases))
	for i, a := range aliases {
		parts[i] = fmt.Sprintf("%s=%d", a.Alias, a.Version)
	}
	return strings.Join(parts, " "), nil
}

func formatMetricMap(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%.4g", k, m[k])
	}
	return strings.Join(parts, " ")
}

func formatStringMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] != "" {
			parts = append(parts, k+"="+m[k])
		}
	}
	return strings.Join(parts, " ")
}
