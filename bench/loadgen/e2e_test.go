package main

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// fakeGateway is a minimal DriveGateway: Started at once, Completed with the byte count
// after the half-close; task ids containing "busy" fail with RESOURCE_EXHAUSTED /
// GATEWAY_BUSY.
type fakeGateway struct {
	pb.UnimplementedDriveGatewayServer
	drives atomic.Int64
}

func (f *fakeGateway) Drive(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	config := first.GetConfig()
	if strings.Contains(config.GetTaskId(), "busy") {
		st, _ := status.New(codes.ResourceExhausted, "too many drives").WithDetails(
			&errdetails.ErrorInfo{Reason: "GATEWAY_BUSY", Domain: "dhgateway"})
		return st.Err()
	}
	driveID := "drive-" + strconv.FormatInt(f.drives.Add(1), 10)
	if err := stream.Send(&pb.DriveEvent{DriveId: driveID, Event: &pb.DriveEvent_Started{
		Started: &pb.Started{OutputSampleRateHz: 16000, OutputChannels: 1}}}); err != nil {
		return err
	}
	var received, frames int64
	for {
		request, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		received += int64(len(request.GetAudio()))
		frames++
	}
	return stream.Send(&pb.DriveEvent{DriveId: driveID, Event: &pb.DriveEvent_Completed{
		Completed: &pb.Completed{BytesSent: received, FramesSent: frames}}})
}

func startFakeGateway(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer()
	pb.RegisterDriveGatewayServer(server, &fakeGateway{})
	go func() { _ = server.Serve(lis) }()
	t.Cleanup(server.Stop)
	return lis.Addr().String()
}

func readReport(t *testing.T, path string) *Report {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var report Report
	if err := json.Unmarshal(raw, &report); err != nil {
		t.Fatal(err)
	}
	return &report
}

func TestGatewayModeEndToEnd(t *testing.T) {
	addr := startFakeGateway(t)
	out := filepath.Join(t.TempDir(), "r.json")
	code := run([]string{"--mode", "gateway", "--addr", addr, "--streams", "4", "--conns", "2",
		"--seconds", "0.2", "--ramp-s", "0.05", "--encoding", "FLOAT32", "--out", out}, io.Discard)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	report := readReport(t, out)
	if report.Mode != "gateway" || report.Completed != 4 || report.Failed != 0 || len(report.Streams) != 4 {
		t.Fatalf("report: %+v", report)
	}
	for i, s := range report.Streams {
		if s.TaskID != "bench-"+strconv.Itoa(i) || s.DriveID == nil || s.Conn == nil || *s.Conn != i%2 {
			t.Errorf("stream %d: task %s drive %v conn %v", i, s.TaskID, s.DriveID, s.Conn)
		}
		if s.ChunkBytes != 1280 || len(s.SendOffsetsUs) != 10 || s.Completed == nil {
			t.Fatalf("stream %d: %+v", i, s)
		}
		if s.Completed.BytesSent != 10*1280 || s.Completed.FramesSent != 10 {
			t.Errorf("stream %d: the gateway got %+v", i, s.Completed)
		}
		if s.SetupMs == nil || s.T0MonoS == nil || *s.T0MonoS < report.StartedMonoS || *s.T0MonoS > report.EndedMonoS {
			t.Errorf("stream %d: setup %v t0 %v outside the run", i, s.SetupMs, s.T0MonoS)
		}
		for k, offset := range s.SendOffsetsUs {
			if offset < int64(k)*20_000 {
				t.Errorf("stream %d chunk %d sent early: %d us", i, k, offset)
			}
		}
	}
	if report.CPUPerStreamS == nil || report.StreamSeconds != 0.8 {
		t.Errorf("cpu %v per %v stream-s", report.CPUPerStreamS, report.StreamSeconds)
	}
}

func TestGatewayModeRecordsTheStatus(t *testing.T) {
	addr := startFakeGateway(t)
	out := filepath.Join(t.TempDir(), "r.json")
	code := run([]string{"--addr", addr, "--streams", "1", "--seconds", "0.1", "--ramp-s", "0",
		"--task-prefix", "busy-", "--out", out}, io.Discard)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	s := readReport(t, out).Streams[0]
	if s.Error == nil || *s.Error != "RESOURCE_EXHAUSTED GATEWAY_BUSY" || s.T0MonoS != nil {
		t.Fatalf("error %v t0 %v", s.Error, s.T0MonoS)
	}
}

func TestTimeoutWritesTheReport(t *testing.T) {
	addr := startFakeGateway(t)
	out := filepath.Join(t.TempDir(), "r.json")
	code := run([]string{"--addr", addr, "--streams", "2", "--seconds", "30", "--ramp-s", "0",
		"--timeout-s", "0.3", "--out", out}, io.Discard)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d", code, exitFailed)
	}
	report := readReport(t, out)
	if report.Interrupted != "timeout" || report.Failed != 2 {
		t.Fatalf("interrupted %q failed %d", report.Interrupted, report.Failed)
	}
	if took := report.EndedMonoS - report.StartedMonoS; took > 2 {
		t.Errorf("the run took %.1f s with --timeout-s 0.3", took)
	}
	for _, s := range report.Streams {
		if s.Error == nil || len(s.SendOffsetsUs) == 0 || len(s.SendOffsetsUs) > 20 {
			t.Errorf("stream %d: error %v after %d chunks", s.Index, s.Error, len(s.SendOffsetsUs))
		}
	}
}

