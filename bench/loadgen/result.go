package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
)

// Report is the JSON document dh-load writes (--out).
type Report struct {
	Mode    string         `json:"mode"`
	Config  ReportConfig   `json:"config"`
	Streams []StreamResult `json:"streams"`
	// StartedMonoS and EndedMonoS bound the run, in CLOCK_MONOTONIC seconds.
	StartedMonoS float64 `json:"started_mono_s"`
	EndedMonoS   float64 `json:"ended_mono_s"`
	// CPUUserS and CPUSysS are the process's own rusage (RUSAGE_SELF) at the end.
	CPUUserS float64 `json:"cpu_user_s"`
	CPUSysS  float64 `json:"cpu_sys_s"`
	// StreamSeconds is the audio offered by all streams: chunks sent x chunk-ms.
	StreamSeconds float64 `json:"stream_seconds"`
	// CPUPerStreamS is (cpu_user_s + cpu_sys_s) / stream_seconds: the load generator's own cost.
	CPUPerStreamS *float64 `json:"cpu_s_per_stream_s"`
	// Completed and Failed count the streams (failed: error is set).
	Completed int `json:"completed"`
	Failed    int `json:"failed"`
	// Interrupted says why the run ended early: "" (it did not), "timeout" or "signal ...".
	Interrupted string `json:"interrupted"`
	// ClockDriftUs is a sanity check of the clock mapping at the end (stays within a few us).
	ClockDriftUs float64 `json:"clock_drift_us"`
}

// ReportConfig echoes the flags that shape the run.
type ReportConfig struct {
	Addr       string  `json:"addr,omitempty"`
	Conns      int     `json:"conns,omitempty"`
	API        string  `json:"api,omitempty"`
	AppID      uint32  `json:"app_id,omitempty"`
	Streams    int     `json:"streams"`
	Seconds    float64 `json:"seconds"`
	ChunkMs    int     `json:"chunk_ms"`
	Rate       int     `json:"rate"`
	Channels   int     `json:"channels"`
	Encoding   string  `json:"encoding"`
	RampS      float64 `json:"ramp_s"`
	Jitter     bool    `json:"start_jitter"`
	Seed       uint64  `json:"seed"`
	TaskPrefix string  `json:"task_prefix"`
	TimeoutS   float64 `json:"timeout_s"`
	Chunks     int     `json:"chunks"` // planned chunks per stream
}

// StreamResult is one stream's record. Times are CLOCK_MONOTONIC; null means "never
// happened" (no Started, no error, ...).
type StreamResult struct {
	Index  int    `json:"index"`
	TaskID string `json:"task_id"`
	// DriveID is the vendor's DriveId: from the gateway's events, or from the API (direct).
	DriveID *string `json:"drive_id"`
	// Conn is the index of the shared gRPC connection (gateway mode).
	Conn *int `json:"conn,omitempty"`
	// SetupStartMonoS is when the stream began: config sent (gateway), request sent (direct).
	SetupStartMonoS *float64 `json:"setup_start_mono_s"`
	// SetupMs: config sent -> Started received (gateway); request sent -> Start sent (direct).
	SetupMs *float64 `json:"setup_ms"`
	// T0MonoS is the schedule's origin: Started received (gateway), Start sent (direct).
	T0MonoS *float64 `json:"t0_mono_s"`
	// SendOffsetsUs holds, per chunk, when its send call was made minus t0 (us).
	SendOffsetsUs []int64 `json:"send_offsets_us"`
	ChunkBytes    int     `json:"chunk_bytes"`
	// MaxSendUs is the longest send call (us): a blocked send (flow control, a full socket)
	// shows here, a late wake-up does not.
	MaxSendUs int64 `json:"max_send_us"`
	// EndMonoS is when the stream finished (Completed/error/close seen).
	EndMonoS *float64 `json:"end_mono_s"`
	// Error is null on success; else "CODE REASON" (gateway: the gRPC code name and the
	// ErrorInfo reason, when there is one) or a short kind (direct: "API 400010009",
	// "WS_DIAL", ...); ErrorDetail has the whole message.
	Error       *string `json:"error"`
	ErrorDetail *string `json:"error_detail"`
	// Completed is the gateway's Completed event (gateway mode).
	Completed *CompletedResult `json:"completed"`
	// Started is the gateway's Started event (gateway mode).
	Started *StartedResult `json:"started,omitempty"`
	// QueuedEvents and ProgressEvents count those gateway events.
	QueuedEvents   int `json:"queued_events,omitempty"`
	ProgressEvents int `json:"progress_events,omitempty"`
}

// CompletedResult mirrors dhgateway.v1.Completed.
type CompletedResult struct {
	ReceivedMs int64 `json:"received_ms"`
	SentMs     int64 `json:"sent_ms"`
	BytesSent  int64 `json:"bytes_sent"`
	FramesSent int64 `json:"frames_sent"`
	Underruns  int32 `json:"underruns"`
	StopLagMs  int64 `json:"stop_lag_ms"`
}

// StartedResult mirrors dhgateway.v1.Started.
type StartedResult struct {
	OutputSampleRateHz int32 `json:"output_sample_rate_hz"`
	SetupMs            int64 `json:"setup_ms"` // the gateway's own: config arrival -> Start sent
	OutputChannels     int32 `json:"output_channels"`
}

// streamRecord is a StreamResult being filled by a stream's goroutines; snapshot reads it
// at any time (the run may end before a stream does).
type streamRecord struct {
	mu  sync.Mutex
	res StreamResult
}

func (r *streamRecord) update(f func(*StreamResult)) {
	r.mu.Lock()
	f(&r.res)
	r.mu.Unlock()
}

func (r *streamRecord) addOffset(us int64) {
	r.mu.Lock()
	r.res.SendOffsetsUs = append(r.res.SendOffsetsUs, us)
	r.mu.Unlock()
}

// fail records the stream's first error; later ones are dropped.
func (r *streamRecord) fail(kind, detail string) {
	r.mu.Lock()
	if r.res.Error == nil {
		r.res.Error, r.res.ErrorDetail = &kind, &detail
	}
	r.mu.Unlock()
}

func (r *streamRecord) snapshot() StreamResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.SendOffsetsUs = make([]int64, len(r.res.SendOffsetsUs))
	copy(res.SendOffsetsUs, r.res.SendOffsetsUs)
	return res
}

// writeReport writes the report to path atomically (a temporary file renamed over it).
func writeReport(path string, report *Report) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dh-load-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	enc := json.NewEncoder(tmp)
	if err := enc.Encode(report); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func ptr[T any](v T) *T { return &v }
