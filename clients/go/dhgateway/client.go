// Package dhgateway drives a cloud digital human through dh-gateway.
//
// One Drive is one utterance: a bidirectional gRPC stream that carries a DriveConfig, then
// audio chunks (and marks between them), then a half-close, and receives the gateway's events:
// queued, started, progress, then what the avatar played (playback started, a mark played for
// each mark, playback finished) and last completed, once the avatar is silent. A failed drive
// ends with an *Error holding the gRPC status and the gateway's ErrorInfo reason and metadata.
//
//	conn, err := grpc.NewClient("127.0.0.1:50051", grpc.WithTransportCredentials(insecure.NewCredentials()))
//	client := dhgateway.NewClient(conn)
//	completed, err := client.Speak(ctx, "my-task-id", dhgateway.Options{}, pcm, 640, nil)
//
// For a TLS gateway that wants an API key, Connection (else the DHGW_* variables, with
// ConnectionFromEnv) dials it: conn, err := connection.Dial().
//
// The generated messages and stubs are in package dhgatewayv1.
package dhgateway

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// Client calls a gateway over a gRPC connection. It is safe for concurrent use.
type Client struct {
	rpc pb.DriveGatewayClient
}

// NewClient is a Client over conn (a *grpc.ClientConn, usually made by grpc.NewClient).
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewDriveGatewayClient(conn)}
}

// WithAPIKey is ctx carrying the gateway's API key (as "authorization: Bearer <key>").
func WithAPIKey(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
}

// Drive opens a drive of taskID and sends its config. Push the audio with Send, end it with
// CloseSend, and read the events with Recv until it returns an error. A text drive
// (opts.Text) sends no audio: it ends by itself once the avatar has spoken the text, so leave
// its sending side open (Interrupt still goes in-stream then).
//
// Cancelling ctx (or calling Cancel) cancels the drive: the gateway gets the cancellation at
// once and sends the avatar its Stop, but the avatar plays what it was already sent;
// Interrupt silences it. A failure to open is an *Error; so is a config the gateway refuses,
// but that one comes from Recv (the stream is open by then).
func (c *Client) Drive(ctx context.Context, taskID string, opts Options, callOpts ...grpc.CallOption) (*Drive, error) {
	md, _ := metadata.FromOutgoingContext(ctx)
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.rpc.Drive(ctx, callOpts...)
	if err != nil {
		cancel()
		return nil, asError(err)
	}
	d := &Drive{stream: stream, cancel: cancel, client: c, taskID: taskID, profile: opts.Profile, md: md, callOpts: callOpts}
	config := &pb.DriveRequest{Request: &pb.DriveRequest_Config{Config: opts.Config(taskID)}}
	if err := stream.Send(config); err != nil && !errors.Is(err, io.EOF) {
		cancel()
		return nil, asError(err)
	}
	return d, nil
}

// Drive is one open drive. One goroutine may Send and CloseSend while another calls Recv;
// Interrupt and Cancel are safe from anywhere.
type Drive struct {
	stream grpc.BidiStreamingClient[pb.DriveRequest, pb.DriveEvent]
	cancel context.CancelFunc

	// What Interrupt needs to call StopDrive once the audio was half-closed.
	client          *Client
	taskID, profile string
	md              metadata.MD
	callOpts        []grpc.CallOption

	// mu orders the writes: an Interrupt waits for the Send in flight (the stream is ordered,
	// it could not overtake it anyway), and nothing is sent after it.
	mu                      sync.Mutex
	halfClosed, interrupted bool
	ended, stoppedByUs      atomic.Bool
}

// send writes one request unless the stream was half-closed or interrupted (then io.EOF).
func (d *Drive) send(request *pb.DriveRequest) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halfClosed || d.interrupted {
		return io.EOF
	}
	return asError(d.stream.Send(request))
}

// Send sends one chunk of audio (any size up to the gateway's maximum, split anywhere). It
// blocks while HTTP/2 flow control holds the stream back, which is how the gateway paces a
// sender that runs ahead of the avatar. Do not modify audio once passed.
//
// It returns io.EOF when the stream has already ended (the gateway failed the drive, or it
// was cancelled: Recv then returns the reason), or after CloseSend or Interrupt.
func (d *Drive) Send(audio []byte) error {
	return d.send(&pb.DriveRequest{Request: &pb.DriveRequest_Audio{Audio: audio}})
}

