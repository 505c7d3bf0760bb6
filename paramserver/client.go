package paramserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/lakestream/lakestream/api/paramserver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// ClientConfig configures a Client. The shard map — which address serves
// which shard — is job configuration: Shards[i] must serve shard i of
// len(Shards), and every client and shard of a job must use the same map.
type ClientConfig struct {
	// Shards lists the shard addresses (host:port) in shard order.
	Shards []string
	// Token is sent with every call when set.
	Token string
	// TLS, when set, connects with TLS; otherwise connections are plaintext.
	TLS *tls.Config
	// Timeout is the deadline of each data call (Pull, Push, a chunk of
	// them, Snapshot, Restore) when ctx has no earlier one; 0 means 30s.
	// Clock calls wait on barriers and use ctx only.
	Timeout time.Duration
	// MaxMsgBytes limits messages; 0 means DefaultMaxMsgBytes. It must not
	// exceed the shards' limit.
	MaxMsgBytes int
	// ChunkBytes bounds the payload of one request; larger requests are
	// split. 0 means 4 MiB; it is capped at MaxMsgBytes/2.
	ChunkBytes int
	// MaxKeysPerCall bounds the keys of one request; larger requests are
	// split. 0 means DefaultMaxKeysPerCall. It must not exceed the shards'
	// limit.
	MaxKeysPerCall int
}

// Client is a parameter store backed by remote shards. It implements the
// trainer's ParamStore interface like Local: Pull and Push hash each key to
// its shard (ShardOf), call all shards in parallel, and merge the answers
// into the caller's dst. PullTables and PushTables do the same for several
// tables at once, in one Exchange round trip per shard, and PushPullTables
// pushes and pulls in that one round trip. It is safe for concurrent use.
//
// A Push that fails part-way may have been applied on some shards or some
// chunks: the parameter server has no transactions; jobs recover from the
// last checkpoint.
type Client struct {
	cfg     ClientConfig
	conns   []*grpc.ClientConn
	stubs   []pb.ParamServerClient
	widths  map[string]int
	scratch sync.Pool    // *fanout
	multi   sync.Pool    // *tableFanout
	gen     atomic.Int64 // the generation pushes carry (SetGeneration)
}

// SetGeneration sets the generation that every later push, push-pull and
// exchange carries (0 until it is set: jobs without a coordinator never set
// it). A worker sets it when its coordinator runs it in a new generation,
// before it pushes there; a shard refuses pushes below its fence with
// ErrFenced (see Local.Fence).
func (c *Client) SetGeneration(gen int64) { c.gen.Store(gen) }

// Generation returns the generation pushes carry.
func (c *Client) Generation() int64 { return c.gen.Load() }

// Dial connects to every shard and checks that each serves the shard the map
// says, with the same tables. It fails when a shard is unreachable within
// ctx.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if len(cfg.Shards) == 0 {
		return nil, errors.New("paramserver: no shard addresses")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.MaxMsgBytes == 0 {
		cfg.MaxMsgBytes = DefaultMaxMsgBytes
	}
	if cfg.ChunkBytes == 0 {
		cfg.ChunkBytes = 4 << 20
	}
	cfg.ChunkBytes = max(min(cfg.ChunkBytes, cfg.MaxMsgBytes/2), 64)
	if cfg.MaxKeysPerCall <= 0 {
		cfg.MaxKeysPerCall = DefaultMaxKeysPerCall
	}
	pool, err := wireBufferPool()
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(cfg.MaxMsgBytes), grpc.MaxCallSendMsgSize(cfg.MaxMsgBytes)),
		experimental.WithBufferPool(pool),
	}
	if cfg.TLS != nil {
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if cfg.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCredentials{token: cfg.Token, secure: cfg.TLS != nil}))
	}
	c := &Client{cfg: cfg}
	c.scratch.New = func() any { return new(fanout) }
	c.multi.New = func() any { return new(tableFanout) }
	for _, addr := range cfg.Shards {
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("paramserver: shard %s: %w", addr, err)
		}
		c.conns = append(c.conns, conn)
		c.stubs = append(c.stubs, pb.NewParamServerClient(conn))
	}
	for i, stub := range c.stubs {
		cctx, cancel := c.callCtx(ctx)
		info, err := stub.Info(cctx, &pb.InfoRequest{}, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("paramserver: shard %d at %s: %w", i, cfg.Shards[i], fromStatus(err))
		}
		if int(info.Shard) != i || int(info.Shards) != len(cfg.Shards) {
			c.Close()
			return nil, fmt.Errorf("paramserver: %s serves shard %d of %d, the shard map says %d of %d", cfg.Shards[i], info.Shard, info.Shards, i, len(cfg.Shards))
		}
		widths := make(map[string]int, len(info.Tables))
		for _, t := range info.Tables {
			widths[t.Name] = int(t.Width)
		}
		if i == 0 {
			c.widths = widths
			continue
		}
		if len(widths) != len(c.widths) {
			c.Close()
			return nil, fmt.Errorf("paramserver: shard %d declares %d tables, shard 0 declares %d", i, len(widths), len(c.widths))
		}
		for name, w := range widths {
			if c.widths[name] != w {
				c.Close()
				return nil, fmt.Errorf("paramserver: table %q has width %d on shard %d and %d on shard 0", name, w, i, c.widths[name])
			}
		}
	}
	return c, nil
}

