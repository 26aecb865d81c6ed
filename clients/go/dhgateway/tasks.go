package dhgateway

import (
	"context"

	"google.golang.org/grpc"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// GetTask says how the vendor's task taskID is: its Status (and where the gateway learned
// it), whether the avatar is Speaking and in which drive, the ActiveDrive, QueuedDrives and
// IdleDeadline (when MaxIdleTime ends the task if nothing drives it). refresh asks the vendor
// now instead of the gateway's cached word. A task the vendor does not know is an *Error
// NOT_FOUND / UPSTREAM_TASK_NOT_FOUND.
func (c *Client) GetTask(ctx context.Context, taskID, profile string, refresh bool, callOpts ...grpc.CallOption) (*pb.TaskInfo, error) {
	request := &pb.GetTaskRequest{TaskId: taskID, Profile: profile, Refresh: refresh}
	info, err := c.rpc.GetTask(ctx, request, callOpts...)
	if err != nil {
		return nil, asError(err)
	}
	return info, nil
}

// WatchTask opens a watch of taskID: its Recv returns the task's TaskInfo now and at each
// change, until the task has ended (the last one says TASK_STATUS_STOPPED or
// TASK_STATUS_INIT_FAILED, then io.EOF). Cancelling ctx ends the watch.
func (c *Client) WatchTask(ctx context.Context, taskID, profile string, callOpts ...grpc.CallOption) (*TaskWatch, error) {
	request := &pb.WatchTaskRequest{TaskId: taskID, Profile: profile}
	stream, err := c.rpc.WatchTask(ctx, request, callOpts...)
	if err != nil {
		return nil, asError(err)
	}
	return &TaskWatch{stream: stream}, nil
}

// TaskWatch is an open WatchTask call.
type TaskWatch struct {
	stream grpc.ServerStreamingClient[pb.TaskInfo]
}

// Recv is the task's next TaskInfo; io.EOF once the task has ended, else an *Error (a task the
// vendor does not know: NOT_FOUND / UPSTREAM_TASK_NOT_FOUND; a cancelled ctx: CANCELLED).
func (w *TaskWatch) Recv() (*pb.TaskInfo, error) {
	info, err := w.stream.Recv()
	if err != nil {
		return nil, asError(err)
	}
	return info, nil
}
