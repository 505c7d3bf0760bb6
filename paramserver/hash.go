package paramserver

import (
	"math"
	"math/bits"
)

// mix64 is the splitmix64 finalizer: a bijection of uint64 with good
// avalanche, used for table positions and initialization.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// shardSalt decorrelates the shard hash from the in-table hash: the keys of
// one shard must still spread over every stripe and slot of its tables.
const shardSalt = 0x6a09e667f3bcc909

// ShardOf returns the shard, in [0, n), that owns key. Every client and shard
// of a job must agree on it; it depends only on key and n.
func ShardOf(key uint64, n int) int {
	hi, _ := bits.Mul64(mix64(key^shardSalt), uint64(n))
	return int(hi)
}

// initValue returns element j of the initial row of key: 0 for "zero",
// a N(0, std²) draw that depends only on (seed, key, j) for "normal".
func initValue(c *InitConfig, key uint64, j int) float32 {
	if c.Kind != InitNormal || c.Std == 0 {
		return 0
	}
	h := mix64(c.Seed ^ mix64(key+0x9e3779b97f4a7c15*uint64(j+1)))
	h2 := mix64(h + 0x9e3779b97f4a7c15)
	// Box–Muller with u1 in (0, 1] so the log is finite.
	u1 := (float64(h>>11) + 1) / (1 << 53)
	u2 := float64(h2>>11) / (1 << 53)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return float32(z * c.Std)
}

// initRow writes the initial row of key into dst.
func initRow(c *InitConfig, key uint64, dst []float32) {
	if c.Kind != InitNormal || c.Std == 0 {
		clear(dst)
		return
	}
	for j := range dst {
		dst[j] = initValue(c, key, j)
	}
}
