package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

func TestParseFlags(t *testing.T) {
	a, status := parse(strings.Fields(
		"--addr 127.0.0.1:1 --task t --file f.wav --rate 8000 --channels 2 --policy QUEUE "+
			"--chunk-ms 40 --realtime --cancel-after-ms 1500 --api-key k --json --encoding MULAW"), io.Discard)
	want := args{
		addr: "127.0.0.1:1", task: "t", file: "f.wav", encoding: "MULAW", policy: "QUEUE", apiKey: "k",
		rate: 8000, channels: 2, chunkMs: 40, cancelAfterMs: 1500, realtime: true, json: true,
	}
	if a == nil || *a != want || status != 0 {
		t.Errorf("parse = %+v, %d", a, status)
	}
	for _, bad := range []string{"--file f", "--task t", "--task t --file f --encoding OPUS",
		"--task t --file f --policy LATER", "--task t --file f extra", "--task t --file f --nope"} {
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
