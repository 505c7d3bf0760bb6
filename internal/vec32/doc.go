// Package vec32 holds the float32 vector kernels of the deep models' towers:
// y += α·x (Axpy) and x·y (Dot). On amd64 with AVX2 and FMA they run eight
// lanes per instruction with fused multiply-adds (assembly in this package);
// elsewhere, and in TestKernelsMatchGo's reference, they are plain Go loops.
// Results may differ from the Go loops in the last bits: a fused
// multiply-add rounds once, and Dot sums in a different order.
package vec32
