package main

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Encodings the load generator can produce.
const (
	encLinear16 = "LINEAR16"
	encFloat32  = "FLOAT32"
)

// Tone frequencies: integers, so one second holds whole periods and the one-second loop
// repeats without a click. The right channel of stereo gets its own tone.
const (
	toneLeftHz  = 440
	toneRightHz = 660
	toneLevel   = 0.3
)

// audioFormat is the shape of the generated audio.
type audioFormat struct {
	encoding string // encLinear16 or encFloat32
	rate     int    // samples per second per channel
	channels int    // 1 or 2, interleaved
}

func (f audioFormat) sampleWidth() int {
	if f.encoding == encFloat32 {
		return 4
	}
	return 2
}

func (f audioFormat) frameBytes() int { return f.sampleWidth() * f.channels }

// chunkBytes is the size of chunkMs of audio; an error unless chunkMs is whole samples.
func (f audioFormat) chunkBytes(chunkMs int) (int, error) {
	if chunkMs <= 0 {
		return 0, fmt.Errorf("--chunk-ms must be positive")
	}
	if f.rate*chunkMs%1000 != 0 {
		return 0, fmt.Errorf("--chunk-ms %d at %d Hz is not a whole number of samples", chunkMs, f.rate)
	}
	return f.rate * chunkMs / 1000 * f.frameBytes(), nil
}

// toneSource hands out the chunks of a deterministic tone. Chunk k is the audio of
// [k*chunk, (k+1)*chunk) of an endless tone, cut from a one-second loop that is extended by
// one chunk so that every chunk is one contiguous, read-only slice: no copy and no
// allocation per chunk, and all streams share the same memory.
type toneSource struct {
	loop       []byte
	secondSize int // bytes of one second
	chunkSize  int
}

func newToneSource(f audioFormat, chunkSize int) *toneSource {
	secondSize := f.rate * f.frameBytes()
	frames := f.rate + (chunkSize+f.frameBytes()-1)/f.frameBytes()
	loop := make([]byte, 0, frames*f.frameBytes())
	for i := range frames {
		t := float64(i%f.rate) / float64(f.rate)
		for ch := range f.channels {
			hz := toneLeftHz
			if ch == 1 {
				hz = toneRightHz
			}
			v := toneLevel * math.Sin(2*math.Pi*float64(hz)*t)
			if f.encoding == encFloat32 {
				loop = binary.LittleEndian.AppendUint32(loop, math.Float32bits(float32(v)))
			} else {
				loop = binary.LittleEndian.AppendUint16(loop, uint16(int16(math.Round(v*32767))))
			}
		}
	}
	return &toneSource{loop: loop, secondSize: secondSize, chunkSize: chunkSize}
}

// chunk is chunk k of the tone; never modify it.
func (s *toneSource) chunk(k int) []byte {
	offset := (k * s.chunkSize) % s.secondSize
	return s.loop[offset : offset+s.chunkSize : offset+s.chunkSize]
}

// period is how many distinct chunks there are: chunk k equals chunk k % period.
func (s *toneSource) period() int {
	a, b := s.chunkSize, s.secondSize
	for b != 0 {
		a, b = b, a%b
	}
	return s.secondSize / a
}
