package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

// How long the end of a direct drive may take: the close handshake after Stop, and Stop
// itself when the run was cancelled.
const closeWait = 2 * time.Second

// directMode drives the vendor's API and WebSocket straight, as the vendor's Go sample does
// (zego-api.md §7-§8): sign and POST DriveByWsStream, dial WssAddress, Start, binary PCM at
// 1x, Stop, and a clean close.
type directMode struct {
	r      *runner
	http   *http.Client
	dialer *websocket.Dialer
}

func newDirectMode(r *runner) *directMode {
	insecureTLS := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the vendor says to skip verification (§8)
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     insecureTLS,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	return &directMode{
		r:    r,
		http: &http.Client{Transport: transport},
		dialer: &websocket.Dialer{
			NetDialContext:   (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSClientConfig:  insecureTLS,
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   1024,
			// One chunk and its frame header: each chunk is one write system call.
			WriteBufferSize: r.chunkBytes + 16,
		},
	}
}

func (d *directMode) close() { d.http.CloseIdleConnections() }

// driveByWsStreamResponse is the API's envelope for DriveByWsStream (§4, §7).
type driveByWsStreamResponse struct {
	Code      int    `json:"Code"`
	Message   string `json:"Message"`
	RequestID string `json:"RequestId"`
	Data      struct {
		DriveID    string `json:"DriveId"`
		WssAddress string `json:"WssAddress"`
	} `json:"Data"`
}

// directError is a failed direct drive: a short kind for grouping and the whole message.
type directError struct{ kind, detail string }

func (e *directError) Error() string { return e.detail }

func failf(kind, format string, args ...any) *directError {
	return &directError{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// driveByWsStream signs and POSTs DriveByWsStream for taskID; returns DriveId and WssAddress.
func (d *directMode) driveByWsStream(ctx context.Context, taskID string) (string, string, error) {
	cfg := d.r.cfg
	u := *cfg.apiURL
	u.RawQuery = signedQuery("DriveByWsStream", cfg.appID, cfg.secret, newNonce(), time.Now().Unix()).Encode()
	body, _ := json.Marshal(map[string]string{"TaskId": taskID})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return "", "", failf("API_REQUEST", "api: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.http.Do(req)
	if err != nil {
		return "", "", failf("API_REQUEST", "api: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", failf("API_REQUEST", "api: reading the response: %v", err)
	}
	if resp.StatusCode/100 != 2 {
		return "", "", failf("API_HTTP_"+strconv.Itoa(resp.StatusCode), "api: HTTP %s: %.200s", resp.Status, raw)
	}
	var answer driveByWsStreamResponse
	if err := json.Unmarshal(raw, &answer); err != nil {
		return "", "", failf("API_RESPONSE", "api: the response is not the envelope: %v: %.200s", err, raw)
	}
	if answer.Code != 0 {
		return "", "", failf("API "+strconv.Itoa(answer.Code), "api: Code %d: %s (RequestId %s)", answer.Code, answer.Message, answer.RequestID)
	}
	if answer.Data.DriveID == "" || answer.Data.WssAddress == "" {
		return "", "", failf("API_RESPONSE", "api: Code 0 without DriveId and WssAddress: %.200s", raw)
	}
	return answer.Data.DriveID, answer.Data.WssAddress, nil
}

type startCommand struct {
	Action  string       `json:"Action"`
	Payload startPayload `json:"Payload"`
}

type startPayload struct {
	DriveID    string `json:"DriveId"`
	SampleRate int    `json:"SampleRate"`
	Channel    int    `json:"Channel,omitempty"` // 2 for stereo; left out for mono (the default)
}

type stopCommand struct {
	Action  string      `json:"Action"`
	Payload stopPayload `json:"Payload"`
}

type stopPayload struct {
	DriveID string `json:"DriveId"`
}

// stream runs one direct drive.
func (d *directMode) stream(ctx context.Context, _ int, rec *streamRecord) {
	if err := d.drive(ctx, rec); err != nil {
		var de *directError
		switch {
		case errors.As(err, &de):
		case errors.Is(err, errRunTimeout):
			de = &directError{kind: "LOADGEN_TIMEOUT", detail: "the run's --timeout-s ended the drive"}
		case errors.Is(err, errInterrupt):
			de = &directError{kind: "LOADGEN_INTERRUPTED", detail: "a signal ended the drive"}
		default:
			de = &directError{kind: "ERROR", detail: err.Error()}
		}
		if cause := context.Cause(ctx); cause != nil {
			de.detail = cause.Error() + ": " + de.detail
		}
		rec.fail(de.kind, de.detail)
	}
}

func (d *directMode) drive(ctx context.Context, rec *streamRecord) error {
	r := d.r
	taskID := rec.res.TaskID // set before the stream starts, never changed
	setupStart := time.Now()
	rec.update(func(res *StreamResult) { res.SetupStartMonoS = ptr(r.clock.seconds(setupStart)) })

	driveID, wssAddress, err := d.driveByWsStream(ctx, taskID)
	if err != nil {
		return err
	}
	rec.update(func(res *StreamResult) { res.DriveID = ptr(driveID) })

	conn, resp, err := d.dialer.DialContext(ctx, wssAddress, nil)
	if err != nil {
		if resp != nil {
			return failf("WS_HANDSHAKE_"+strconv.Itoa(resp.StatusCode), "ws: handshake refused: %s", resp.Status)
		}
		return failf("WS_DIAL", "ws: %v", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(deadline) // once: a per-write deadline costs a timer each
	}

	// The reader: the vendor sends nothing (§8), but a close frame or a dead connection must
	// be seen, and a close handshake needs the peer's close frame read.
	readDone := make(chan error, 1)
	go func() {
		for {
			_, reader, err := conn.NextReader()
			if err != nil {
				readDone <- err
				return
			}
			_, _ = io.Copy(io.Discard, reader)
		}
	}()

	start := startCommand{Action: "Start", Payload: startPayload{DriveID: driveID, SampleRate: r.cfg.format.rate}}
	if r.cfg.format.channels == 2 {
		start.Payload.Channel = 2
	}
	startJSON, _ := json.Marshal(start)
	if err := conn.WriteMessage(websocket.TextMessage, startJSON); err != nil {
		return failf("WS_WRITE", "ws: sending Start: %v", err)
	}
	t0 := time.Now()
	rec.update(func(res *StreamResult) {
		res.T0MonoS = ptr(r.clock.seconds(t0))
		res.SetupMs = ptr(float64(t0.Sub(setupStart).Microseconds()) / 1e3)
	})
	r.streaming.Add(1)
	defer r.streaming.Add(-1)

	var readErr error // set once the reader has ended
	sendErr := r.pace(ctx, rec, t0, func(chunk []byte) error {
		select {
		case readErr = <-readDone:
			return failf("WS_CLOSED", "ws: the server ended the connection while audio flowed: %v", readErr)
		default:
		}
		if err := conn.WriteMessage(websocket.BinaryMessage, chunk); err != nil {
			return failf("WS_WRITE", "ws: sending audio: %v", err)
		}
		return nil
	})

	// Stop and the close handshake, also after a cancellation (as a real client would).
	_ = conn.SetWriteDeadline(time.Now().Add(closeWait))
	stopJSON, _ := json.Marshal(stopCommand{Action: "Stop", Payload: stopPayload{DriveID: driveID}})
	if readErr == nil {
		if err := conn.WriteMessage(websocket.TextMessage, stopJSON); err != nil && sendErr == nil {
			sendErr = failf("WS_WRITE", "ws: sending Stop: %v", err)
		}
		closeFrame := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		if err := conn.WriteControl(websocket.CloseMessage, closeFrame, time.Now().Add(closeWait)); err != nil && sendErr == nil {
			sendErr = failf("WS_WRITE", "ws: sending the close frame: %v", err)
		}
		timer := time.NewTimer(closeWait)
		select {
		case readErr = <-readDone:
		case <-timer.C:
			readErr = errors.New("no close frame from the server in time")
		}
		timer.Stop()
	}
	if sendErr != nil {
		return sendErr
	}
	if !websocket.IsCloseError(readErr, websocket.CloseNormalClosure) {
		return failf("WS_CLOSE", "ws: not a clean close: %v", readErr)
	}
	return nil
}
