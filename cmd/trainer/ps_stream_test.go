package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestPSStreamFlags: "trainer ps --topic" refuses what a distributed stream
// job does not do, naming what to use instead.
func TestPSStreamFlags(t *testing.T) {
	base := []string{"--shard", "0/1", "--shards", "127.0.0.1:1", "--coordinate", "--topic", "clicks", "--consistency", "async"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"gate without promote", []string{"--min-auc", "0.6"}, "--min-auc applies with --promote"},
		{"publish every", []string{"--output", "m", "--publish-every-checkpoints", "0"}, "want at least 1"},
		{"epochs", []string{"--epochs", "2"}, "--epochs is not supported with --topic"},
		{"checkpoint every", []string{"--checkpoint-every", "3"}, "--checkpoint-interval sets its checkpoints"},
		{"sync", []string{"--consistency", "sync"}, "--consistency async"},
		{"interval", []string{"--checkpoint-interval", "0s"}, "--checkpoint-interval 0s: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runPS(context.Background(), append(slices.Clone(base), tc.args...), io.Discard)
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tc.want)
			}
		})
	}
}
