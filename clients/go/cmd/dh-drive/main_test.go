package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dh-gateway/dh-gateway/clients/go/dhgateway"
	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// clearConnectionEnv unsets the DHGW_* variables the connection flags fall back to.
func clearConnectionEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{"DHGW_ADDRESS", "DHGW_API_KEY", "DHGW_TLS", "DHGW_TLS_CA_FILE",
		"DHGW_TLS_CLIENT_CERT_FILE", "DHGW_TLS_CLIENT_KEY_FILE", "DHGW_TLS_SERVER_NAME"} {
		t.Setenv(name, "")
	}
}

func TestParseFlags(t *testing.T) {
	clearConnectionEnv(t)
	a, status := parse(strings.Fields(
		"--addr 127.0.0.1:1 --task t --file f.wav --rate 8000 --channels 2 --policy QUEUE "+
			"--chunk-ms 40 --realtime --cancel-after-ms 1500 --mark-every-ms 500 --api-key k --json --encoding MULAW"), io.Discard)
	want := args{
		task: "t", file: "f.wav", encoding: "MULAW", policy: "QUEUE",
		conn: dhgateway.Connection{Address: "127.0.0.1:1", APIKey: "k"},
		rate: 8000, channels: 2, chunkMs: 40, cancelAfterMs: 1500, markEveryMs: 500, interruptAfterMs: -1,
		realtime: true, json: true,
	}
	if a == nil || *a != want || status != 0 {
		t.Errorf("parse = %+v, %d", a, status)
	}
	a, status = parse([]string{"--task", "t", "--text", "Hello there", "--timbre-id", "v", "--interrupt-after-ms", "0"}, io.Discard)
	if a == nil || a.text != "Hello there" || a.timbreID != "v" || a.interruptAfterMs != 0 || status != 0 {
		t.Errorf("parse of a text drive = %+v, %d", a, status)
	}
	for _, bad := range []string{"--file f", "--task t", "--task t --file f --encoding OPUS",
		"--task t --file f --policy LATER", "--task t --file f extra", "--task t --file f --nope",
		"--task t --file f --text hi"} {
		if a, status := parse(strings.Fields(bad), io.Discard); a != nil || status != 2 {
			t.Errorf("parse(%q) = %+v, %d; want a usage error", bad, a, status)
		}
	}
}

func decode(t *testing.T, line string) map[string]any {
	t.Helper()
	var object map[string]any
	if err := json.Unmarshal([]byte(line), &object); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return object
}

func TestEventLines(t *testing.T) {
	var out bytes.Buffer
	p := &printer{w: &out, json: true}
	p.event(&pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_Started{Started: &pb.Started{OutputSampleRateHz: 16000}}})
	p.event(&pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_Queued{Queued: &pb.Queued{Reason: pb.Queued_REASON_TASK_BUSY}}})
	p.line("error", [][2]any{{"code", "ALREADY_EXISTS"}, {"metadata", map[string]string{"holder_drive_id": "d-0"}}}, nil)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines: %q", lines)
	}
	started := decode(t, lines[0])
	// Fields at their zero value are printed too, with the proto's field names.
	if started["event"] != "started" || started["drive_id"] != "d-1" ||
		started["output_sample_rate_hz"] != 16000.0 || started["setup_ms"] != "0" || started["output_channels"] != 0.0 {
		t.Errorf("started line: %s", lines[0])
	}
	if queued := decode(t, lines[1]); queued["reason"] != "REASON_TASK_BUSY" || queued["ahead"] != 0.0 {
		t.Errorf("queued line: %s", lines[1])
	}
	errorLine := decode(t, lines[2])
	if errorLine["event"] != "error" || errorLine["metadata"].(map[string]any)["holder_drive_id"] != "d-0" {
		t.Errorf("error line: %s", lines[2])
	}

	out.Reset()
	p.json = false
	p.event(&pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_Queued{Queued: &pb.Queued{Ahead: 2}}})
	if got := out.String(); got != "queued     drive_id=d-1 reason=REASON_UNSPECIFIED ahead=2\n" {
		t.Errorf("text line: %q", got)
	}
}

