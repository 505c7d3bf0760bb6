package dataset_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/lakestream/lakestream/dataset"
)

func TestParseWhere(t *testing.T) {
	tests := []struct {
		in   string
		want string // Filter.String of the result
	}{
		{"", ""},
		{"   ", ""},
		{"dt >= '2026-11-01'", "dt >= '2026-11-01'"},
		{"dt >= '2026-11-01' AND country = 'fr'", "dt >= '2026-11-01' AND country = 'fr'"},
		{"a=1 and b<>2 AnD c!=3", "a = 1 AND b != 2 AND c != 3"},
		{"a == -4.5e3", "a = -4500"},
		{"a < 2.5", "a < 2.5"},
		{"a <= 0 AND b > true AND c >= false", "a <= 0 AND b > true AND c >= false"},
		{"country IN ('fr','de' , 'it')", "country IN ('fr', 'de', 'it')"},
		{"n in (1, 2)", "n IN (1, 2)"},
		{`"weird col" = 'it''s'`, "weird col = 'it''s'"},
		{"s = ''", "s = ''"},
		{"android = 1", "android = 1"}, // a column starting with "and"
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			f, err := dataset.ParseWhere(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseWhereErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{"dt >=", 5, "expected a value"},
		{"dt", 2, "expected an operator (=, !=, <, <=, >, >=, IN)"},
		{"= 3", 0, "expected a column name"},
		{"dt = '2026", 5, "unterminated string"},
		{"a = 1 OR b = 2", 6, "expected AND or end of input"},
		{"a = 1 AND", 9, "expected a column name"},
		{"a IN 1", 5, "expected ( after IN"},
		{"a IN (1 2)", 8, "expected , or ) in IN list"},
		{"a = 1.2.3", 4, `bad number "1.2.3"`},
		{"a = x", 4, "expected a value ('text', a number, true or false)"},
		{`"a = 1`, 0, "unterminated quoted column name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := dataset.ParseWhere(tt.in)
			var pe *dataset.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if pe.Offset != tt.offset || pe.Msg != tt.msg {
				t.Errorf("got %q at %d, want %q at %d", pe.Msg, pe.Offset, tt.msg, tt.offset)
			}
		})
	}
}

func ExampleParseWhere() {
	f, err := dataset.ParseWhere("dt >= '2026-11-01' AND country IN ('fr', 'de')")
	if err != nil {
		panic(err)
	}
	fmt.Println(len(f), "predicates:", f)
	_, err = dataset.ParseWhere("dt >= '2026-11-01' OR country = 'fr'")
	fmt.Println(err)
	// Output:
	// 2 predicates: dt >= '2026-11-01' AND country IN ('fr', 'de')
	// where: expected AND or end of input at offset 19
	//   dt >= '2026-11-01' OR country = 'fr'
	//                      ^
}
