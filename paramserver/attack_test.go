package paramserver

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec sends pre-encoded bytes as the request message.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}
func (rawCodec) Unmarshal(mem.BufferSlice, any) error { return nil }

// selfRSS returns this process's resident set and its peak (VmRSS, VmHWM)
// in bytes.
func selfRSS(t *testing.T) (rss, peak int64) {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for key, dst := range map[string]*int64{"VmRSS:": &rss, "VmHWM:": &peak} {
			if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				*dst = kb << 10
			}
		}
	}
	return rss, peak
}

// TestAttackUnauthenticatedExchangeIsNotRead: a 32 MiB Exchange of empty
// push sections without the token is refused from its headers,
// Unauthenticated, before the shard reads it. Decoded, those 16M empty
// sections took a shard to 1.77 GB before it answered. The shard runs in
// this process, so the bound is on this process's peak growth, which
// includes the client's own 32 MiB request: under 100 MB.
func TestAttackUnauthenticatedExchangeIsNotRead(t *testing.T) {
	addrs, _ := startShards(t, 1, remoteSpecs(), shardOpts{token: "s3cret", maxMsg: 64 << 20})
	entry := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.BytesType), 0)
	body := make([]byte, 0, 32<<20)
	for len(body)+len(entry) <= 32<<20 {
		body = append(body, entry...)
	}
	conn, err := grpc.NewClient(addrs[0], grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Reset the peak to the current resident set (Linux clear_refs 5).
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
	before, _ := selfRSS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []byte
	err = conn.Invoke(ctx, "/lakestream.paramserver.v1.ParamServer/Exchange", body, &out, grpc.ForceCodecV2(rawCodec{}))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unauthenticated 32 MiB Exchange: %v, want Unauthenticated", err)
	}
	_, peak := selfRSS(t)
	t.Logf("peak RSS grew %d MB during the attack", (peak-before)>>20)
	if peak-before > 100<<20 {
		t.Errorf("peak RSS grew %d MB, bound 100 MB", (peak-before)>>20)
	}
}