func TestTheErrorLineCarriesRetryDelayAndFieldViolations(t *testing.T) {
	var out bytes.Buffer
	p := &printer{w: &out, json: true}
	p.error(&dhgateway.Error{Code: codes.Unavailable, Reason: "DRAINING", Metadata: map[string]string{},
		RetryInfo: &errdetails.RetryInfo{RetryDelay: durationpb.New(500 * time.Millisecond)}})
	p.error(&dhgateway.Error{Code: codes.InvalidArgument, Reason: "UNSUPPORTED_FORMAT", Metadata: map[string]string{},
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "config.input.sample_rate_hz", Description: "use 8000 to 48000", Reason: "X"}}})
	p.error(&dhgateway.Error{Code: codes.AlreadyExists, Reason: "TASK_BUSY", Metadata: map[string]string{}})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`{"event":"error","code":"UNAVAILABLE","reason":"DRAINING","message":"","metadata":{},"retry_delay_ms":"500"}`,
		`{"event":"error","code":"INVALID_ARGUMENT","reason":"UNSUPPORTED_FORMAT","message":"","metadata":{},` +
			`"field_violations":[{"field":"config.input.sample_rate_hz","description":"use 8000 to 48000"}]}`,
		`{"event":"error","code":"ALREADY_EXISTS","reason":"TASK_BUSY","message":"","metadata":{}}`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("error lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestPlaybackEventLines(t *testing.T) {
	var out bytes.Buffer
	p := &printer{w: &out, json: true}
	estimated := pb.PlaybackSource_PLAYBACK_SOURCE_ESTIMATED
	events := []*pb.DriveEvent{
		{DriveId: "d-1", Event: &pb.DriveEvent_PlaybackStarted{PlaybackStarted: &pb.PlaybackStarted{Source: estimated}}},
		{DriveId: "d-1", Event: &pb.DriveEvent_MarkPlayed{MarkPlayed: &pb.MarkPlayed{Name: "m500", AtMs: 500, Source: estimated}}},
		{DriveId: "d-1", Event: &pb.DriveEvent_PlaybackFinished{PlaybackFinished: &pb.PlaybackFinished{PlayedMs: 3858, Source: estimated}}},
		{DriveId: "d-1", Event: &pb.DriveEvent_Progress{Progress: &pb.Progress{PlayedMs: 120}}},
	}
	for _, event := range events {
		p.event(event)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(events) {
		t.Fatalf("lines: %q", lines)
	}
	started, mark, finished, progress := decode(t, lines[0]), decode(t, lines[1]), decode(t, lines[2]), decode(t, lines[3])
	if started["event"] != "playback_started" || started["source"] != "PLAYBACK_SOURCE_ESTIMATED" {
		t.Errorf("playback_started line: %s", lines[0])
	}
	if mark["event"] != "mark_played" || mark["name"] != "m500" || mark["at_ms"] != "500" || mark["source"] != "PLAYBACK_SOURCE_ESTIMATED" {
		t.Errorf("mark_played line: %s", lines[1])
	}
	// int64 as strings, and the false interrupted printed too.
	if finished["event"] != "playback_finished" || finished["played_ms"] != "3858" || finished["interrupted"] != false {
		t.Errorf("playback_finished line: %s", lines[2])
	}
	if progress["played_ms"] != "120" {
		t.Errorf("progress line: %s", lines[3])
	}

	out.Reset()
	p.json = false
	for _, event := range events[:3] {
		p.event(event)
	}
	var said []string
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		said = append(said, strings.Fields(line)[0])
	}
	if want := []string{"speaking", "mark", "finished"}; !slices.Equal(said, want) {
		t.Errorf("text lines say %q, want %q:\n%s", said, want, out.String())
	}
}

// wav is a RIFF/WAVE file of the chunks (id, body), padded to even sizes.
func wav(chunks ...[2]string) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c[0]...)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(c[1])))
		body = append(body, c[1]...)
		if len(c[1])%2 == 1 {
			body = append(body, 0)
		}
	}
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

func fmtChunk(rate uint32, channels uint16) string {
	b := binary.LittleEndian.AppendUint16(nil, 1)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(channels)*2)
	b = binary.LittleEndian.AppendUint16(b, channels*2)
	return string(binary.LittleEndian.AppendUint16(b, 16))
}

func TestWavAudioIsFoundAfterItsHeaderAndOtherChunks(t *testing.T) {
	audio := string(make([]byte, 400))
	file := wav([2]string{"fmt ", fmtChunk(24000, 2)}, [2]string{"LIST", "odd"}, [2]string{"data", audio})
	start := len(file) - len(audio)
	want := layout{start, len(file), 4, 24000}
	if got, ok := wavLayout(file); !ok || got != want {
		t.Errorf("wavLayout = %+v, %v; want %+v", got, ok, want)
	}
	streamed := slices.Clone(file)
	binary.LittleEndian.PutUint32(streamed[start-4:], 0xFFFFFFFF)
	if got, ok := wavLayout(streamed); !ok || got != want {
		t.Errorf("streamed wavLayout = %+v, %v; want %+v", got, ok, want)
	}
	for _, bad := range [][]byte{[]byte("not a wav file at all"), wav([2]string{"data", audio})} {
		if got, ok := wavLayout(bad); ok {
			t.Errorf("wavLayout(%q) = %+v, want none", bad[:12], got)
		}
	}
	// Raw audio, and --encoding WAV on a file that is not one: the flags' format.
	for _, c := range []struct {
		encoding               pb.Encoding
		rate, channels         int
		frameBytes, wantRateHz int
	}{
		{pb.Encoding_ENCODING_MULAW, 8000, 2, 2, 8000},
		{pb.Encoding_ENCODING_FLOAT32, 0, 0, 4, 16000},
		{pb.Encoding_ENCODING_WAV, 0, 0, 2, 16000},
	} {
		if got := audioLayout(make([]byte, 10), c.encoding, c.rate, c.channels); got != (layout{0, 10, c.frameBytes, c.wantRateHz}) {
			t.Errorf("audioLayout(%v, %d, %d) = %+v", c.encoding, c.rate, c.channels, got)
		}
	}
}