// SendMark sends a mark named name after the audio sent so far. The gateway answers with a
// MarkPlayed event of that name (and where the mark is in the audio, AtMs) once the avatar has
// played the audio before it; a TTS that knows its word timings so learns which words were
// heard. The gateway refuses an empty name, one above 256 bytes, or too many marks in a drive
// (INVALID_ARGUMENT / BAD_MARK, from Recv). It returns io.EOF like Send.
func (d *Drive) SendMark(name string) error {
	return d.send(&pb.DriveRequest{Request: &pb.DriveRequest_Mark{Mark: &pb.Mark{Name: name}}})
}

// CloseSend ends the audio (half-close); the gateway then finishes the drive once the avatar
// has played it (PlaybackFinished), and Recv returns Completed and then io.EOF. After an
// Interrupt it does nothing (the interrupt half-closed already).
func (d *Drive) CloseSend() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.halfClosed || d.interrupted {
		return nil
	}
	d.halfClosed = true
	return asError(d.stream.CloseSend())
}

// Interrupt makes the avatar silent now (barge-in); keep calling Recv for how it ended.
//
// While the audio is still being sent, it sends DriveRequest.interrupt and half-closes: the
// gateway stops sending, drops the audio it still holds, and the stream ends OK with
// PlaybackFinished (Interrupted, PlayedMs: what was heard) and Completed (DroppedMs); Send
// returns io.EOF from then on. After CloseSend (the avatar playing the drive's tail) it calls
// StopDrive with STOP_MODE_INTERRUPT for the task instead (bounded by ctx, with the drive's
// metadata such as its API key); Recv then returns io.EOF after PlaybackFinished, with no
// Completed. Calling it again, or after the drive ended, does nothing. It waits for a Send
// in flight (blocked under flow control) to go out first.
//
// The error is the StopDrive call's *Error (not NO_ACTIVE_DRIVE: the drive ended meanwhile).
func (d *Drive) Interrupt(ctx context.Context) error {
	d.mu.Lock()
	if d.interrupted || d.ended.Load() {
		d.mu.Unlock()
		return nil
	}
	d.interrupted = true
	if !d.halfClosed {
		err := d.stream.Send(&pb.DriveRequest{Request: &pb.DriveRequest_Interrupt{Interrupt: &pb.Interrupt{}}})
		if err == nil {
			err = d.stream.CloseSend()
		}
		d.mu.Unlock()
		if errors.Is(err, io.EOF) {
			return nil // the stream ended meanwhile: Recv says how
		}
		return asError(err)
	}
	d.mu.Unlock()
	d.stoppedByUs.Store(true)
	if len(d.md) > 0 {
		md, _ := metadata.FromOutgoingContext(ctx)
		ctx = metadata.NewOutgoingContext(ctx, metadata.Join(md, d.md))
	}
	_, err := d.client.Stop(ctx, d.taskID, d.profile, pb.StopMode_STOP_MODE_INTERRUPT, d.callOpts...)
	if e, ok := FromError(err); ok && e.Code == codes.NotFound && e.ReasonEnum() == pb.ErrorReason_NO_ACTIVE_DRIVE {
		return nil
	}
	return err
}

// SendAll sends r's bytes in chunks of chunkBytes, then half-closes. It stops early, with a nil
// error, when the stream ends (Recv has the reason). A read error cancels the drive and is
// returned.
func (d *Drive) SendAll(r io.Reader, chunkBytes int) error {
	err := d.sendAll(r, chunkBytes)
	if err != nil {
		d.Cancel()
	}
	return err
}

func (d *Drive) sendAll(r io.Reader, chunkBytes int) error {
	for {
		// A fresh buffer each time: gRPC may still hold the last one.
		chunk := make([]byte, max(chunkBytes, 1))
		n, err := io.ReadFull(r, chunk)
		if n > 0 {
			if sendErr := d.Send(chunk[:n]); sendErr != nil {
				return nil
			}
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			_ = d.CloseSend()
			return nil
		case err != nil:
			return err
		}
	}
}

// Recv is the next event of the drive: switch on event.Event's type (*pb.DriveEvent_Started,
// _Progress, _PlaybackStarted, _MarkPlayed, _PlaybackFinished, _Completed, _Queued). A drive
// that sent audio gets one PlaybackStarted, its MarkPlayed in order, and one PlaybackFinished
// before Completed. After the last event of a successful drive (Completed) it returns io.EOF
// (also when Interrupt ended it through StopDrive); when the drive failed or was cancelled it
// returns an *Error.
func (d *Drive) Recv() (*pb.DriveEvent, error) {
	event, err := d.stream.Recv()
	if err != nil {
		d.ended.Store(true)
		d.cancel() // the call is over: release its context
		e, ok := FromError(err)
		if ok && d.stoppedByUs.Load() && e.Code == codes.Aborted && e.ReasonEnum() == pb.ErrorReason_STOPPED_BY_REQUEST {
			return nil, io.EOF // our own Interrupt went through StopDrive: the end we asked for
		}
		return nil, asError(err)
	}
	return event, nil
}