// wireBufferPool returns the buffer pool gRPC marshals requests into and
// reads responses with: tiers at every power of two from 256 bytes to
// 4 MiB. gRPC's default pool jumps from 32 KiB to 1 MiB and zeroes the
// whole buffer it hands out, so every message between the two (a
// training step's Exchange of a few thousand keys) cleared 1 MiB: 12 % of
// the CPU of a 2-worker run at batch 1024.
func wireBufferPool() (mem.BufferPool, error) {
	var exps []uint8
	for e := uint8(8); e <= 22; e++ {
		exps = append(exps, e)
	}
	return mem.NewBinaryTieredBufferPool(exps...)
}

// Close closes the connections.
func (c *Client) Close() error {
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// Shards returns the number of shards.
func (c *Client) Shards() int { return len(c.stubs) }

func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.NotFound:
		return fmt.Errorf("%w (%s)", ErrUnknownTable, msg)
	case codes.Unauthenticated:
		return fmt.Errorf("%w (%s)", ErrUnauthenticated, msg)
	case codes.FailedPrecondition:
		if strings.Contains(msg, ErrWorkerExpired.Error()) {
			return fmt.Errorf("%w (%s)", ErrWorkerExpired, msg)
		}
		if strings.Contains(msg, ErrFenced.Error()) {
			return fmt.Errorf("%w (%s)", ErrFenced, msg)
		}
	case codes.DataLoss:
		return fmt.Errorf("%w (%s)", ErrBadSnapshot, msg)
	case codes.InvalidArgument:
		if strings.Contains(msg, ErrNonFinite.Error()) {
			return fmt.Errorf("%w (%s)", ErrNonFinite, msg)
		}
	case codes.ResourceExhausted:
		if strings.Contains(msg, ErrTooManyKeys.Error()) {
			return fmt.Errorf("%w (%s)", ErrTooManyKeys, msg)
		}
	case codes.Canceled:
		return fmt.Errorf("%w (%s)", context.Canceled, msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w (%s)", context.DeadlineExceeded, msg)
	}
	return err
}

func (c *Client) width(table string) (int, error) {
	w, ok := c.widths[table]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownTable, table)
	}
	return w, nil
}

// chunkKeys returns how many keys of a table of width w fit in one request.
func (c *Client) chunkKeys(w int) int {
	return max(1, min(c.cfg.ChunkBytes/(8+4*w), c.cfg.MaxKeysPerCall))
}

// fanout is the per-call scratch of a sharded request: the caller's keys
// partitioned by shard, their positions in the caller's slice, and each
// shard's values.
type fanout struct {
	keys [][]uint64
	pos  [][]int32
	vals [][]float32
	errs []error
}

func (c *Client) getFanout() *fanout {
	f := c.scratch.Get().(*fanout)
	f.reset(len(c.stubs))
	return f
}

