package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dh-gateway/dh-gateway/clients/go/dhgateway"
	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// HTTP/2 windows of the shared connections: generous, so that flow control never holds a
// stream back (setting them also turns off gRPC's BDP probing, one less source of noise).
const (
	streamWindow = 4 << 20
	connWindow   = 64 << 20
)

// gatewayMode drives streams through dh-gateway over K shared connections, round-robin.
type gatewayMode struct {
	r     *runner
	conns []*grpc.ClientConn
	rpcs  []pb.DriveGatewayClient
	opts  dhgateway.Options

	// The audio messages, marshalled once and shared by every stream (grpc.PreparedMsg's
	// bytes are read-only): chunk k is prepared[k % len(prepared)]. Without them (more
	// distinct chunks than maxPrepared) each send marshals its message.
	prepareOnce sync.Once
	period      int
	prepared    []*grpc.PreparedMsg
}

// The most distinct chunks worth preparing (the tone repeats each second: at 20 ms chunks
// there are 50).
const maxPrepared = 1000

func newGatewayMode(r *runner) (*gatewayMode, error) {
	g := &gatewayMode{r: r, period: r.tone.period()}
	encoding, err := dhgateway.ParseEncoding(r.cfg.format.encoding)
	if err != nil {
		return nil, err
	}
	g.opts = dhgateway.Options{
		Encoding:           encoding,
		SampleRateHz:       int32(r.cfg.format.rate),
		Channels:           int32(r.cfg.format.channels),
		OutputSampleRateHz: 0, // the gateway's choice
	}
	for range r.cfg.conns {
		conn, err := grpc.NewClient(r.cfg.addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithInitialWindowSize(streamWindow),
			grpc.WithInitialConnWindowSize(connWindow),
			grpc.WithSharedWriteBuffer(true),
		)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("gateway %s: %w", r.cfg.addr, err)
		}
		conn.Connect() // now, so that the first drive does not pay for the handshake
		g.conns = append(g.conns, conn)
		g.rpcs = append(g.rpcs, pb.NewDriveGatewayClient(conn))
	}
	return g, nil
}

func (g *gatewayMode) close() {
	for _, conn := range g.conns {
		_ = conn.Close()
	}
}

// stream runs one drive: config, wait for Started, chunks at 1x from then, half-close, and
// wait for Completed (or the error).
func (g *gatewayMode) stream(ctx context.Context, i int, rec *streamRecord) {
	r := g.r
	connIndex := i % len(g.rpcs)
	taskID := rec.res.TaskID // set before the stream starts, never changed
	setupStart := time.Now()
	rec.update(func(res *StreamResult) {
		res.Conn = ptr(connIndex)
		res.SetupStartMonoS = ptr(r.clock.seconds(setupStart))
	})
	// The generated stub rather than dhgateway.Drive: SendMsg takes a grpc.PreparedMsg.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	drive, err := g.rpcs[connIndex].Drive(ctx)
	if err == nil {
		err = drive.Send(&pb.DriveRequest{Request: &pb.DriveRequest_Config{Config: g.opts.Config(taskID)}})
	}
	if err != nil && !errors.Is(err, io.EOF) { // io.EOF: the stream ended; Recv says why
		g.fail(ctx, rec, err)
		return
	}
	g.prepareOnce.Do(func() { g.prepare(drive) })

	// Setup: Queued events, then Started.
	var t0 time.Time
	for t0.IsZero() {
		event, err := drive.Recv()
		now := time.Now()
		if err != nil {
			if errors.Is(err, io.EOF) {
				rec.fail("NO_STARTED", "loadgen: the stream ended before Started")
			} else {
				g.fail(ctx, rec, err)
			}
			return
		}
		rec.update(func(res *StreamResult) {
			noteDriveID(res, event)
			switch e := event.GetEvent().(type) {
			case *pb.DriveEvent_Queued:
				res.QueuedEvents++
			case *pb.DriveEvent_Started:
				t0 = now
				res.T0MonoS = ptr(r.clock.seconds(now))
				res.SetupMs = ptr(float64(now.Sub(setupStart).Microseconds()) / 1e3)
				res.Started = &StartedResult{
					OutputSampleRateHz: e.Started.GetOutputSampleRateHz(),
					SetupMs:            e.Started.GetSetupMs(),
					OutputChannels:     e.Started.GetOutputChannels(),
				}
			}
		})
	}
	r.streaming.Add(1)
	defer r.streaming.Add(-1)

	// The events while audio flows, until the stream ends.
	recvErr := make(chan error, 1)
	go func() {
		for {
			event, err := drive.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			rec.update(func(res *StreamResult) {
				noteDriveID(res, event)
				switch e := event.GetEvent().(type) {
				case *pb.DriveEvent_Progress:
					res.ProgressEvents++
				case *pb.DriveEvent_Completed:
					c := e.Completed
					res.Completed = &CompletedResult{
						ReceivedMs: c.GetReceivedMs(), SentMs: c.GetSentMs(),
						BytesSent: c.GetBytesSent(), FramesSent: c.GetFramesSent(),
						Underruns: c.GetUnderruns(), StopLagMs: c.GetStopLagMs(),
					}
				}
			})
		}
	}()

	// A send error means the stream ended (io.EOF): Recv has the reason.
	if sendErr := r.pace(ctx, rec, t0, g.sender(drive)); sendErr == nil {
		_ = drive.CloseSend()
	} else if ctx.Err() != nil {
		cancel()
	}
	err = <-recvErr // bounded: a cancelled ctx ends Recv at once
	switch {
	case errors.Is(err, io.EOF):
		rec.update(func(res *StreamResult) {
			if res.Completed == nil && res.Error == nil {
				kind, detail := "NO_COMPLETED", "loadgen: the stream ended without Completed"
				res.Error, res.ErrorDetail = &kind, &detail
			}
		})
	default:
		g.fail(ctx, rec, err)
	}
}

