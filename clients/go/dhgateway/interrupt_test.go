package dhgateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// describe names a request: config, audio <n>, mark <name>, interrupt.
func describe(request *pb.DriveRequest) string {
	switch r := request.Request.(type) {
	case *pb.DriveRequest_Config:
		return "config"
	case *pb.DriveRequest_Audio:
		return fmt.Sprintf("audio %d", len(r.Audio))
	case *pb.DriveRequest_Mark:
		return "mark " + r.Mark.GetName()
	case *pb.DriveRequest_Interrupt:
		return "interrupt"
	}
	return "?"
}

func finishedInterrupted(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
	finished := &pb.PlaybackFinished{PlayedMs: 620, Interrupted: true}
	if err := stream.Send(&pb.DriveEvent{Event: &pb.DriveEvent_PlaybackFinished{PlaybackFinished: finished}}); err != nil {
		return err
	}
	return stream.Send(&pb.DriveEvent{Event: &pb.DriveEvent_Completed{Completed: &pb.Completed{DroppedMs: 380, Interrupted: true, PlayedMs: 620}}})
}

func TestInterruptGoesInStreamAndNothingIsSentAfterIt(t *testing.T) {
	var requests []string
	client := dial(t, func(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
		if err := eachRequest(stream, func(request *pb.DriveRequest) { requests = append(requests, describe(request)) }); err != nil {
			return err
		}
		return finishedInterrupted(stream)
	})
	d, err := client.Drive(testContext(t), "task-1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(make([]byte, 640)); err != nil {
		t.Fatal(err)
	}
	if err := d.Interrupt(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := d.Interrupt(testContext(t)); err != nil { // twice: nothing more to do
		t.Fatal(err)
	}
	if err := d.Send(make([]byte, 640)); !errors.Is(err, io.EOF) {
		t.Errorf("Send after Interrupt = %v, want io.EOF", err)
	}
	if err := d.CloseSend(); err != nil {
		t.Errorf("CloseSend after Interrupt = %v", err)
	}
	var last *pb.DriveEvent
	for {
		event, err := d.Recv()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		last = event
	}
	if want := []string{"config", "audio 640", "interrupt"}; !slices.Equal(requests, want) {
		t.Errorf("the gateway got %q, want %q", requests, want)
	}
	if c := last.GetCompleted(); c.GetDroppedMs() != 380 || !c.GetInterrupted() || c.GetPlayedMs() != 620 {
		t.Errorf("last event %v", last)
	}
}

func TestInterruptAfterTheHalfCloseStopsTheTaskAndEndsCleanly(t *testing.T) {
	stopped := make(chan struct{})
	var stopRequest *pb.StopDriveRequest
	var authorization []string
	gateway := &fakeGateway{
		drive: func(stream grpc.BidiStreamingServer[pb.DriveRequest, pb.DriveEvent]) error {
			if err := eachRequest(stream, func(*pb.DriveRequest) {}); err != nil {
				return err
			}
			started := &pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_PlaybackStarted{PlaybackStarted: &pb.PlaybackStarted{}}}
			if err := stream.Send(started); err != nil {
				return err
			}
			<-stopped
			finished := &pb.PlaybackFinished{PlayedMs: 300, Interrupted: true}
			if err := stream.Send(&pb.DriveEvent{DriveId: "d-1", Event: &pb.DriveEvent_PlaybackFinished{PlaybackFinished: finished}}); err != nil {
				return err
			}
			st, _ := status.New(codes.Aborted, "stopped").WithDetails(&errdetails.ErrorInfo{Reason: "STOPPED_BY_REQUEST", Domain: Domain})
			return st.Err()
		},
		stop: func(ctx context.Context, request *pb.StopDriveRequest) (*pb.StopDriveResponse, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			stopRequest, authorization = request, md.Get("authorization")
			close(stopped)
			return &pb.StopDriveResponse{DriveId: "d-1", PlayedMs: 300, Interrupted: true}, nil
		},
	}
	client := serve(t, gateway)
	d, err := client.Drive(WithAPIKey(testContext(t), "k"), "task-1", Options{Profile: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Send(make([]byte, 640)); err != nil {
		t.Fatal(err)
	}
	if err := d.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Recv(); err != nil { // speaking: the tail plays
		t.Fatal(err)
	}
	if err := d.Interrupt(testContext(t)); err != nil {
		t.Fatal(err)
	}
	event, err := d.Recv()
	if err != nil || !event.GetPlaybackFinished().GetInterrupted() {
		t.Fatalf("Recv = %v, %v; want the interrupted PlaybackFinished", event, err)
	}
	if _, err := d.Recv(); !errors.Is(err, io.EOF) {
		t.Errorf("Recv after our own stop = %v, want io.EOF", err)
	}
	want := &pb.StopDriveRequest{TaskId: "task-1", Profile: "p", Mode: pb.StopMode_STOP_MODE_INTERRUPT}
	if !proto.Equal(stopRequest, want) || !slices.Equal(authorization, []string{"Bearer k"}) {
		t.Errorf("StopDrive got %v with authorization %v", stopRequest, authorization)
	}
	if err := d.Interrupt(testContext(t)); err != nil { // after the end: nothing to do
		t.Error(err)
	}
}

func TestATextDriveCarriesTheTextAndNoAudioFormat(t *testing.T) {
	text := &pb.TextInput{Text: "Hello!", TimbreId: "v-1", SpeechRate: 50, PitchRate: -20}
	config := Options{Encoding: pb.Encoding_ENCODING_WAV, Text: text}.Config("task-1")
	if config.GetInput() != nil || !proto.Equal(config.GetText(), text) {
		t.Errorf("config %v", config)
	}
	if mode, err := ParseStopMode("INTERRUPT"); err != nil || mode != pb.StopMode_STOP_MODE_INTERRUPT {
		t.Errorf("ParseStopMode = %v, %v", mode, err)
	}
	if _, err := ParseStopMode("LATER"); err == nil {
		t.Error("ParseStopMode(LATER) succeeded")
	}
}

func TestStopGetTaskAndWatchTask(t *testing.T) {
	gateway := &fakeGateway{
		stop: func(_ context.Context, request *pb.StopDriveRequest) (*pb.StopDriveResponse, error) {
			if request.GetMode() != pb.StopMode_STOP_MODE_FINISH {
				return nil, status.Error(codes.InvalidArgument, "want FINISH")
			}
			st, _ := status.New(codes.NotFound, "none").WithDetails(&errdetails.ErrorInfo{Reason: "NO_ACTIVE_DRIVE", Domain: Domain})
			return nil, st.Err()
		},
		getTask: func(_ context.Context, request *pb.GetTaskRequest) (*pb.TaskInfo, error) {
			return &pb.TaskInfo{TaskId: request.GetTaskId(), Profile: request.GetProfile(), Speaking: request.GetRefresh()}, nil
		},
		watchTask: func(request *pb.WatchTaskRequest, stream grpc.ServerStreamingServer[pb.TaskInfo]) error {
			for _, s := range []pb.TaskStatus{pb.TaskStatus_TASK_STATUS_STREAMING, pb.TaskStatus_TASK_STATUS_STOPPED} {
				if err := stream.Send(&pb.TaskInfo{TaskId: request.GetTaskId(), Status: s}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	client := serve(t, gateway)
	ctx := testContext(t)
	if _, err := client.StopDrive(ctx, "task-1", ""); err == nil {
		t.Error("StopDrive succeeded")
	} else if e, _ := FromError(err); e.Reason != "NO_ACTIVE_DRIVE" {
		t.Errorf("StopDrive = %v", err)
	}
	info, err := client.GetTask(ctx, "task-1", "p", true)
	if err != nil || info.GetTaskId() != "task-1" || info.GetProfile() != "p" || !info.GetSpeaking() {
		t.Errorf("GetTask = %v, %v", info, err)
	}
	watch, err := client.WatchTask(ctx, "task-1", "")
	if err != nil {
		t.Fatal(err)
	}
	var seen []pb.TaskStatus
	for {
		info, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, info.GetStatus())
	}
	if want := []pb.TaskStatus{pb.TaskStatus_TASK_STATUS_STREAMING, pb.TaskStatus_TASK_STATUS_STOPPED}; !slices.Equal(seen, want) {
		t.Errorf("watched %v, want %v", seen, want)
	}
}