// reset empties f for n shards, keeping its buffers.
func (f *fanout) reset(n int) {
	if len(f.keys) != n {
		f.keys, f.pos, f.vals, f.errs = make([][]uint64, n), make([][]int32, n), make([][]float32, n), make([]error, n)
	}
	for i := range n {
		f.keys[i], f.pos[i], f.vals[i], f.errs[i] = f.keys[i][:0], f.pos[i][:0], f.vals[i][:0], nil
	}
}

// partition splits keys by shard; with vals (width w) it gathers each
// shard's values too.
func (f *fanout) partition(keys []uint64, vals []float32, w int) {
	n := len(f.keys)
	for i, k := range keys {
		s := ShardOf(k, n)
		f.keys[s] = append(f.keys[s], k)
		f.pos[s] = append(f.pos[s], int32(i))
		if vals != nil {
			f.vals[s] = append(f.vals[s], vals[i*w:(i+1)*w]...)
		}
	}
}

// each runs fn for every shard with keys, in parallel, and returns the
// first error.
func (f *fanout) each(fn func(s int) error) error {
	var wg sync.WaitGroup
	last := -1
	for s := range f.keys {
		if len(f.keys[s]) == 0 {
			continue
		}
		if last >= 0 {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				f.errs[s] = fn(s)
			}(last)
		}
		last = s
	}
	if last >= 0 {
		f.errs[last] = fn(last)
	}
	wg.Wait()
	return errors.Join(f.errs...)
}

func (c *Client) shardErr(s int, op, table string, err error) error {
	return fmt.Errorf("paramserver: %s %q on shard %d (%s): %w", op, table, s, c.cfg.Shards[s], fromStatus(err))
}

// pullShard pulls keys from shard s into dst, chunk by chunk.
func (c *Client) pullShard(ctx context.Context, s int, table string, w int, keys []uint64, dst []float32, trainedOnly bool) error {
	step := c.chunkKeys(w)
	for lo := 0; lo < len(keys); lo += step {
		hi := min(lo+step, len(keys))
		cctx, cancel := c.callCtx(ctx)
		resp, err := c.stubs[s].Pull(cctx, &pb.PullRequest{Table: table, Keys: keyBytes(keys[lo:hi]), TrainedOnly: trainedOnly})
		cancel()
		if err != nil {
			return c.shardErr(s, "pull", table, err)
		}
		if err := decodeFloats(dst[lo*w:hi*w], resp.Values); err != nil {
			return fmt.Errorf("paramserver: pull %q on shard %d: %w", table, s, err)
		}
	}
	return nil
}

// pushShard pushes to shard s, chunk by chunk.
func (c *Client) pushShard(ctx context.Context, s int, table string, w int, keys []uint64, grads []float32) error {
	step := c.chunkKeys(w)
	for lo := 0; lo < len(keys); lo += step {
		hi := min(lo+step, len(keys))
		cctx, cancel := c.callCtx(ctx)
		_, err := c.stubs[s].Push(cctx, &pb.PushRequest{Table: table, Keys: keyBytes(keys[lo:hi]), Grads: floatBytes(grads[lo*w : hi*w]), Generation: c.gen.Load()})
		cancel()
		if err != nil {
			return c.shardErr(s, "push", table, err)
		}
	}
	return nil
}

func checkLen(op, table string, keys []uint64, vals []float32, w int) {
	if len(vals) != len(keys)*w {
		panic(fmt.Sprintf("paramserver: %s table %q: %d values for %d keys of width %d", op, table, len(vals), len(keys), w))
	}
}

// Pull copies the rows of keys into dst, as Local.Pull does.
func (c *Client) Pull(ctx context.Context, table string, keys []uint64, dst []float32) error {
	return c.pull(ctx, table, keys, dst, false)
}

// PullTrained is Pull with rows never pushed read as zeros, as
// Local.PullTrained.
func (c *Client) PullTrained(ctx context.Context, table string, keys []uint64, dst []float32) error {
	return c.pull(ctx, table, keys, dst, true)
}

