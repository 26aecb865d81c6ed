package dhgateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// fakeGateway is an in-process DriveGateway whose calls do what a test says.
type fakeGateway struct {
	pb.UnimplementedDriveGatewayServer
	drive     func(grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error
	stop      func(context.Context, *pb.StopDriveRequest) (*pb.StopDriveResponse, error)
	getTask   func(context.Context, *pb.GetTaskRequest) (*pb.TaskInfo, error)
	watchTask func(*pb.WatchTaskRequest, grpc.ServerStreamingServer[pb.TaskInfo]) error
}

func (f *fakeGateway) Drive(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
	return f.drive(stream)
}

func (f *fakeGateway) StopDrive(ctx context.Context, request *pb.StopDriveRequest) (*pb.StopDriveResponse, error) {
	return f.stop(ctx, request)
}

func (f *fakeGateway) GetTask(ctx context.Context, request *pb.GetTaskRequest) (*pb.TaskInfo, error) {
	return f.getTask(ctx, request)
}

func (f *fakeGateway) WatchTask(request *pb.WatchTaskRequest, stream grpc.ServerStreamingServer[pb.TaskInfo]) error {
	return f.watchTask(request, stream)
}

// dial serves drive in memory and returns a Client of it.
func dial(t *testing.T, drive func(grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error) *Client {
	t.Helper()
	return serve(t, &fakeGateway{drive: drive})
}

// serve serves gateway in memory and returns a Client of it.
func serve(t *testing.T, gateway *fakeGateway) *Client {
	t.Helper()
	listener := bufconn.Listen(1 << 20)
	server := grpc.NewServer()
	pb.RegisterDriveGatewayServer(server, gateway)
	go func() { _ = server.Serve(listener) }()
	conn, err := grpc.NewClient("passthrough:///gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return listener.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		server.Stop()
	})
	return NewClient(conn)
}

// eachRequest calls fn with each request of the stream until the client half-closes it.
func eachRequest(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent], fn func(*pb.DriveRequest)) error {
	for {
		request, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		fn(request)
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSpeakSendsConfigAudioAndHalfClose(t *testing.T) {
	audio := bytes.Repeat([]byte{1, 2, 3}, 350)
	var received []byte
	var authorization []string
	client := dial(t, func(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		authorization = md.Get("authorization")
		first, err := stream.Recv()
		if err != nil || first.GetConfig().GetTaskId() != "task-1" {
			return status.Errorf(codes.InvalidArgument, "want the config first, got %v %v", first, err)
		}
		if err := stream.Send(&pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_Started{Started: &pb.Started{}}}); err != nil {
			return err
		}
		if err := eachRequest(stream, func(request *pb.DriveRequest) {
			received = append(received, request.GetAudio()...)
		}); err != nil {
			return err
		}
		done := &pb.Completed{BytesSent: int64(len(received))}
		return stream.Send(&pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_Completed{Completed: done}})
	})
	var kinds []string
	ctx := WithAPIKey(testContext(t), "secret")
	completed, err := client.Speak(ctx, "task-1", Options{}, bytes.NewReader(audio), 100, func(e *pb.DriveEvent) {
		kinds = append(kinds, e.GetDriveId())
	})
	if err != nil {
		t.Fatal(err)
	}
	if completed.GetBytesSent() != int64(len(audio)) || !bytes.Equal(received, audio) {
		t.Errorf("completed %v; gateway got %d bytes, want %d", completed, len(received), len(audio))
	}
	if len(kinds) != 2 {
		t.Errorf("events: %v", kinds)
	}
	if len(authorization) != 1 || authorization[0] != "Bearer secret" {
		t.Errorf("authorization = %v", authorization)
	}
}

func TestFailedDriveEndsWithErrorInfo(t *testing.T) {
	client := dial(t, func(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
		st, _ := status.New(codes.AlreadyExists, "task conf-busy is busy").WithDetails(&errdetails.ErrorInfo{
			Reason: "TASK_BUSY", Domain: Domain, Metadata: map[string]string{"holder_drive_id": "d-0"},
		})
		return st.Err()
	})
	d, err := client.Drive(testContext(t), "conf-busy", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Recv()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Recv = %v, want an *Error", err)
	}
	if e.Code != codes.AlreadyExists || e.Reason != "TASK_BUSY" || e.Metadata["holder_drive_id"] != "d-0" {
		t.Errorf("Recv error = %+v", e)
	}
	// Sending on the ended stream says so without inventing an error of its own.
	if err := d.Send([]byte{0, 0}); !errors.Is(err, io.EOF) {
		t.Errorf("Send after the end = %v, want io.EOF", err)
	}
}