func TestTheClipsMarksFallEvery500MsOfItsAudio(t *testing.T) {
	clip, err := os.ReadFile("../../../../gateway/assets/speech-16k.wav")
	if err != nil {
		t.Fatal(err)
	}
	l := audioLayout(clip, pb.Encoding_ENCODING_WAV, 0, 0)
	if l.start != 44 || l.end != len(clip) {
		t.Fatalf("layout %+v", l)
	}
	marks := l.marks(500) // 3858 ms: 500 ... 3500, none at the end
	if len(marks) != 7 || marks[0] != (mark{44 + 16000, 500}) || marks[6] != (mark{44 + 7*16000, 3500}) {
		t.Errorf("marks %v", marks)
	}
	if l.marks(0) != nil || l.marks(-5) != nil {
		t.Error("marks without --mark-every-ms")
	}
}

func TestPiecesCutTheChunksAtTheMarksAndKeepEveryByte(t *testing.T) {
	data := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	describe := func(items []piece) string {
		var parts []string
		for _, item := range items {
			if item.audio == nil {
				parts = append(parts, item.mark)
			} else {
				parts = append(parts, fmt.Sprint(item.audio))
			}
		}
		return strings.Join(parts, " ")
	}
	if got := describe(pieces(data, 4, []mark{{2, 100}, {8, 400}})); got != "[0 1] m100 [2 3 4 5] [6 7] m400 [8 9]" {
		t.Errorf("pieces = %s", got)
	}
	if got := describe(pieces(data, 5, []mark{{5, 7}})); got != "[0 1 2 3 4] m7 [5 6 7 8 9]" {
		t.Errorf("pieces on a chunk boundary = %s", got)
	}
}

func TestTheOtherCallsAreSubcommandsWithTheirOwnFlags(t *testing.T) {
	clearConnectionEnv(t)
	a, status := parseCommand("stop", commands["stop"], strings.Fields("--task t --stop-mode interrupt --profile p --json"), io.Discard)
	if a == nil || status != 0 || *a != (commandArgs{conn: dhgateway.Connection{Address: "127.0.0.1:50051"}, task: "t", profile: "p", stopMode: "interrupt", json: true}) {
		t.Errorf("stop flags = %+v, %d", a, status)
	}
	if a, _ := parseCommand("get-task", commands["get-task"], strings.Fields("--task t --refresh"), io.Discard); a == nil || !a.refresh {
		t.Errorf("get-task flags = %+v", a)
	}
	for name, bad := range map[string]string{"stop": "--task t --stop-mode later", "watch-task": "--task t --refresh", "get-task": "--refresh"} {
		if a, status := parseCommand(name, commands[name], strings.Fields(bad), io.Discard); a != nil || status != 2 {
			t.Errorf("%s %q = %+v, %d; want a usage error", name, bad, a, status)
		}
	}
	var names []string
	for name := range commands {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{"get-task", "stop", "watch-task"}; !slices.Equal(names, want) {
		t.Errorf("commands %q, want %q", names, want)
	}
}

func TestTaskAndNewCompletedLines(t *testing.T) {
	var out bytes.Buffer
	p := &printer{w: &out, json: true}
	info := &pb.TaskInfo{TaskId: "t", Status: pb.TaskStatus_TASK_STATUS_STREAMING, Speaking: true, QueuedDrives: 1}
	p.message("task", nil, info.ProtoReflect())
	done := &pb.Completed{DroppedMs: 380, TimeToFirstFrameMs: 5, TimeToSpeakingMs: 9, PlayedMs: 620, Interrupted: true}
	p.event(&pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_Completed{Completed: done}})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	task, completed := decode(t, lines[0]), decode(t, lines[1])
	if task["event"] != "task" || task["status"] != "TASK_STATUS_STREAMING" || task["speaking"] != true ||
		task["queued_drives"] != 1.0 || task["fail_reason"] != "" {
		t.Errorf("task line: %s", lines[0])
	}
	// An unset message is left out, as every language prints it (not null).
	for _, unset := range []string{"status_time", "active_drive", "idle_deadline"} {
		if _, ok := task[unset]; ok {
			t.Errorf("task line has %s: %s", unset, lines[0])
		}
	}
	if completed["dropped_ms"] != "380" || completed["time_to_first_frame_ms"] != "5" ||
		completed["time_to_speaking_ms"] != "9" || completed["played_ms"] != "620" || completed["interrupted"] != true {
		t.Errorf("completed line: %s", lines[1])
	}
}