func (c *Client) pull(ctx context.Context, table string, keys []uint64, dst []float32, trainedOnly bool) error {
	w, err := c.width(table)
	if err != nil {
		return err
	}
	checkLen("pull", table, keys, dst, w)
	if len(c.stubs) == 1 {
		return c.pullShard(ctx, 0, table, w, keys, dst, trainedOnly)
	}
	f := c.getFanout()
	defer c.scratch.Put(f)
	f.partition(keys, nil, w)
	err = f.each(func(s int) error {
		f.vals[s] = growFloats(f.vals[s][:0], len(f.keys[s])*w)
		if err := c.pullShard(ctx, s, table, w, f.keys[s], f.vals[s], trainedOnly); err != nil {
			return err
		}
		for j, p := range f.pos[s] {
			copy(dst[int(p)*w:int(p+1)*w], f.vals[s][j*w:(j+1)*w])
		}
		return nil
	})
	return err
}

// Push sends gradients to the shards, which apply the table's optimizer, as
// Local.Push does. A gradient that is not finite or exceeds MaxGradient
// fails the call (ErrNonFinite) before anything is sent, so no shard applies
// any part of it; the shards check again.
func (c *Client) Push(ctx context.Context, table string, keys []uint64, grads []float32) error {
	w, err := c.width(table)
	if err != nil {
		return err
	}
	checkLen("push", table, keys, grads, w)
	if err := checkGrads(table, keys, w, grads); err != nil {
		return err
	}
	if len(c.stubs) == 1 {
		return c.pushShard(ctx, 0, table, w, keys, grads)
	}
	f := c.getFanout()
	defer c.scratch.Put(f)
	f.partition(keys, grads, w)
	return f.each(func(s int) error {
		return c.pushShard(ctx, s, table, w, f.keys[s], f.vals[s])
	})
}

// PushPull pushes grads for pushKeys, then pulls pullKeys into dst, in one
// round trip per shard when the request fits in a chunk. The pull sees the
// push on every shard.
func (c *Client) PushPull(ctx context.Context, table string, pushKeys []uint64, grads []float32, pullKeys []uint64, dst []float32) error {
	w, err := c.width(table)
	if err != nil {
		return err
	}
	checkLen("push", table, pushKeys, grads, w)
	checkLen("pull", table, pullKeys, dst, w)
	if err := checkGrads(table, pushKeys, w, grads); err != nil {
		return err
	}
	limit := c.chunkKeys(w)
	one := func(s int, pk []uint64, g []float32, lk []uint64, out []float32) error {
		if len(pk)+len(lk) > limit {
			if err := c.pushShard(ctx, s, table, w, pk, g); err != nil {
				return err
			}
			return c.pullShard(ctx, s, table, w, lk, out, false)
		}
		cctx, cancel := c.callCtx(ctx)
		resp, err := c.stubs[s].PushPull(cctx, &pb.PushPullRequest{Table: table, PushKeys: keyBytes(pk), Grads: floatBytes(g), PullKeys: keyBytes(lk), Generation: c.gen.Load()})
		cancel()
		if err != nil {
			return c.shardErr(s, "push-pull", table, err)
		}
		return decodeFloats(out, resp.Values)
	}
	if len(c.stubs) == 1 {
		return one(0, pushKeys, grads, pullKeys, dst)
	}
	push, pull := c.getFanout(), c.getFanout()
	defer c.scratch.Put(push)
	defer c.scratch.Put(pull)
	push.partition(pushKeys, grads, w)
	pull.partition(pullKeys, nil, w)
	return eachShard(len(c.stubs), func(s int) error {
		if len(push.keys[s]) == 0 && len(pull.keys[s]) == 0 {
			return nil
		}
		pull.vals[s] = growFloats(pull.vals[s][:0], len(pull.keys[s])*w)
		if err := one(s, push.keys[s], push.vals[s], pull.keys[s], pull.vals[s]); err != nil {
			return err
		}
		for j, p := range pull.pos[s] {
			copy(dst[int(p)*w:int(p+1)*w], pull.vals[s][j*w:(j+1)*w])
		}
		return nil
	})
}

// PullTables pulls several tables at once — keys[i] of tables[i] into
// dst[i], each laid out as Pull's dst — in one round trip per shard: the
// keys of every table are split by shard, each shard gets one Exchange
// request holding its part of every table, the shards are called in
// parallel, and the answers are merged. A shard whose part exceeds
// ChunkBytes gets the chunked per-table calls of Pull instead. It panics
// when the slices' lengths disagree (a programmer error, as in Pull).
func (c *Client) PullTables(ctx context.Context, tables []string, keys [][]uint64, dst [][]float32) error {
	return c.exchange(ctx, "pull", tables, nil, nil, keys, dst)
}

