// Command dh-load drives N concurrent real-time audio streams, through dh-gateway (gRPC) or
// straight to the vendor's API and WebSocket (the simulator), and records when every chunk
// was sent, in CLOCK_MONOTONIC, so that the times compare with the simulator's records.
//
//	dh-load --mode gateway --addr 127.0.0.1:50051 --streams 100 --seconds 20 --out r.json
//	dh-load --mode direct --api http://127.0.0.1:8080/ --app-id N --secret S --streams 100
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Exit statuses.
const (
	exitOK     = 0 // every stream completed
	exitFailed = 1 // the report is written, but some stream failed (or the run was cut short)
	exitUsage  = 2 // bad flags, or the report could not be written
)

// How long the run waits for its streams to wind down once it is cancelled (timeout or
// signal) before it writes what it has.
const windDown = 3 * time.Second

var (
	errRunTimeout = errors.New("loadgen: run timeout (--timeout-s)")
	errInterrupt  = errors.New("loadgen: interrupted by a signal")
)

type config struct {
	mode       string
	addr       string
	conns      int
	api        string
	apiURL     *url.URL
	appID      uint32
	secret     string
	streams    int
	seconds    float64
	chunkMs    int
	format     audioFormat
	rampS      float64
	jitter     bool
	seed       uint64
	taskPrefix string
	out        string
	timeoutS   float64
	cpuProfile string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("dh-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	var appID uint64
	var encoding string
	fs.StringVar(&c.mode, "mode", "gateway", "gateway (through dh-gateway, gRPC) or direct (vendor API + WebSocket)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:50051", "gateway mode: the gateway's gRPC address")
	fs.IntVar(&c.conns, "conns", 0, "gateway mode: shared gRPC connections (0: ceil(streams/100))")
	fs.StringVar(&c.api, "api", "", "direct mode: the API base URL (the simulator's, e.g. http://127.0.0.1:8080/)")
	fs.Uint64Var(&appID, "app-id", 0, "direct mode: the AppId")
	fs.StringVar(&c.secret, "secret", "", "direct mode: the ServerSecret (or $DH_LOAD_SECRET)")
	fs.IntVar(&c.streams, "streams", 1, "concurrent streams")
	fs.Float64Var(&c.seconds, "seconds", 20, "audio per stream (s)")
	fs.IntVar(&c.chunkMs, "chunk-ms", 20, "audio per chunk (ms), sent at 1x")
	fs.IntVar(&c.format.rate, "rate", 16000, "input sample rate (Hz); direct mode: 16000 or 24000")
	fs.IntVar(&c.format.channels, "channels", 1, "1 or 2 (interleaved)")
	fs.StringVar(&encoding, "encoding", encLinear16, "LINEAR16 or FLOAT32 (direct mode: LINEAR16)")
	fs.Float64Var(&c.rampS, "ramp-s", 2, "start the streams spread evenly over this window (s)")
	fs.BoolVar(&c.jitter, "start-jitter", true, "start each stream at a random point of its slot of the ramp (false: exactly i*ramp/N)")
	fs.Uint64Var(&c.seed, "seed", 1, "the seed of --start-jitter (the same seed, the same starts)")
	fs.StringVar(&c.taskPrefix, "task-prefix", "bench-", "task id prefix (task ids are prefix + index)")
	fs.StringVar(&c.out, "out", "results.json", "the JSON report")
	fs.Float64Var(&c.timeoutS, "timeout-s", 120, "hard bound on the whole run (s)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.format.encoding = strings.ToUpper(encoding)
	if c.secret == "" {
		c.secret = os.Getenv("DH_LOAD_SECRET")
	}
	switch {
	case c.mode != "gateway" && c.mode != "direct":
		return nil, fmt.Errorf("--mode must be gateway or direct, not %q", c.mode)
	case c.streams < 1:
		return nil, fmt.Errorf("--streams must be at least 1")
	case !(c.seconds > 0):
		return nil, fmt.Errorf("--seconds must be positive")
	case c.format.encoding != encLinear16 && c.format.encoding != encFloat32:
		return nil, fmt.Errorf("--encoding must be LINEAR16 or FLOAT32, not %q", encoding)
	case c.format.channels != 1 && c.format.channels != 2:
		return nil, fmt.Errorf("--channels must be 1 or 2")
	case c.format.rate < 1:
		return nil, fmt.Errorf("--rate must be positive")
	case c.rampS < 0 || math.IsNaN(c.rampS):
		return nil, fmt.Errorf("--ramp-s must not be negative")
	case !(c.timeoutS > 0):
		return nil, fmt.Errorf("--timeout-s must be positive")
	case c.out == "":
		return nil, fmt.Errorf("--out is required")
	}
	if _, err := c.format.chunkBytes(c.chunkMs); err != nil {
		return nil, err
	}
	if c.mode == "gateway" {
		if c.conns < 0 {
			return nil, fmt.Errorf("--conns must not be negative")
		}
		if c.conns == 0 {
			c.conns = (c.streams + 99) / 100
		}
		c.conns = min(c.conns, c.streams)
		return c, nil
	}
	// Direct mode: what the vendor accepts (zego-api.md §8, §9).
	if c.format.rate != 16000 && c.format.rate != 24000 {
		return nil, fmt.Errorf("direct mode: --rate must be 16000 or 24000 (the vendor's rates)")
	}
	if c.format.encoding != encLinear16 {
		return nil, fmt.Errorf("direct mode: --encoding must be LINEAR16 (the vendor takes 16-bit PCM)")
	}
	if appID == 0 || appID > math.MaxUint32 {
		return nil, fmt.Errorf("direct mode: --app-id must be a Uint32 above 0")
	}
	c.appID = uint32(appID)
	if c.secret == "" {
		return nil, fmt.Errorf("direct mode: --secret (or $DH_LOAD_SECRET) is required")
	}
	u, err := url.Parse(c.api)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("direct mode: --api must be an http(s) URL, not %q", c.api)
	}
	c.apiURL = u
	return c, nil
}

// runner holds what every stream shares.
type runner struct {
	cfg        *config
	clock      *monoClock
	tone       *toneSource
	chunkBytes int
	chunks     int
	chunkDur   time.Duration
	streaming  atomic.Int64 // streams between t0 and their end
	completed  atomic.Int64
	failed     atomic.Int64
}

// pace sends the chunks on the absolute schedule t0 + k*chunk-ms: it sleeps until chunk k is
// due, never sends a chunk early, and never drifts (a late chunk does not delay the next
// one's due time; chunks already due go out back to back, as the schedule says). It records
// each send call's offset from t0 and stops at the first send error or when ctx ends.
func (r *runner) pace(ctx context.Context, rec *streamRecord, t0 time.Time, send func([]byte) error) error {
	var slowest time.Duration
	defer func() { rec.update(func(res *StreamResult) { res.MaxSendUs = slowest.Microseconds() }) }()
	for k := range r.chunks {
		due := t0.Add(time.Duration(k) * r.chunkDur)
		if err := sleepUntil(ctx, due); err != nil {
			return err
		}
		called := time.Now()
		rec.addOffset(called.Sub(t0).Microseconds())
		err := send(r.tone.chunk(k))
		if took := time.Since(called); took > slowest {
			slowest = took
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// startOffsets says when each of n streams starts, from the run's start: stream i in the i-th
// of n equal slots of ramp, at the slot's beginning, or with jitter at a uniformly random point
// of it (a PCG stream from seed, so a run can be repeated). Why jitter: independent clients'
// chunk phases are unrelated, but starts exactly ramp/n apart line every stream's chunks up
// whenever that spacing is a multiple of the chunk (50 starts a second, 20 ms chunks): then
// every chunk of every stream arrives in the same few milliseconds of each period, and the
// last of them waits for all the others, a worst case no real population of streams makes.
func startOffsets(n int, ramp time.Duration, jitter bool, seed uint64) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 0x6468676174657779)) // the second word: "dhgatewy"
	offsets := make([]time.Duration, n)
	for i := range offsets {
		slotStart := ramp * time.Duration(i) / time.Duration(n)
		slotEnd := ramp * time.Duration(i+1) / time.Duration(n)
		offsets[i] = slotStart
		if jitter && slotEnd > slotStart {
			offsets[i] += time.Duration(rng.Int64N(int64(slotEnd - slotStart)))
		}
	}
	return offsets
}

// sleepUntil waits for t or ctx. Short waits use time.Sleep (the cheapest timer); a
// cancellation is then noticed within one wait.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d > 0 {
		if d <= 100*time.Millisecond {
			time.Sleep(d)
		} else {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
				timer.Stop()
			}
		}
	}
	return context.Cause(ctx)
}

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "dh-load:", err)
		}
		return exitUsage
	}
	chunkBytes, _ := cfg.format.chunkBytes(cfg.chunkMs)
	// Fail now, not after the run, when the report cannot be written.
	probe, err := os.CreateTemp(filepath.Dir(cfg.out), ".dh-load-*.json")
	if err != nil {
		fmt.Fprintln(stderr, "dh-load: --out:", err)
		return exitUsage
	}
	probe.Close()
	os.Remove(probe.Name())
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "dh-load: --cpuprofile:", err)
			return exitUsage
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	r := &runner{
		cfg:        cfg,
		clock:      newMonoClock(),
		tone:       newToneSource(cfg.format, chunkBytes),
		chunkBytes: chunkBytes,
		chunks:     max(1, int(math.Round(cfg.seconds*1000/float64(cfg.chunkMs)))),
		chunkDur:   time.Duration(cfg.chunkMs) * time.Millisecond,
	}

	// The whole run: cancelled by SIGINT/SIGTERM, bounded by --timeout-s.
	base, interrupt := context.WithCancelCause(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		if sig, ok := <-signals; ok {
			fmt.Fprintf(stderr, "dh-load: %v: stopping the streams and writing the report\n", sig)
			interrupt(fmt.Errorf("%w (%v)", errInterrupt, sig))
		}
	}()
	started := time.Now()
	timeout := time.Duration(cfg.timeoutS * float64(time.Second))
	runCtx, cancelRun := context.WithDeadlineCause(base, started.Add(timeout), errRunTimeout)
	defer cancelRun()

	var streamFn func(ctx context.Context, i int, rec *streamRecord)
	var closeMode func()
	if cfg.mode == "gateway" {
		g, err := newGatewayMode(r)
		if err != nil {
			fmt.Fprintln(stderr, "dh-load:", err)
			return exitUsage
		}
		streamFn, closeMode = g.stream, g.close
	} else {
		d := newDirectMode(r)
		streamFn, closeMode = d.stream, d.close
	}
	defer closeMode()

	records := make([]*streamRecord, cfg.streams)
	var wg sync.WaitGroup
	offsets := startOffsets(cfg.streams, time.Duration(cfg.rampS*float64(time.Second)), cfg.jitter, cfg.seed)
	for i := range records {
		rec := &streamRecord{res: StreamResult{
			Index:         i,
			TaskID:        fmt.Sprintf("%s%d", cfg.taskPrefix, i),
			ChunkBytes:    chunkBytes,
			SendOffsetsUs: make([]int64, 0, r.chunks),
		}}
		records[i] = rec
		wg.Go(func() {
			at := started.Add(offsets[i])
			if err := sleepUntil(runCtx, at); err != nil {
				rec.fail("NOT_STARTED", err.Error())
				r.failed.Add(1)
				return
			}
			streamFn(runCtx, i, rec)
			rec.update(func(res *StreamResult) {
				res.EndMonoS = ptr(r.clock.seconds(time.Now()))
				if res.Error == nil {
					r.completed.Add(1)
				} else {
					r.failed.Add(1)
				}
			})
		})
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ticker.C:
			fmt.Fprintf(stderr, "dh-load: %5.1fs streaming=%d completed=%d failed=%d\n",
				time.Since(started).Seconds(), r.streaming.Load(), r.completed.Load(), r.failed.Load())
		case <-runCtx.Done():
			select {
			case <-done:
			case <-time.After(windDown):
				fmt.Fprintf(stderr, "dh-load: streams still running after %v: writing what they have\n", windDown)
			}
			break wait
		}
	}
	ended := time.Now()

	report := &Report{
		Mode: cfg.mode,
		Config: ReportConfig{
			Streams: cfg.streams, Seconds: cfg.seconds, ChunkMs: cfg.chunkMs,
			Rate: cfg.format.rate, Channels: cfg.format.channels, Encoding: cfg.format.encoding,
			RampS: cfg.rampS, Jitter: cfg.jitter, Seed: cfg.seed, TaskPrefix: cfg.taskPrefix, TimeoutS: cfg.timeoutS, Chunks: r.chunks,
		},
		Streams:      make([]StreamResult, len(records)),
		StartedMonoS: r.clock.seconds(started),
		EndedMonoS:   r.clock.seconds(ended),
		ClockDriftUs: float64(r.clock.driftNs()) / 1e3,
	}
	if cfg.mode == "gateway" {
		report.Config.Addr, report.Config.Conns = cfg.addr, cfg.conns
	} else {
		report.Config.API, report.Config.AppID = cfg.api, cfg.appID
	}
	if cause := context.Cause(runCtx); cause != nil && runCtx.Err() != nil {
		if errors.Is(cause, errRunTimeout) {
			report.Interrupted = "timeout"
		} else {
			report.Interrupted = "signal"
		}
	}
	chunksSent := 0
	for i, rec := range records {
		res := rec.snapshot()
		if res.EndMonoS == nil && res.Error == nil {
			res.Error = ptr("UNFINISHED")
			res.ErrorDetail = ptr("loadgen: the stream was still running when the run ended")
		}
		if res.Error == nil {
			report.Completed++
		} else {
			report.Failed++
		}
		chunksSent += len(res.SendOffsetsUs)
		report.Streams[i] = res
	}
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err == nil {
		report.CPUUserS = float64(ru.Utime.Nano()) / 1e9
		report.CPUSysS = float64(ru.Stime.Nano()) / 1e9
	}
	report.StreamSeconds = float64(chunksSent) * float64(cfg.chunkMs) / 1000
	if report.StreamSeconds > 0 {
		report.CPUPerStreamS = ptr((report.CPUUserS + report.CPUSysS) / report.StreamSeconds)
	}
	if err := writeReport(cfg.out, report); err != nil {
		fmt.Fprintln(stderr, "dh-load: writing the report:", err)
		return exitUsage
	}
	perStream := 0.0
	if report.CPUPerStreamS != nil {
		perStream = *report.CPUPerStreamS
	}
	fmt.Fprintf(stderr,
		"dh-load: %s mode: %d streams, %d completed, %d failed in %.1fs; cpu user %.2fs sys %.2fs = %.5f cpu-s per stream-s (%.1f%% of a core per 100 streams); report %s\n",
		cfg.mode, cfg.streams, report.Completed, report.Failed, ended.Sub(started).Seconds(),
		report.CPUUserS, report.CPUSysS, perStream, perStream*100*100, cfg.out)
	if report.Failed > 0 || report.Interrupted != "" {
		return exitFailed
	}
	return exitOK
}