// fakeVendor is the vendor's API and WebSocket, as far as a direct drive uses them.
type fakeVendor struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	audio  map[string]int      // bytes per DriveId
	texts  map[string][]string // text frames per DriveId
	clean  map[string]bool     // a close frame with 1000 arrived
}

func (v *fakeVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ws" {
		v.serveWS(w, r)
		return
	}
	q := r.URL.Query()
	timestamp, _ := strconv.ParseInt(q.Get("Timestamp"), 10, 64)
	appID, _ := strconv.ParseUint(q.Get("AppId"), 10, 32)
	answer := map[string]any{"Code": 100000005, "Message": "signature invalid"}
	var body struct{ TaskId string }
	_ = json.NewDecoder(r.Body).Decode(&body)
	if r.Method == http.MethodPost && q.Get("Action") == "DriveByWsStream" && q.Get("SignatureVersion") == "2.0" &&
		q.Get("Signature") == signature(uint32(appID), q.Get("SignatureNonce"), v.secret, timestamp) {
		driveID := "d-" + body.TaskId
		answer = map[string]any{"Code": 0, "Message": "success", "Data": map[string]string{
			"DriveId": driveID, "WssAddress": "ws://" + r.Host + "/ws?Token=" + driveID}}
	}
	_ = json.NewEncoder(w).Encode(answer)
}

func (v *fakeVendor) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	driveID := r.URL.Query().Get("Token")
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			v.mu.Lock()
			v.clean[driveID] = websocket.IsCloseError(err, websocket.CloseNormalClosure)
			v.mu.Unlock()
			return
		}
		v.mu.Lock()
		if kind == websocket.TextMessage {
			v.texts[driveID] = append(v.texts[driveID], string(data))
		} else {
			v.audio[driveID] += len(data)
		}
		v.mu.Unlock()
	}
}

func TestDirectModeEndToEnd(t *testing.T) {
	vendor := &fakeVendor{t: t, secret: "9193cc662a4c0ec135ec71fb57194b38",
		audio: map[string]int{}, texts: map[string][]string{}, clean: map[string]bool{}}
	server := httptest.NewServer(vendor)
	defer server.Close()
	out := filepath.Join(t.TempDir(), "r.json")
	code := run([]string{"--mode", "direct", "--api", server.URL + "/", "--app-id", "12345",
		"--secret", vendor.secret, "--streams", "3", "--seconds", "0.2", "--ramp-s", "0.05",
		"--channels", "2", "--rate", "24000", "--out", out}, io.Discard)
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	report := readReport(t, out)
	if report.Mode != "direct" || report.Completed != 3 {
		t.Fatalf("report: %+v", report)
	}
	vendor.mu.Lock()
	defer vendor.mu.Unlock()
	for i, s := range report.Streams {
		driveID := "d-bench-" + strconv.Itoa(i)
		if s.DriveID == nil || *s.DriveID != driveID || s.ChunkBytes != 1920 || len(s.SendOffsetsUs) != 10 {
			t.Fatalf("stream %d: %+v", i, s)
		}
		want := []string{
			`{"Action":"Start","Payload":{"DriveId":"` + driveID + `","SampleRate":24000,"Channel":2}}`,
			`{"Action":"Stop","Payload":{"DriveId":"` + driveID + `"}}`,
		}
		if got := vendor.texts[driveID]; strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("stream %d: text frames %q, want %q", i, got, want)
		}
		if vendor.audio[driveID] != 10*1920 || !vendor.clean[driveID] {
			t.Errorf("stream %d: %d audio bytes, clean close %v", i, vendor.audio[driveID], vendor.clean[driveID])
		}
	}
}

func TestDirectModeRecordsTheAPIError(t *testing.T) {
	vendor := &fakeVendor{t: t, secret: "right", audio: map[string]int{}, texts: map[string][]string{}, clean: map[string]bool{}}
	server := httptest.NewServer(vendor)
	defer server.Close()
	out := filepath.Join(t.TempDir(), "r.json")
	code := run([]string{"--mode", "direct", "--api", server.URL + "/", "--app-id", "12345",
		"--secret", "wrong", "--streams", "1", "--seconds", "0.1", "--out", out}, io.Discard)
	if code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	s := readReport(t, out).Streams[0]
	if s.Error == nil || *s.Error != "API 100000005" {
		t.Fatalf("error %v (%v)", s.Error, s.ErrorDetail)
	}
}

func TestFlags(t *testing.T) {
	bad := [][]string{
		{"--mode", "nope"},
		{"--streams", "0"},
		{"--encoding", "MULAW"},
		{"--channels", "3"},
		{"--rate", "11025"}, // 20 ms is not whole samples
		{"--mode", "direct", "--api", "http://x/", "--app-id", "1", "--secret", "s", "--rate", "48000"},
		{"--mode", "direct", "--api", "http://x/", "--app-id", "1", "--secret", "s", "--encoding", "FLOAT32"},
		{"--mode", "direct", "--api", "http://x/", "--secret", "s"},
		{"--mode", "direct", "--api", "ftp://x/", "--app-id", "1", "--secret", "s"},
	}
	for _, args := range bad {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	c, err := parseFlags([]string{"--streams", "250"}, io.Discard)
	if err != nil || c.conns != 3 || c.mode != "gateway" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
}