// PushTables pushes several tables at once — grads[i] for keys[i] of
// tables[i], each as Push does — in one round trip per shard, split and
// sent like PullTables. Each shard applies its sections in order. As with
// Push, a call that fails may have been applied on some shards.
func (c *Client) PushTables(ctx context.Context, tables []string, keys [][]uint64, grads [][]float32) error {
	return c.exchange(ctx, "push", tables, keys, grads, nil, nil)
}

// PushPullTables is PushTables(tables, pushKeys, grads) followed by
// PullTables(tables, pullKeys, dst), in one Exchange round trip per shard:
// a shard applies every push section before it reads any pull section, so
// the pulls see the pushes, as with two calls. A shard whose parts exceed
// ChunkBytes gets the chunked per-table pushes, then the pulls. The push
// and pull keys of a table may differ (a training step pushes its batch's
// gradients and pulls the next batch's rows). As with PushTables, a call
// that fails may have been applied on some shards.
//
// On a Deferred (bulk-synchronous) shard a push only accumulates until
// Flush, so the pull reads the rows as they were before the push: pipelining
// a step's push with the next step's pull is only equivalent to two calls
// when the shards apply pushes at once (async or SSP).
func (c *Client) PushPullTables(ctx context.Context, tables []string, pushKeys [][]uint64, grads [][]float32, pullKeys [][]uint64, dst [][]float32) error {
	return c.exchange(ctx, "push-pull", tables, pushKeys, grads, pullKeys, dst)
}

// tableFanout is the pooled scratch of the multi-table calls: the keys of
// each table partitioned by shard (push and pull sides), and per shard the
// Exchange request with its section messages, reused from call to call.
// It also holds the call's arguments, so the per-shard functions take only
// the shard; they are cleared before it goes back to the pool.
type tableFanout struct {
	push, pull []fanout
	widths     []int
	reqs       []*pb.ExchangeRequest
	pushes     [][]*pb.TablePush
	pulls      [][]*pb.TablePull
	errs       []error

	op       string
	tables   []string
	pushKeys [][]uint64
	grads    [][]float32
	pullKeys [][]uint64
	dst      [][]float32
}

func (c *Client) getTableFanout(tables int) *tableFanout {
	tf := c.multi.Get().(*tableFanout)
	n := len(c.stubs)
	if len(tf.reqs) != n {
		tf.reqs, tf.pushes, tf.pulls, tf.errs = make([]*pb.ExchangeRequest, n), make([][]*pb.TablePush, n), make([][]*pb.TablePull, n), make([]error, n)
		for s := range tf.reqs {
			tf.reqs[s] = &pb.ExchangeRequest{}
		}
	}
	clear(tf.errs)
	for len(tf.push) < tables {
		tf.push = append(tf.push, fanout{})
		tf.pull = append(tf.pull, fanout{})
		tf.widths = append(tf.widths, 0)
	}
	if n > 1 {
		for i := range tables {
			tf.push[i].reset(n)
			tf.pull[i].reset(n)
		}
	}
	return tf
}

// release drops the references to the caller's memory and pools tf.
func (c *Client) release(tf *tableFanout) {
	tf.tables, tf.pushKeys, tf.grads, tf.pullKeys, tf.dst = nil, nil, nil, nil, nil
	c.multi.Put(tf)
}

// pushPart returns table i's push keys and gradients on shard s: the
// caller's own slices when there is one shard, the partitioned copies
// otherwise; nil when the call pushes nothing.
func (tf *tableFanout) pushPart(s, i int) ([]uint64, []float32) {
	if tf.pushKeys == nil {
		return nil, nil
	}
	if len(tf.reqs) == 1 {
		return tf.pushKeys[i], tf.grads[i]
	}
	return tf.push[i].keys[s], tf.push[i].vals[s]
}

