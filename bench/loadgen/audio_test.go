package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

func TestChunkBytes(t *testing.T) {
	cases := []struct {
		f       audioFormat
		chunkMs int
		want    int
	}{
		{audioFormat{encLinear16, 16000, 1}, 20, 640},
		{audioFormat{encLinear16, 24000, 2}, 20, 1920},
		{audioFormat{encFloat32, 16000, 1}, 20, 1280},
		{audioFormat{encFloat32, 44100, 2}, 10, 3528},
	}
	for _, c := range cases {
		got, err := c.f.chunkBytes(c.chunkMs)
		if err != nil || got != c.want {
			t.Errorf("%+v %d ms: %d, %v; want %d", c.f, c.chunkMs, got, err, c.want)
		}
	}
	if _, err := (audioFormat{encLinear16, 11025, 1}).chunkBytes(20); err == nil {
		t.Error("220.5 samples per chunk accepted")
	}
}

// The chunks, joined, are the continuous tone: the same bytes as one long rendering.
func TestToneChunksAreContinuous(t *testing.T) {
	for _, f := range []audioFormat{{encLinear16, 16000, 1}, {encFloat32, 22050, 2}} {
		chunkSize, err := f.chunkBytes(20)
		if err != nil {
			t.Fatal(err)
		}
		src := newToneSource(f, chunkSize)
		var joined bytes.Buffer
		chunks := 3 * 1000 / 20 // three seconds: crosses the loop twice
		for k := range chunks {
			c := src.chunk(k)
			if len(c) != chunkSize {
				t.Fatalf("chunk %d has %d bytes, want %d", k, len(c), chunkSize)
			}
			joined.Write(c)
		}
		data := joined.Bytes()
		frames := len(data) / f.frameBytes()
		for i := range frames {
			tsec := float64(i%f.rate) / float64(f.rate)
			for ch := range f.channels {
				hz := []float64{toneLeftHz, toneRightHz}[ch]
				want := toneLevel * math.Sin(2*math.Pi*hz*tsec)
				at := (i*f.channels + ch) * f.sampleWidth()
				var got float64
				if f.encoding == encFloat32 {
					got = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[at:])))
				} else {
					got = float64(int16(binary.LittleEndian.Uint16(data[at:]))) / 32767
				}
				if math.Abs(got-want) > 1e-4 {
					t.Fatalf("%+v frame %d ch %d: %f, want %f", f, i, ch, got, want)
				}
			}
		}
	}
}

func TestTonePeriod(t *testing.T) {
	for _, c := range []struct {
		f       audioFormat
		chunkMs int
		want    int
	}{
		{audioFormat{encLinear16, 16000, 1}, 20, 50},
		{audioFormat{encLinear16, 16000, 1}, 30, 100},
		{audioFormat{encFloat32, 48000, 2}, 1000, 1},
	} {
		size, _ := c.f.chunkBytes(c.chunkMs)
		src := newToneSource(c.f, size)
		if got := src.period(); got != c.want {
			t.Errorf("%+v %d ms: period %d, want %d", c.f, c.chunkMs, got, c.want)
		}
		for k := range 3 * c.want {
			if !bytes.Equal(src.chunk(k), src.chunk(k%c.want)) {
				t.Fatalf("%+v %d ms: chunk %d differs from chunk %d", c.f, c.chunkMs, k, k%c.want)
			}
		}
	}
}
