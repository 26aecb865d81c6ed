package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// monoClock converts Go time readings to CLOCK_MONOTONIC seconds, the clock of the
// simulator's records (Python's time.monotonic).
//
// Go's monotonic clock on Linux is CLOCK_MONOTONIC itself (the runtime reads it through the
// vDSO), so the two differ by a constant: one anchor pair, read with unix.ClockGettime, is
// enough, and every later reading costs a vDSO call instead of a system call. The anchor is
// the tightest of a few brackets, so it is exact to well under a microsecond.
type monoClock struct {
	anchorGo   time.Time
	anchorMono int64 // CLOCK_MONOTONIC nanoseconds at anchorGo
}

func clockMonotonicNs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}

func newMonoClock() *monoClock {
	best := &monoClock{}
	bestWidth := int64(1 << 62)
	for range 16 {
		before := clockMonotonicNs()
		now := time.Now()
		after := clockMonotonicNs()
		if width := after - before; width < bestWidth {
			bestWidth = width
			best.anchorGo, best.anchorMono = now, before+width/2
		}
	}
	return best
}

// ns is t in CLOCK_MONOTONIC nanoseconds.
func (c *monoClock) ns(t time.Time) int64 { return c.anchorMono + int64(t.Sub(c.anchorGo)) }

// seconds is t in CLOCK_MONOTONIC seconds.
func (c *monoClock) seconds(t time.Time) float64 { return float64(c.ns(t)) / 1e9 }

// driftNs is how far the anchor has moved from a fresh CLOCK_MONOTONIC reading (a sanity
// check: it stays within a few microseconds unless the two clocks are not the same).
func (c *monoClock) driftNs() int64 {
	before := clockMonotonicNs()
	now := time.Now()
	after := clockMonotonicNs()
	return c.ns(now) - (before+after)/2
}