// pullPart is pushPart for the pull side: keys and where their rows land.
func (tf *tableFanout) pullPart(s, i int) ([]uint64, []float32) {
	if tf.pullKeys == nil {
		return nil, nil
	}
	if len(tf.reqs) == 1 {
		return tf.pullKeys[i], tf.dst[i]
	}
	return tf.pull[i].keys[s], tf.pull[i].vals[s]
}

// exchange implements PullTables (push side nil), PushTables (pull side
// nil) and PushPullTables.
func (c *Client) exchange(ctx context.Context, op string, tables []string, pushKeys [][]uint64, grads [][]float32, pullKeys [][]uint64, dst [][]float32) error {
	push, pull := pushKeys != nil || grads != nil, pullKeys != nil || dst != nil
	if push && (len(pushKeys) != len(tables) || len(grads) != len(tables)) ||
		pull && (len(pullKeys) != len(tables) || len(dst) != len(tables)) {
		panic(fmt.Sprintf("paramserver: %s tables: %d tables, %d push key slices, %d gradient slices, %d pull key slices, %d value slices",
			op, len(tables), len(pushKeys), len(grads), len(pullKeys), len(dst)))
	}
	tf := c.getTableFanout(len(tables))
	defer c.release(tf)
	tf.op, tf.tables, tf.pushKeys, tf.grads, tf.pullKeys, tf.dst = op, tables, pushKeys, grads, pullKeys, dst
	for i, name := range tables {
		w, err := c.width(name)
		if err != nil {
			return err
		}
		if push {
			checkLen("push", name, pushKeys[i], grads[i], w)
			// Checked here too, so a bad value refuses the call on every
			// shard, not only on the one that owns its key.
			if err := checkGrads(name, pushKeys[i], w, grads[i]); err != nil {
				return err
			}
		}
		if pull {
			checkLen("pull", name, pullKeys[i], dst[i], w)
		}
		tf.widths[i] = w
	}
	n := len(c.stubs)
	if n == 1 {
		return c.exchangeShard(ctx, 0, tf)
	}
	for i := range tables {
		if push {
			tf.push[i].partition(pushKeys[i], grads[i], tf.widths[i])
		}
		if pull {
			tf.pull[i].partition(pullKeys[i], nil, tf.widths[i])
		}
	}
	var wg sync.WaitGroup
	last := -1
	for s := range n {
		busy := false
		for i := range tables {
			busy = busy || len(tf.push[i].keys[s]) > 0 || len(tf.pull[i].keys[s]) > 0
		}
		if !busy {
			continue
		}
		if last >= 0 {
			wg.Add(1)
			go func(s int) {
				defer wg.Done()
				tf.errs[s] = c.exchangeShard(ctx, s, tf)
			}(last)
		}
		last = s
	}
	if last >= 0 {
		tf.errs[last] = c.exchangeShard(ctx, last, tf)
	}
	wg.Wait()
	return errors.Join(tf.errs...)
}

// exchangeShard sends shard s its part of every table — one Exchange call,
// or the chunked per-table calls when the part exceeds ChunkBytes — and,
// for a pull of a sharded client, scatters the rows into the caller's dst.
func (c *Client) exchangeShard(ctx context.Context, s int, tf *tableFanout) error {
	size, keys := 0, 0
	sharded := len(tf.reqs) > 1
	for i := range tf.tables {
		w := tf.widths[i]
		k, _ := tf.pushPart(s, i)
		size += len(k) * (8 + 4*w)
		keys += len(k)
		k, _ = tf.pullPart(s, i)
		size += len(k) * (8 + 4*w)
		keys += len(k)
		if tf.pullKeys != nil && sharded {
			f := &tf.pull[i]
			f.vals[s] = growFloats(f.vals[s][:0], len(k)*w)
		}
	}
	var err error
	if size > c.cfg.ChunkBytes || keys > c.cfg.MaxKeysPerCall {
		err = c.exchangeChunked(ctx, s, tf)
	} else {
		err = c.exchangeOnce(ctx, s, tf)
	}
	if err != nil || tf.pullKeys == nil || !sharded {
		return err
	}
	for i := range tf.tables {
		f, w := &tf.pull[i], tf.widths[i]
		for j, p := range f.pos[s] {
			copy(tf.dst[i][int(p)*w:int(p+1)*w], f.vals[s][j*w:(j+1)*w])
		}
	}
	return nil
}

