// Package datastreamtest provides test doubles for package datastream: a
// fake clock, a scripted source with positions, a collecting sink and an
// in-memory checkpoint store.
package datastreamtest
