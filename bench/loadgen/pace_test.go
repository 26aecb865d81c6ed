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

// Jittered starts stay in their own slot of the ramp, repeat with the seed, and spread the
// chunk phases that exact slots would line up (50 starts a second, 20 ms chunks).
func TestStartOffsets(t *testing.T) {
	const n, ramp, chunk = 200, 4 * time.Second, 20 * time.Millisecond
	exact := startOffsets(n, ramp, false, 1)
	jittered := startOffsets(n, ramp, true, 1)
	const slot = ramp / n
	phases := map[time.Duration]int{}
	for i := range n {
		if exact[i] != slot*time.Duration(i) {
			t.Fatalf("exact start %d at %v, want %v", i, exact[i], slot*time.Duration(i))
		}
		if jittered[i] < exact[i] || jittered[i] >= exact[i]+slot {
			t.Fatalf("jittered start %d at %v, outside its slot [%v, %v)", i, jittered[i], exact[i], exact[i]+slot)
		}
		phases[(jittered[i]%chunk)/(chunk/10)]++ // which tenth of the chunk period
	}
	for tenth := range time.Duration(10) {
		if got := phases[tenth]; got < n/10/3 { // about 20 each; far from all in one tenth
			t.Errorf("%d of %d starts in tenth %d of the chunk period: phases not spread (%v)", got, n, tenth, phases)
		}
	}
	again := startOffsets(n, ramp, true, 1)
	other := startOffsets(n, ramp, true, 2)
	same, differ := true, false
	for i := range n {
		same = same && again[i] == jittered[i]
		differ = differ || other[i] != jittered[i]
	}
	if !same || !differ {
		t.Errorf("the same seed must give the same starts (%v) and another seed others (%v)", same, differ)
	}
	if got := startOffsets(3, 0, true, 1); got[0] != 0 || got[1] != 0 || got[2] != 0 {
		t.Errorf("no ramp: every stream starts at once, got %v", got)
	}
}