// exchangeChunked is exchangeShard's fallback: table by table, the chunked
// calls Push and then Pull make.
func (c *Client) exchangeChunked(ctx context.Context, s int, tf *tableFanout) error {
	for i, name := range tf.tables {
		if k, g := tf.pushPart(s, i); len(k) > 0 {
			if err := c.pushShard(ctx, s, name, tf.widths[i], k, g); err != nil {
				return err
			}
		}
	}
	for i, name := range tf.tables {
		if k, v := tf.pullPart(s, i); len(k) > 0 {
			if err := c.pullShard(ctx, s, name, tf.widths[i], k, v, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// exchangeOnce sends shard s one Exchange request with a push and a pull
// section for every table that has keys there, built in tf's reused
// messages.
func (c *Client) exchangeOnce(ctx context.Context, s int, tf *tableFanout) error {
	// tf.pushes[s] and tf.pulls[s] keep every section message ever built
	// for shard s; this request uses the first ones, in table order.
	req := tf.reqs[s]
	np, nl := 0, 0
	for i, name := range tf.tables {
		if k, g := tf.pushPart(s, i); len(k) > 0 {
			if np == len(tf.pushes[s]) {
				tf.pushes[s] = append(tf.pushes[s], &pb.TablePush{})
			}
			sec := tf.pushes[s][np]
			sec.Table, sec.Keys, sec.Grads = name, keyBytes(k), floatBytes(g)
			np++
		}
		if k, _ := tf.pullPart(s, i); len(k) > 0 {
			if nl == len(tf.pulls[s]) {
				tf.pulls[s] = append(tf.pulls[s], &pb.TablePull{})
			}
			sec := tf.pulls[s][nl]
			sec.Table, sec.Keys = name, keyBytes(k)
			nl++
		}
	}
	if np+nl == 0 {
		return nil
	}
	req.Pushes, req.Pulls, req.Generation = tf.pushes[s][:np], tf.pulls[s][:nl], c.gen.Load()
	// Drop the references to the caller's memory once the call is done.
	defer func() {
		for _, sec := range req.Pushes {
			sec.Table, sec.Keys, sec.Grads = "", nil, nil
		}
		for _, sec := range req.Pulls {
			sec.Table, sec.Keys = "", nil
		}
		req.Pushes, req.Pulls = nil, nil
	}()
	cctx, cancel := c.callCtx(ctx)
	resp, err := c.stubs[s].Exchange(cctx, req)
	cancel()
	if err != nil {
		return fmt.Errorf("paramserver: %s tables %q on shard %d (%s): %w", tf.op, tf.tables, s, c.cfg.Shards[s], fromStatus(err))
	}
	if len(resp.Values) != nl {
		return fmt.Errorf("paramserver: %s tables %q on shard %d: %d values fields for %d pull sections", tf.op, tf.tables, s, len(resp.Values), nl)
	}
	j := 0
	for i, name := range tf.tables {
		k, v := tf.pullPart(s, i)
		if len(k) == 0 {
			continue
		}
		if err := decodeFloats(v, resp.Values[j]); err != nil {
			return fmt.Errorf("paramserver: pull %q on shard %d: %w", name, s, err)
		}
		j++
	}
	return nil
}

// eachShard runs fn for shards 0..n-1 in parallel and joins the errors.
func eachShard(n int, fn func(s int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for s := 1; s < n; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[s] = fn(s)
		}()
	}
	errs[0] = fn(0)
	wg.Wait()
	return errors.Join(errs...)
}

// Join adds worker to the job's clock table (kept by shard 0) and returns
// the clock it starts at.
func (c *Client) Join(ctx context.Context, worker string) (int64, error) {
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.stubs[0].Join(cctx, &pb.JoinRequest{Worker: worker})
	if err != nil {
		return 0, c.shardErr(0, "join", worker, err)
	}
	return resp.Clock, nil
}

// Clock reports that worker finished clock steps and blocks until the job's
// consistency model lets it start the next one (see Clocks.Advance). It
// returns the smallest clock of the live workers.
func (c *Client) Clock(ctx context.Context, worker string, clock int64) (int64, error) {
	resp, err := c.stubs[0].Clock(ctx, &pb.ClockRequest{Worker: worker, Clock: clock})
	if err != nil {
		return 0, c.shardErr(0, "clock", worker, err)
	}
	return resp.MinClock, nil
}

// Flush makes every shard apply the gradients it accumulated for clock (see
// Local.Flush); bulk-synchronous workers call it after each barrier, before
// their next pull.
func (c *Client) Flush(ctx context.Context, clock int64) error {
	return eachShard(len(c.stubs), func(s int) error {
		cctx, cancel := c.callCtx(ctx)
		defer cancel()
		if _, err := c.stubs[s].Flush(cctx, &pb.FlushRequest{Clock: clock}); err != nil {
			return c.shardErr(s, "flush", "", err)
		}
		return nil
	})
}

// Leave removes worker from the job's clock table.
func (c *Client) Leave(ctx context.Context, worker string) error {
	cctx, cancel := c.callCtx(ctx)
	defer cancel()
	if _, err := c.stubs[0].Leave(cctx, &pb.LeaveRequest{Worker: worker}); err != nil {
		return c.shardErr(0, "leave", worker, err)
	}
	return nil
}

// Snapshot makes every shard write its tables to its lake as checkpoint
// name, in parallel, and returns the keys written. Call it at a barrier
// (no pushes in flight) for a consistent checkpoint.
func (c *Client) Snapshot(ctx context.Context, name string) ([]string, error) {
	keys := make([]string, len(c.stubs))
	err := eachShard(len(c.stubs), func(s int) error {
		cctx, cancel := c.callCtx(ctx)
		defer cancel()
		resp, err := c.stubs[s].Snapshot(cctx, &pb.SnapshotRequest{Name: name})
		if err != nil {
			return c.shardErr(s, "snapshot", name, err)
		}
		keys[s] = resp.Key
		return nil
	})
	return keys, err
}

// Restore makes every shard replace its tables with checkpoint name.
func (c *Client) Restore(ctx context.Context, name string) error {
	return eachShard(len(c.stubs), func(s int) error {
		cctx, cancel := c.callCtx(ctx)
		defer cancel()
		if _, err := c.stubs[s].Restore(cctx, &pb.RestoreRequest{Name: name}); err != nil {
			return c.shardErr(s, "restore", name, err)
		}
		return nil
	})
}

// Fence raises every shard's push fence to gen (Local.Fence) and returns
// the highest fence of the shards after the call (above gen when a shard
// was fenced higher before, e.g. by a coordinator that restarted since):
// once it returns, every shard refuses pushes of earlier generations and
// none is being applied. Coordinators call it before a restore.
func (c *Client) Fence(ctx context.Context, gen int64) (int64, error) {
	fences := make([]int64, len(c.stubs))
	err := eachShard(len(c.stubs), func(s int) error {
		cctx, cancel := c.callCtx(ctx)
		defer cancel()
		resp, err := c.stubs[s].Fence(cctx, &pb.FenceRequest{Generation: gen})
		if err != nil {
			return c.shardErr(s, "fence", "", err)
		}
		fences[s] = resp.Generation
		return nil
	})
	if err != nil {
		return 0, err
	}
	return slices.Max(fences), nil
}

// Info returns the description each shard gives of itself.
func (c *Client) Info(ctx context.Context) ([]*pb.InfoResponse, error) {
	out := make([]*pb.InfoResponse, len(c.stubs))
	err := eachShard(len(c.stubs), func(s int) error {
		cctx, cancel := c.callCtx(ctx)
		defer cancel()
		resp, err := c.stubs[s].Info(cctx, &pb.InfoRequest{})
		if err != nil {
			return c.shardErr(s, "info", "", err)
		}
		out[s] = resp
		return nil
	})
	return out, err
}

// Instances returns each shard's instance id, which changes when the shard
// process restarts.
func (c *Client) Instances(ctx context.Context) ([]uint64, error) {
	infos, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(infos))
	for i, in := range infos {
		ids[i] = in.Instance
	}
	return ids, nil
}
