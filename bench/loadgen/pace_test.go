package main

import (
	"context"
	"errors"
	"testing"
	"time"
)

func testRunner(chunks int, chunkMs int) *runner {
	f := audioFormat{encLinear16, 16000, 1}
	size, _ := f.chunkBytes(chunkMs)
	return &runner{
		cfg:        &config{chunkMs: chunkMs, format: f},
		clock:      newMonoClock(),
		tone:       newToneSource(f, size),
		chunkBytes: size,
		chunks:     chunks,
		chunkDur:   time.Duration(chunkMs) * time.Millisecond,
	}
}

// No chunk goes out before its due time, and a slow send does not shift the schedule:
// chunks already due go out back to back, then the schedule resumes on the original grid.
func TestPaceAbsoluteSchedule(t *testing.T) {
	r := testRunner(10, 10)
	rec := &streamRecord{}
	var sendTimes []time.Duration
	t0 := time.Now()
	err := r.pace(context.Background(), rec, t0, func(chunk []byte) error {
		sendTimes = append(sendTimes, time.Since(t0))
		if len(chunk) != r.chunkBytes {
			t.Errorf("chunk of %d bytes, want %d", len(chunk), r.chunkBytes)
		}
		if len(sendTimes) == 3 {
			time.Sleep(35 * time.Millisecond) // chunk 2's send blocks past chunks 3-5's due times
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	offsets := rec.snapshot().SendOffsetsUs
	if len(offsets) != 10 || len(sendTimes) != 10 {
		t.Fatalf("%d offsets, %d sends; want 10", len(offsets), len(sendTimes))
	}
	for k, off := range offsets {
		due := int64(k) * 10_000
		if off < due {
			t.Errorf("chunk %d sent at %d us, before its due time %d us", k, off, due)
		}
	}
	// Chunks 3..5 were due during the blocked send: they follow at once.
	if offsets[5]-offsets[3] > 3_000 {
		t.Errorf("chunks 3-5 (already due) spread over %d us, want back to back", offsets[5]-offsets[3])
	}
	// Chunk 6 is due at 60 ms: not earlier (no burst beyond the schedule), not shifted by 35 ms.
	if offsets[6] < 60_000 || offsets[6] > 65_000+int64(20*time.Millisecond/time.Microsecond) {
		t.Errorf("chunk 6 at %d us, want at about 60000", offsets[6])
	}
}

func TestPaceStopsOnSendError(t *testing.T) {
	r := testRunner(10, 10)
	rec := &streamRecord{}
	boom := errors.New("boom")
	n := 0
	err := r.pace(context.Background(), rec, time.Now(), func([]byte) error {
		n++
		if n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 2 {
		t.Fatalf("err %v after %d sends; want boom after 2", err, n)
	}
}

func TestPaceStopsOnCancel(t *testing.T) {
	r := testRunner(1000, 200)
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("stop")
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	start := time.Now()
	err := r.pace(ctx, &streamRecord{}, time.Now(), func([]byte) error { return nil })
	if !errors.Is(err, cause) {
		t.Fatalf("err %v, want the cause", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Fatalf("pace took %v to notice the cancellation", elapsed)
	}
}

func TestMonoClockMatchesClockGettime(t *testing.T) {
	c := newMonoClock()
	time.Sleep(10 * time.Millisecond)
	if drift := c.driftNs(); drift < -50_000 || drift > 50_000 {
		t.Fatalf("Go's monotonic clock drifts %d ns from CLOCK_MONOTONIC", drift)
	}
	before := clockMonotonicNs()
	got := c.ns(time.Now())
	after := clockMonotonicNs()
	if got < before-50_000 || got > after+50_000 {
		t.Fatalf("mapped %d outside [%d, %d]", got, before, after)
	}
}