// Cancel cancels the drive now (idempotent): the gateway stops the avatar at once, and Recv
// returns an *Error with code Canceled.
func (d *Drive) Cancel() { d.cancel() }

// Speak drives taskID with all of audio, sent in chunks of chunkBytes as fast as the gateway
// takes them, and calls onEvent (when not nil) with each event. It returns the final Completed
// accounting, or the *Error the drive failed with (or audio's read error). Cancelling ctx
// cancels the drive.
func (c *Client) Speak(ctx context.Context, taskID string, opts Options, audio io.Reader, chunkBytes int, onEvent func(*pb.DriveEvent)) (*pb.Completed, error) {
	d, err := c.Drive(ctx, taskID, opts)
	if err != nil {
		return nil, err
	}
	defer d.Cancel()
	readErr := make(chan error, 1)
	go func() {
		if err := d.sendAll(audio, chunkBytes); err != nil {
			readErr <- err // before the cancel, so that Recv's error finds it
			d.Cancel()
		}
	}()
	var completed *pb.Completed
	for {
		event, err := d.Recv()
		if errors.Is(err, io.EOF) {
			return completed, nil
		}
		if err != nil {
			// A read error cancelled the drive; it says more than the cancellation.
			select {
			case e := <-readErr:
				if e != nil {
					return nil, e
				}
			default:
			}
			return nil, err
		}
		if onEvent != nil {
			onEvent(event)
		}
		if done := event.GetCompleted(); done != nil {
			completed = done
		}
	}
}

// StopDrive is Stop with STOP_MODE_FINISH, returning only the DriveId.
func (c *Client) StopDrive(ctx context.Context, taskID, profile string) (string, error) {
	response, err := c.Stop(ctx, taskID, profile, pb.StopMode_STOP_MODE_FINISH)
	return response.GetDriveId(), err
}

// Stop ends the active drive of taskID, on whichever replica runs it: STOP_MODE_FINISH lets
// the avatar play what it was sent, STOP_MODE_INTERRUPT silences it now (also a speaking
// avatar whose drive already ended). The drive's stream ends ABORTED / STOPPED_BY_REQUEST;
// the answer has its DriveId, PlayedMs and Interrupted. A task without an active drive is an
// *Error NOT_FOUND / NO_ACTIVE_DRIVE.
func (c *Client) Stop(ctx context.Context, taskID, profile string, mode pb.StopMode, callOpts ...grpc.CallOption) (*pb.StopDriveResponse, error) {
	request := &pb.StopDriveRequest{TaskId: taskID, Profile: profile, Mode: mode}
	response, err := c.rpc.StopDrive(ctx, request, callOpts...)
	if err != nil {
		return nil, asError(err)
	}
	return response, nil
}

// ListDrives lists the gateway's active and queued drives (of taskID; "" for all): of every
// replica sharing its Redis, every page (ListDrivesPage asks for one).
func (c *Client) ListDrives(ctx context.Context, taskID string) ([]*pb.DriveInfo, error) {
	var drives []*pb.DriveInfo
	token := ""
	for {
		page, err := c.ListDrivesPage(ctx, taskID, 0, token)
		if err != nil {
			return nil, err
		}
		drives = append(drives, page.GetDrives()...)
		next := page.GetNextPageToken()
		if next == "" || next == token {
			return drives, nil
		}
		token = next
	}
}

// ListDrivesPage asks for one page of ListDrives (pageSize 0: the gateway's 100, at most
// 1000); pass its NextPageToken as pageToken for the next page ("" after the last).
func (c *Client) ListDrivesPage(
	ctx context.Context, taskID string, pageSize int32, pageToken string,
) (*pb.ListDrivesResponse, error) {
	request := &pb.ListDrivesRequest{TaskId: taskID, PageSize: pageSize, PageToken: pageToken}
	response, err := c.rpc.ListDrives(ctx, request)
	if err != nil {
		return nil, asError(err)
	}
	return response, nil
}

// Capabilities says which formats, rates and policies the gateway accepts.
func (c *Client) Capabilities(ctx context.Context) (*pb.Capabilities, error) {
	response, err := c.rpc.GetCapabilities(ctx, &pb.GetCapabilitiesRequest{})
	return response, asError(err)
}
