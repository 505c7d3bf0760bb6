// Package cliconfig gives the trainer and the predictor one configuration
// convention. A flag on the command line wins over the environment variable
// LAKESTREAM_<FLAG> (upper case, dashes as underscores: --learning-rate ↔
// LAKESTREAM_LEARNING_RATE), which wins over the key of the same name in the
// YAML file given by --config (or LAKESTREAM_CONFIG), which wins over the
// flag's default.
//
// A config file is a flat YAML mapping of flag names to values; scalars are
// taken as written (dt: 2014-10-21 stays that text, not a timestamp), lists
// become comma-separated values, and unknown keys are an error, so a typo
// does not silently fall back to a default.
//
// Flags can be hidden (Alias registers a deprecated spelling that still
// works but is not listed) and secret (Secret: the default and the value
// never appear in the usage text or in errors). Usage prints a header line
// and the visible flags.
package cliconfig
