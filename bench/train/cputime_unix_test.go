//go:build unix

package train

import "syscall"

// cpuSeconds returns the CPU time (user + system, all threads) the process
// has used so far. On a shared machine examples per CPU-second is a steadier
// figure than examples per wall-second, which counts time the scheduler gave
// to other processes.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
