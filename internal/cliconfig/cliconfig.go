package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigFlag is the flag Parse adds to every flag set.
const ConfigFlag = "config"

// EnvPrefix prefixes the environment variable of each flag.
const EnvPrefix = "LAKESTREAM_"

// EnvName returns the environment variable that configures flag name.
func EnvName(name string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// UsageError is an error in how a command was called: a flag, an
// environment variable or a config file value. Commands exit 2 on it.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// marks in a flag's usage string; they are stripped from what is shown.
const (
	hiddenMark = "\x00hidden\x00"
	secretMark = "\x00secret\x00"
)

// Alias registers old as a hidden second name of the flag name (already
// registered on fs): it sets the same value, is not listed by Usage, and
// exists so that scripts written for an older release keep working.
func Alias(fs *flag.FlagSet, old, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("cliconfig: alias " + old + " of unknown flag " + name)
	}
	fs.Var(f.Value, old, hiddenMark+"deprecated spelling of --"+name)
}

// Secret marks the flag name as a secret: Usage never shows its default,
// and errors never show its value.
func Secret(fs *flag.FlagSet, name string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("cliconfig: secret flag " + name + " is not registered")
	}
	f.Usage = secretMark + f.Usage
}

func isHidden(f *flag.Flag) bool { return strings.HasPrefix(f.Usage, hiddenMark) }
func isSecret(f *flag.Flag) bool { return strings.HasPrefix(f.Usage, secretMark) }

// SetUsage makes fs print header (e.g. "Usage: trainer eval [flags]"), an
// optional description, and its visible flags with their defaults and
// environment variables when -h is given or parsing fails.
func SetUsage(fs *flag.FlagSet, header, description string) {
	fs.Usage = func() { WriteUsage(fs.Output(), fs, header, description) }
}

// WriteUsage writes what SetUsage's usage function prints.
func WriteUsage(w io.Writer, fs *flag.FlagSet, header, description string) {
	fmt.Fprintln(w, header)
	if description != "" {
		fmt.Fprintln(w)
		fmt.Fprintln(w, description)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags (each also read from LAKESTREAM_<FLAG> or the --config file):")
	fs.VisitAll(func(f *flag.Flag) {
		if isHidden(f) {
			return
		}
		usage := strings.TrimPrefix(f.Usage, secretMark)
		kind, usage := flag.UnquoteUsage(&flag.Flag{Name: f.Name, Usage: usage, Value: f.Value})
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if def := f.DefValue; !isSecret(f) && def != "" && def != "0" && def != "false" && def != "[]" && !strings.Contains(usage, "(default") {
			if kind == "string" {
				def = fmt.Sprintf("%q", def)
			}
			line += " (default " + def + ")"
		}
		fmt.Fprintln(w, line)
	})
}

// Parse registers --config on fs (if missing), parses args, then fills
// every flag not given on the command line from the environment (looked up
// with getenv; os.LookupEnv when nil) or the config file. Positional
// arguments are refused. Errors are *UsageError naming the flag and where
// its bad value came from; -h gives flag.ErrHelp after printing the usage.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) (string, bool)) error {
	if fs.Lookup(ConfigFlag) == nil {
		fs.String(ConfigFlag, "", "YAML file of flag values (precedence: flag > env "+EnvPrefix+"* > this file > default)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &UsageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &UsageError{fmt.Sprintf("%s: unexpected argument %q (flags only)", fs.Name(), fs.Arg(0))}
	}
	if getenv == nil {
		getenv = os.LookupEnv
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// A hidden alias given on the command line counts for its flag.
	fs.Visit(func(f *flag.Flag) {
		if isHidden(f) {
			fs.VisitAll(func(g *flag.Flag) {
				if g.Value == f.Value {
					set[g.Name] = true
				}
			})
		}
	})

	path := fs.Lookup(ConfigFlag).Value.String()
	if !set[ConfigFlag] {
		if v, ok := getenv(EnvName(ConfigFlag)); ok {
			path = v
		}
	}
	file, err := readFile(fs, path)
	if err != nil {
		return err
	}
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == ConfigFlag || isHidden(f) {
			return
		}
		shown := func(v string) string {
			if isSecret(f) {
				return "(secret)"
			}
			return fmt.Sprintf("%q", v)
		}
		if v, ok := getenv(EnvName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = &UsageError{fmt.Sprintf("environment %s=%s: %v", EnvName(f.Name), shown(v), e)}
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = &UsageError{fmt.Sprintf("config file %s: %s: %s: %v", path, f.Name, shown(v), e)}
			}
		}
	})
	return err
}

// readFile reads the config file at path ("" : none) into flag texts.
func readFile(fs *flag.FlagSet, path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &UsageError{fmt.Sprintf("--%s: %v", ConfigFlag, err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &UsageError{fmt.Sprintf("config file %s: %v", path, err)}
	}
	if len(doc.Content) == 0 {
		return out, nil // an empty file
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, &UsageError{fmt.Sprintf("config file %s: want a mapping of flag names to values", path)}
	}
	var unknown []string
	aliased := map[string]string{} // values given under an alias's key, by flag
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i].Value, m.Content[i+1]
		f := fs.Lookup(k)
		if f == nil || k == ConfigFlag {
			unknown = append(unknown, k)
			continue
		}
		s, err := scalarText(v)
		if err != nil {
			return nil, &UsageError{fmt.Sprintf("config file %s: %s: %v", path, k, err)}
		}
		if isHidden(f) {
			// An alias's key configures its flag (Parse fills only
			// visible flags), unless the file also names the flag.
			fs.VisitAll(func(g *flag.Flag) {
				if g.Value == f.Value && !isHidden(g) {
					aliased[g.Name] = s
				}
			})
			continue
		}
		out[k] = s
	}
	for k, s := range aliased {
		if _, ok := out[k]; !ok {
			out[k] = s
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &UsageError{fmt.Sprintf("config file %s: unknown keys %v (keys are %s flag names)", path, unknown, fs.Name())}
	}
	return out, nil
}

// scalarText renders a YAML value as flag text, exactly as written; a list
// becomes comma-separated.
func scalarText(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		parts := make([]string, len(n.Content))
		for i, e := range n.Content {
			s, err := scalarText(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case yaml.AliasNode:
		return scalarText(n.Alias)
	}
	return "", errors.New("a mapping is not a flag value")
}

// Version describes the running binary: the main module's version and, when
// the build recorded them, the VCS revision and whether the tree was
// modified.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev[:min(12, len(rev))] + modified
	}
	return v + " " + bi.GoVersion
}
