package kafka

import (
	"strings"
	"testing"
)

func TestValidateTopic(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"clicks", true},
		{"clicks.dead-letters", true},
		{"lakestream.models_v2", true},
		{"", false},
		{".", false},
		{"..", false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
		{strings.Repeat("a", 249), true},
		{strings.Repeat("a", 250), false},
	} {
		if err := ValidateTopic(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateTopic(%.30q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
