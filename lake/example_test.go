package lake_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/lake/laketest"
)

func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "lake-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A folder, file:///folder or s3://bucket/prefix.
	s, err := lake.Open(ctx, "file://"+dir)
	if err != nil {
		log.Fatal(err)
	}
	if err := lake.PutBytes(ctx, s, "greeting.txt", []byte("hello, lake")); err != nil {
		log.Fatal(err)
	}
	data, err := lake.ReadAll(ctx, s, "greeting.txt")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(data))
	// Output: hello, lake
}

func ExampleGlob() {
	ctx := context.Background()
	s := laketest.NewMemory()
	for _, day := range []string{"01", "02", "03"} {
		folder := "events/dt=2026-11-" + day
		if err := lake.PutBytes(ctx, s, folder+"/part-0.parquet", []byte("PAR1")); err != nil {
			log.Fatal(err)
		}
		if day != "02" { // the job writing dt=2026-11-02 has not finished
			if err := lake.Commit(ctx, s, folder); err != nil {
				log.Fatal(err)
			}
		}
	}
	files, err := lake.Glob(ctx, s, "events/dt=2026-11-0[1-3]/*.parquet")
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range files {
		fmt.Println(f.Key)
	}
	// Output:
	// events/dt=2026-11-01/part-0.parquet
	// events/dt=2026-11-03/part-0.parquet
}

func ExampleParsePartitions() {
	parts, err := lake.ParsePartitions("events/dt=2026-11-01/country=S%C3%A3o%20Tom%C3%A9/hour=__HIVE_DEFAULT_PARTITION__/part-0.parquet")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range parts {
		fmt.Printf("%s=%q null=%v\n", p.Name, p.Value, p.Null)
	}
	// Output:
	// dt="2026-11-01" null=false
	// country="São Tomé" null=false
	// hour="" null=true
}
