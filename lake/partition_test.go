package lake_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/lakestream/lakestream/lake"
)

func TestParsePartitions(t *testing.T) {
	tests := []struct {
		key     string
		want    []lake.Partition
		wantErr string
	}{
		{key: "part-0.parquet"},
		{key: "events/part-0.parquet"},
		{key: "dt=2026-11-01/part-0.parquet", want: []lake.Partition{{Name: "dt", Value: "2026-11-01"}}},
		{key: "events/dt=2026-11-01/hour=03/part-0.parquet", want: []lake.Partition{
			{Name: "dt", Value: "2026-11-01"}, {Name: "hour", Value: "03"}}},
		{key: "events/dt=2026-11-01/hour=03/", want: []lake.Partition{
			{Name: "dt", Value: "2026-11-01"}, {Name: "hour", Value: "03"}}},
		{key: "t/country=US/raw/x", want: []lake.Partition{{Name: "country", Value: "US"}}},
		// The file name is never a partition, even with "=".
		{key: "t/a=1/b=2.parquet", want: []lake.Partition{{Name: "a", Value: "1"}}},
		{key: "t/city=S%C3%A3o%20Paulo/x", want: []lake.Partition{{Name: "city", Value: "São Paulo"}}},
		{key: "t/path=a%2Fb%3Dc/x", want: []lake.Partition{{Name: "path", Value: "a/b=c"}}},
		{key: "t/plus=a+b/x", want: []lake.Partition{{Name: "plus", Value: "a+b"}}},
		{key: "t/empty=/x", want: []lake.Partition{{Name: "empty", Value: ""}}},
		{key: "t/eq=a=b/x", want: []lake.Partition{{Name: "eq", Value: "a=b"}}},
		{key: "t/dt=__HIVE_DEFAULT_PARTITION__/x", want: []lake.Partition{{Name: "dt", Null: true}}},
		{key: "t/=v/x", wantErr: "no column name"},
		{key: "t/v=%zz/x", wantErr: "bad percent escape"},
		{key: "t/a=1/a=2/x", wantErr: "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, err := lake.ParsePartitions(tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.key) {
					t.Fatalf("err = %v, want one containing %q and the key", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParsePartitions(%q) = %+v, want %+v", tt.key, got, tt.want)
			}
		})
	}
}

func TestPartitionString(t *testing.T) {
	tests := []struct {
		p    lake.Partition
		want string
	}{
		{lake.Partition{Name: "dt", Value: "2026-11-01"}, "dt=2026-11-01"},
		{lake.Partition{Name: "p", Value: "a/b=c%d"}, "p=a%2Fb%3Dc%25d"},
		{lake.Partition{Name: "dt", Null: true}, "dt=__HIVE_DEFAULT_PARTITION__"},
		{lake.Partition{Name: "s", Value: "São Paulo"}, "s=São Paulo"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestPartitionFolders(t *testing.T) {
	tests := []struct {
		key  string
		want []string
	}{
		{"x.parquet", nil},
		{"events/x.parquet", nil},
		{"dt=1/x", []string{"", "dt=1/"}},
		{"events/dt=1/hour=2/x", []string{"events/", "events/dt=1/", "events/dt=1/hour=2/"}},
		{"lake/events/dt=1/raw/x", []string{"lake/events/", "lake/events/dt=1/"}},
	}
	for _, tt := range tests {
		if got := lake.PartitionFolders(tt.key); !slices.Equal(got, tt.want) {
			t.Errorf("PartitionFolders(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// FuzzParsePartitions checks that parsing never panics and that every parsed
// partition formats back to a folder that parses to the same partition.
func FuzzParsePartitions(f *testing.F) {
	for _, seed := range []string{
		"events/dt=2026-11-01/hour=03/part-0.parquet",
		"t/city=S%C3%A3o%20Paulo/x",
		"t/dt=__HIVE_DEFAULT_PARTITION__/x",
		"t/a=%/x", "=/", "a=b=c/", "//", "a=1/a=1/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		parts, err := lake.ParsePartitions(key)
		if err != nil {
			return
		}
		for _, p := range parts {
			if p.Name == "" {
				t.Fatalf("ParsePartitions(%q) gave an empty name", key)
			}
			if strings.Contains(p.Name, "/") {
				t.Fatalf("ParsePartitions(%q) gave a name with a slash: %q", key, p.Name)
			}
			if strings.Contains(p.Name, "=") {
				t.Fatalf("ParsePartitions(%q) gave a name with '=': %q", key, p.Name)
			}
			back, err := lake.ParsePartitions(p.String() + "/f")
			if err != nil || len(back) != 1 || back[0] != p {
				t.Fatalf("round trip of %+v via %q = %+v, %v", p, p.String(), back, err)
			}
		}
	})
}
