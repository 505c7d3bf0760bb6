// Package scheduletest has a fake Clock for tests of package train/schedule
// and of code that drives a scheduler on fake time.
package scheduletest