func TestSendBlocksUnderFlowControlAndCancelReachesTheGateway(t *testing.T) {
	gatewayDone := make(chan time.Time, 1)
	client := dial(t, func(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
		if _, err := stream.Recv(); err != nil { // the config; then no reading: a stalled gateway
			return err
		}
		<-stream.Context().Done()
		gatewayDone <- time.Now()
		return nil
	})
	d, err := client.Drive(testContext(t), "task-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	sendErr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 3200)
		for {
			if err := d.Send(chunk); err != nil {
				sendErr <- err
				return
			}
			sent.Add(int64(len(chunk)))
		}
	}()
	// The sender stalls once the flow-control windows are full.
	var before int64
	for deadline := time.Now().Add(5 * time.Second); ; {
		before = sent.Load()
		time.Sleep(200 * time.Millisecond)
		if sent.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Send never blocked (%d bytes sent)", sent.Load())
		}
	}
	if before > 16<<20 {
		t.Errorf("%d bytes sent to a gateway that reads nothing", before)
	}
	cancelled := time.Now()
	d.Cancel()
	select {
	case at := <-gatewayDone:
		if lag := at.Sub(cancelled); lag > 500*time.Millisecond {
			t.Errorf("the gateway saw the cancel after %v", lag)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway never saw the cancel")
	}
	select {
	case err := <-sendErr:
		if !errors.Is(err, io.EOF) {
			t.Errorf("blocked Send ended with %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send stayed blocked after Cancel")
	}
	if _, err := d.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Recv after Cancel = %v, want CANCELLED", err)
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestSpeakReturnsTheReadErrorAndCancels(t *testing.T) {
	gatewayDone := make(chan struct{})
	client := dial(t, func(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
		<-stream.Context().Done()
		close(gatewayDone)
		return nil
	})
	broken := errors.New("disk on fire")
	if _, err := client.Speak(testContext(t), "task-1", Options{}, failingReader{broken}, 640, nil); !errors.Is(err, broken) {
		t.Errorf("Speak = %v, want the read error", err)
	}
	select {
	case <-gatewayDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the drive was not cancelled")
	}
}

func TestMarksGoBetweenTheChunksAndPlaybackEventsComeTyped(t *testing.T) {
	var requests []string
	client := dial(t, func(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
		var marks []*pb.Mark
		if err := eachRequest(stream, func(request *pb.DriveRequest) {
			switch r := request.Request.(type) {
			case *pb.DriveRequest_Config:
				requests = append(requests, "config")
			case *pb.DriveRequest_Audio:
				requests = append(requests, fmt.Sprintf("audio %d", len(r.Audio)))
			case *pb.DriveRequest_Mark:
				requests = append(requests, "mark "+r.Mark.GetName())
				marks = append(marks, r.Mark)
			}
		}); err != nil {
			return err
		}
		estimated := pb.PlaybackSource_PLAYBACK_SOURCE_ESTIMATED
		events := []*pb.DriveEvent{{Event: &pb.DriveEvent_PlaybackStarted{PlaybackStarted: &pb.PlaybackStarted{Source: estimated}}}}
		for i, m := range marks {
			played := &pb.MarkPlayed{Name: m.GetName(), AtMs: int64(500 * (i + 1)), Source: estimated}
			events = append(events, &pb.DriveEvent{Event: &pb.DriveEvent_MarkPlayed{MarkPlayed: played}})
		}
		finished := &pb.PlaybackFinished{PlayedMs: 1000, Source: estimated}
		events = append(events,
			&pb.DriveEvent{Event: &pb.DriveEvent_PlaybackFinished{PlaybackFinished: finished}},
			&pb.DriveEvent{Event: &pb.DriveEvent_Completed{Completed: &pb.Completed{}}})
		for _, event := range events {
			if err := stream.Send(event); err != nil {
				return err
			}
		}
		return nil
	})
	d, err := client.Drive(testContext(t), "task-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, send := range []func() error{
		func() error { return d.Send(make([]byte, 16000)) },
		func() error { return d.SendMark("half") },
		func() error { return d.Send(make([]byte, 16000)) },
		func() error { return d.SendMark("end") },
		d.CloseSend,
	} {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	for {
		event, err := d.Recv()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		switch e := event.Event.(type) {
		case *pb.DriveEvent_PlaybackStarted:
			seen = append(seen, "speaking "+e.PlaybackStarted.GetSource().String())
		case *pb.DriveEvent_MarkPlayed:
			seen = append(seen, fmt.Sprintf("mark %s at %d", e.MarkPlayed.GetName(), e.MarkPlayed.GetAtMs()))
		case *pb.DriveEvent_PlaybackFinished:
			seen = append(seen, fmt.Sprintf("finished %d %v", e.PlaybackFinished.GetPlayedMs(), e.PlaybackFinished.GetInterrupted()))
		case *pb.DriveEvent_Completed:
			seen = append(seen, "completed")
		}
	}
	wantRequests := []string{"config", "audio 16000", "mark half", "audio 16000", "mark end"}
	if !slices.Equal(requests, wantRequests) {
		t.Errorf("the gateway got %q, want %q", requests, wantRequests)
	}
	wantSeen := []string{"speaking PLAYBACK_SOURCE_ESTIMATED", "mark half at 500", "mark end at 1000", "finished 1000 false", "completed"}
	if !slices.Equal(seen, wantSeen) {
		t.Errorf("events %q, want %q", seen, wantSeen)
	}
}
