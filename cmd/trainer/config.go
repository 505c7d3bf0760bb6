package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Configuration precedence for every subcommand: a flag on the command line
// wins over the environment variable LAKESTREAM_<FLAG> (upper case, dashes
// as underscores: --learning-rate ↔ LAKESTREAM_LEARNING_RATE), which wins
// over the key of the same name as the flag in the YAML config file given by
// --config (or LAKESTREAM_CONFIG), which wins over the flag's default.
//
// A config file is a flat YAML mapping of flag names to values:
//
//	model: fm
//	factors: 8
//	learning-rate: 0.05
//
// Unknown keys are an error, so a typo does not silently fall back to a
// default.

// configFlag is the name of the flag every subcommand using parseConfig gets.
const configFlag = "config"

// envPrefix prefixes the environment variable of each flag.
const envPrefix = "LAKESTREAM_"

// envName returns the environment variable that configures flag name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseConfig registers --config on fs, parses args, then fills every flag not
// given on the command line from the environment (looked up with getenv;
// os.LookupEnv in the binary) or the config file. Errors are usage errors
// naming the flag and where its bad value came from.
func parseConfig(fs *flag.FlagSet, args []string, getenv func(string) (string, bool)) error {
	if fs.Lookup(configFlag) == nil {
		fs.String(configFlag, "", "YAML file of flag values (precedence: flag > env "+envPrefix+"* > this file > default)")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{fmt.Sprintf("%s: unexpected argument %q (flags only)", fs.Name(), fs.Arg(0))}
	}
	if getenv == nil {
		getenv = os.LookupEnv
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	path := fs.Lookup(configFlag).Value.String()
	if !set[configFlag] {
		if v, ok := getenv(envName(configFlag)); ok {
			path = v
		}
	}
	file := map[string]any{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return &usageError{fmt.Sprintf("--%s: %v", configFlag, err)}
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return &usageError{fmt.Sprintf("config file %s: %v", path, err)}
		}
		var unknown []string
		for k := range file {
			if fs.Lookup(k) == nil || k == configFlag {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return &usageError{fmt.Sprintf("config file %s: unknown keys %v (keys are %s flag names)", path, unknown, fs.Name())}
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] || f.Name == configFlag {
			return
		}
		if v, ok := getenv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = &usageError{fmt.Sprintf("environment %s=%q: %v", envName(f.Name), v, e)}
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s, e := yamlScalar(v)
			if e == nil {
				e = fs.Set(f.Name, s)
			}
			if e != nil {
				err = &usageError{fmt.Sprintf("config file %s: %s: %v", path, f.Name, e)}
			}
		}
	})
	return err
}

// yamlScalar renders a decoded YAML value as flag text; lists become
// comma-separated.
func yamlScalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := yamlScalar(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("a mapping is not a flag value")
	default:
		return fmt.Sprint(x), nil
	}
}