// prepare marshals the distinct audio messages once, on the first stream (any stream will
// do: the codec is the same for all); on failure every send marshals its own message.
func (g *gatewayMode) prepare(stream grpc.ClientStream) {
	if g.period < 1 || g.period > maxPrepared {
		return
	}
	prepared := make([]*grpc.PreparedMsg, g.period)
	for k := range prepared {
		prepared[k] = &grpc.PreparedMsg{}
		msg := &pb.DriveRequest{Request: &pb.DriveRequest_Audio{Audio: g.r.tone.chunk(k)}}
		if err := prepared[k].Encode(stream, msg); err != nil {
			return
		}
	}
	g.prepared = prepared
}

// sender is the send function of one stream: a prepared message per chunk, or one
// request reused for every chunk (gRPC has marshalled it when SendMsg returns).
func (g *gatewayMode) sender(stream grpc.ClientStream) func([]byte) error {
	if prepared := g.prepared; prepared != nil {
		k := 0
		return func([]byte) error {
			msg := prepared[k%len(prepared)]
			k++
			return stream.SendMsg(msg)
		}
	}
	audio := &pb.DriveRequest_Audio{}
	request := &pb.DriveRequest{Request: audio}
	return func(chunk []byte) error {
		audio.Audio = chunk
		return stream.SendMsg(request)
	}
}

func noteDriveID(res *StreamResult, event *pb.DriveEvent) {
	if id := event.GetDriveId(); id != "" && res.DriveID == nil {
		res.DriveID = &id
	}
}

// fail records a drive's error as "CODE REASON" (the gRPC code name and the ErrorInfo
// reason, when the gateway gave one) and the message; a cancellation by the load generator
// itself says so in the detail.
func (g *gatewayMode) fail(ctx context.Context, rec *streamRecord, err error) {
	if errors.Is(err, io.EOF) {
		err = errors.New("the stream ended (io.EOF)")
	}
	e, _ := dhgateway.FromError(err)
	kind := dhgateway.CodeName(e.Code)
	if e.Reason != "" {
		kind += " " + e.Reason
	}
	detail := err.Error()
	if cause := context.Cause(ctx); cause != nil {
		detail = cause.Error() + ": " + detail
	}
	rec.fail(kind, detail)
}
