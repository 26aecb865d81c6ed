// Command dh-drive streams a WAV or raw PCM file through dh-gateway and prints its events.
//
// Every client language ships a dh-drive with the same flags and, with --json, the same output
// (one JSON object per line), so one test suite proves them all:
//
//	{"event": "queued" | "started" | "progress" | "playback_started" | "mark_played" |
//	          "playback_finished" | "completed", "drive_id": ..., <fields>}
//	{"event": "cancelled", "at_unix_ms": ...}    after --cancel-after-ms (exit 0)
//	{"event": "interrupt", "at_unix_ms": ...}    when --interrupt-after-ms sends the in-stream
//	                                             interrupt; the events that follow end with
//	                                             playback_finished (interrupted) and completed
//	{"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ..., "metadata": {...}}
//	                                             when the drive fails (exit 1); with
//	                                             "retry_delay_ms": "1000" (RetryInfo) and
//	                                             "field_violations": [{"field": ...,
//	                                             "description": ...}] (BadRequest) when the
//	                                             status carries them
//
// The fields are the proto's, by their names, int64 as strings and enums by name (protojson).
// --mark-every-ms N puts a mark named m<offset_ms> after every N ms of audio (at N, 2N, ... ms,
// strictly before its end; a WAV file's audio is found from its header). Without --json, the
// avatar's playback prints as speaking / mark / finished lines. --text "..." (with
// --timbre-id) speaks a text with the vendor's TTS instead of a file. dh-drive stop, get-task
// and watch-task call the other RPCs (commands.go). Every command takes the connection flags
// (connection.go): --addr, --tls, --ca, --cert, --key, --server-name, --api-key-file and
// --api-key, each else its DHGW_* variable.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/dh-gateway/dh-gateway/clients/go/dhgateway"
	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

var (
	encodings = []string{"LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW"}
	policies  = []string{"REJECT", "PREEMPT", "QUEUE"}
)

type args struct {
	task, file, text, timbreID, encoding, policy        string
	rate, channels, chunkMs, cancelAfterMs, markEveryMs int
	interruptAfterMs                                    int // -1: never
	realtime, json                                      bool
	conn                                                dhgateway.Connection // from the connection flags, else DHGW_*
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// parse reads the flags (the same as every language's dh-drive); nil after an error was shown.
func parse(argv []string, stderr io.Writer) (*args, int) {
	var a args
	var connection connectionFlags
	fs := flag.NewFlagSet("dh-drive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	connection.register(fs)
	fs.StringVar(&a.task, "task", "", "the vendor's stream task id (required)")
	fs.StringVar(&a.file, "file", "", "a .wav file, or raw audio (or --text)")
	fs.StringVar(&a.text, "text", "", "speak this text with the vendor's TTS instead")
	fs.StringVar(&a.timbreID, "timbre-id", "", "the vendor's voice for --text")
	fs.StringVar(&a.encoding, "encoding", "", "one of "+strings.Join(encodings, ", ")+" (default: by extension)")
	fs.IntVar(&a.rate, "rate", 0, "input sample rate (0: default)")
	fs.IntVar(&a.channels, "channels", 0, "input channels (0: default)")
	fs.StringVar(&a.policy, "policy", "REJECT", "one of "+strings.Join(policies, ", "))
	fs.IntVar(&a.chunkMs, "chunk-ms", 20, "audio per message")
	fs.BoolVar(&a.realtime, "realtime", false, "send at 1x, like a live TTS")
	fs.IntVar(&a.cancelAfterMs, "cancel-after-ms", 0, "cancel the drive after this long")
	fs.IntVar(&a.interruptAfterMs, "interrupt-after-ms", -1, "interrupt (silence) the avatar after this long (-1: never)")
	fs.IntVar(&a.markEveryMs, "mark-every-ms", 0, "a mark m<offset_ms> every N ms of audio")
	fs.BoolVar(&a.json, "json", false, "one JSON object per line")
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var problem string
	var err error
	switch {
	case a.task == "":
		problem = "--task is required"
	case given["file"] == given["text"]:
		problem = "give one of --file or --text"
	case fs.NArg() > 0:
		problem = "unexpected arguments: " + strings.Join(fs.Args(), " ")
	case a.encoding != "" && !slices.Contains(encodings, a.encoding):
		problem = "--encoding: invalid choice " + a.encoding
	case !slices.Contains(policies, a.policy):
		problem = "--policy: invalid choice " + a.policy
	default:
		if a.conn, err = connection.connection(given); err != nil {
			problem = err.Error()
		}
	}
	if problem != "" {
		fmt.Fprintf(stderr, "dh-drive: error: %s\n", problem)
		fs.Usage()
		return nil, 2
	}
	return &a, 0
}

func run(argv []string, stdout, stderr io.Writer) int {
	if len(argv) > 0 {
		if command, ok := commands[argv[0]]; ok {
			return runCommand(argv[0], command, argv[1:], stdout, stderr)
		}
	}
	a, status := parse(argv, stderr)
	if a == nil {
		return status
	}
	conn, status := dial(a.conn, "dh-drive", stderr)
	if conn == nil {
		return status
	}
	defer conn.Close()
	var data []byte
	if a.text == "" {
		var err error
		if data, err = os.ReadFile(a.file); err != nil {
			fmt.Fprintf(stderr, "dh-drive: %v\n", err)
			return 1
		}
	}
	if a.encoding == "" {
		a.encoding = "LINEAR16"
		if strings.EqualFold(filepath.Ext(a.file), ".wav") {
			a.encoding = "WAV"
		}
	}
	encoding, _ := dhgateway.ParseEncoding(a.encoding)
	policy, _ := dhgateway.ParsePolicy(a.policy)
	opts := dhgateway.Options{
		Encoding:     encoding,
		SampleRateHz: int32(a.rate),
		Channels:     int32(a.channels),
		OnConflict:   policy,
	}
	if a.text != "" {
		opts.Text = &pb.TextInput{Text: a.text, TimbreId: a.timbreID}
	}
	chunkBytes := dhgateway.ChunkBytes(encoding, a.rate, a.channels, a.chunkMs)
	items := pieces(data, chunkBytes, audioLayout(data, encoding, a.rate, a.channels).marks(a.markEveryMs))

	out := &printer{w: stdout, json: a.json}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The cancel's deadline, reported as asked for, not when we got round to reporting it.
	var cancelled atomic.Bool
	cancelAt := time.Now().Add(time.Duration(a.cancelAfterMs) * time.Millisecond)
	if a.cancelAfterMs > 0 {
		timer := time.AfterFunc(time.Until(cancelAt), func() {
			cancelled.Store(true)
			cancel()
		})
		defer timer.Stop()
	}

	client := dhgateway.NewClient(conn)
	d, err := client.Drive(ctx, a.task, opts)
	if err == nil {
		if a.text == "" {
			go send(ctx, d, items, chunkBytes, a.chunkMs, a.realtime)
		} // a text drive ends by itself; its open half keeps the interrupt in-stream
		if a.interruptAfterMs >= 0 {
			timer := time.AfterFunc(time.Duration(a.interruptAfterMs)*time.Millisecond, func() {
				// When the interrupt is sent, which is what the avatar's silence is measured from.
				out.line("interrupt", [][2]any{{"at_unix_ms", float64(time.Now().UnixMicro()) / 1000}}, nil)
				_ = d.Interrupt(ctx) // a failed StopDrive fallback: the drive ends as it would have
			})
			defer timer.Stop()
		}
		for {
			var event *pb.DriveEvent
			if event, err = d.Recv(); err != nil {
				break
			}
			out.event(event)
		}
	}
	if errors.Is(err, io.EOF) {
		return 0
	}
	e, _ := dhgateway.FromError(err)
	if e.Code == codes.Canceled && cancelled.Load() {
		out.line("cancelled", [][2]any{{"at_unix_ms", float64(cancelAt.UnixMicro()) / 1000}}, nil)
		return 0
	}
	out.error(e)
	return 1
}

// layout is where a file's audio is and how long its frames are: to put marks at offsets of
// the audio.
type layout struct {
	start, end         int // the first byte of audio (after a WAV header), the byte after the last
	frameBytes, rateHz int // bytes per frame (all channels of one sample), frames per second
}

// mark is a mark's place: after the byte at position, offsetMs into the audio.
type mark struct{ position, offsetMs int }

// marks places a mark every everyMs of audio: at everyMs, twice that, ...: strictly inside the
// audio (none at its start or end).
func (l layout) marks(everyMs int) []mark {
	if everyMs <= 0 {
		return nil
	}
	var marks []mark
	for offsetMs := everyMs; ; offsetMs += everyMs {
		position := l.start + offsetMs*l.rateHz/1000*l.frameBytes
		if position >= l.end {
			return marks
		}
		marks = append(marks, mark{position, offsetMs})
	}
}

// wavLayout reads a RIFF/WAVE file's data chunk, from its fmt chunk; false if it cannot.
func wavLayout(data []byte) (layout, bool) {
	if len(data) < 12 || string(data[:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return layout{}, false
	}
	frameBytes, rateHz := 0, 0
	for position := 12; position+8 <= len(data); {
		id, body := string(data[position:position+4]), position+8
		size := int(binary.LittleEndian.Uint32(data[position+4:]))
		switch {
		case id == "fmt " && size >= 16 && body+16 <= len(data):
			rateHz = int(binary.LittleEndian.Uint32(data[body+4:]))
			frameBytes = int(binary.LittleEndian.Uint16(data[body+12:]))
		case id == "data":
			if frameBytes <= 0 || rateHz <= 0 {
				return layout{}, false
			}
			// A streamed WAV may leave the size at 0 or 0xFFFFFFFF: then to the end of the file.
			end := len(data)
			if size != 0 && size != 0xFFFFFFFF {
				end = min(end, body+size)
			}
			return layout{body, end, frameBytes, rateHz}, true
		}
		position = body + size + size&1
	}
	return layout{}, false
}

// audioLayout is data's layout: a WAV's from its header, else from the flags' format.
func audioLayout(data []byte, encoding pb.Encoding, rate, channels int) layout {
	if encoding == pb.Encoding_ENCODING_WAV {
		if l, ok := wavLayout(data); ok {
			return l
		}
	}
	if rate <= 0 {
		rate = 16000
	}
	return layout{0, len(data), max(channels, 1) * dhgateway.SampleWidth(encoding), rate}
}

// piece is one message of the audio: a chunk, or (audio nil) a mark after the audio before it.
type piece struct {
	audio []byte
	mark  string
}

// pieces cuts data in chunks of chunkBytes, and at each mark's position, with the mark after it.
func pieces(data []byte, chunkBytes int, marks []mark) []piece {
	var out []piece
	for offset := 0; offset < len(data); {
		end := min(offset+max(chunkBytes, 1), len(data))
		if len(marks) > 0 && offset < marks[0].position && marks[0].position < end {
			end = marks[0].position
		}
		out = append(out, piece{audio: data[offset:end]})
		offset = end
		for len(marks) > 0 && marks[0].position <= offset {
			out = append(out, piece{mark: fmt.Sprintf("m%d", marks[0].offsetMs)})
			marks = marks[1:]
		}
	}
	return out
}

// send pushes the pieces, each chunk at start + k x chunkMs with realtime (chunk k; an absolute
// schedule: no drift), then half-closes. It stops when the stream ends.
func send(ctx context.Context, d *dhgateway.Drive, items []piece, chunkBytes, chunkMs int, realtime bool) {
	start := time.Now()
	var timer *time.Timer
	offset := 0
	for _, item := range items {
		if item.audio == nil {
			if d.SendMark(item.mark) != nil {
				return
			}
			continue
		}
		if realtime {
			chunks := float64(offset) / float64(max(chunkBytes, 1))
			due := time.Duration(chunks * float64(chunkMs) * float64(time.Millisecond))
			if wait := time.Until(start.Add(due)); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
			}
		}
		offset += len(item.audio)
		if d.Send(item.audio) != nil {
			return // the stream ended; Recv says why
		}
	}
	_ = d.CloseSend()
}

// printer writes one line per event: JSON objects with --json, else "event  key=value...".
// Safe for concurrent use (the interrupt's timer prints beside the events).
type printer struct {
	w    io.Writer
	json bool
	mu   sync.Mutex
}

// eventJSON prints scalars at their zero value too, but not an unset message (as every
// language's proto3 JSON printer does with "always print fields without presence").
var eventJSON = protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}

// event prints a DriveEvent: its kind, drive_id and the fields of its message.
func (p *printer) event(event *pb.DriveEvent) {
	m := event.ProtoReflect()
	field := m.WhichOneof(m.Descriptor().Oneofs().ByName("event"))
	if field == nil {
		p.line("unknown", [][2]any{{"drive_id", event.GetDriveId()}}, nil)
		return
	}
	p.message(string(field.Name()), [][2]any{{"drive_id", event.GetDriveId()}}, m.Get(field).Message())
}

// message prints body's fields after pairs: spliced in as JSON with --json, else as key=value.
func (p *printer) message(kind string, pairs [][2]any, body protoreflect.Message) {
	if p.json {
		fields, err := eventJSON.Marshal(body.Interface())
		if err != nil {
			panic(err) // a generated message always marshals
		}
		// {"a":1,...} less its braces, spliced after the pairs.
		p.line(kind, pairs, bytes.TrimSpace(fields[1:len(fields)-1]))
		return
	}
	fields := body.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		value := any(body.Get(fd).Interface())
		if fd.Kind() == protoreflect.EnumKind {
			if enum := fd.Enum().Values().ByNumber(body.Get(fd).Enum()); enum != nil {
				value = string(enum.Name())
			}
		}
		pairs = append(pairs, [2]any{string(fd.Name()), value})
	}
	p.line(kind, pairs, nil)
}

// line prints one event with its fields in order; with --json, rawJSON (members of an object,
// without the braces) follows them.
func (p *printer) line(kind string, pairs [][2]any, rawJSON []byte) {
	var b strings.Builder
	if p.json {
		b.WriteString(`{"event":`)
		writeJSON(&b, kind)
		for _, pair := range pairs {
			b.WriteByte(',')
			writeJSON(&b, pair[0])
			b.WriteByte(':')
			writeJSON(&b, pair[1])
		}
		if len(rawJSON) > 0 {
			b.WriteByte(',')
			b.Write(rawJSON)
		}
		b.WriteString("}\n")
	} else {
		fmt.Fprintf(&b, "%-10s", said(kind))
		for _, pair := range pairs {
			fmt.Fprintf(&b, " %s=%v", pair[0], pair[1])
		}
		b.WriteByte('\n')
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, b.String())
}

// fieldViolation is one of the error line's field_violations, its keys in the order every
// dh-drive prints them.
type fieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// error prints a failed call as the error line: retry_delay_ms (an int64, as a string) and
// field_violations only when the status carries them.
func (p *printer) error(e *dhgateway.Error) {
	pairs := [][2]any{
		{"code", dhgateway.CodeName(e.Code)},
		{"reason", e.Reason},
		{"message", e.Message},
		{"metadata", e.Metadata},
	}
	if delay, ok := e.RetryDelay(); ok {
		pairs = append(pairs, [2]any{"retry_delay_ms", strconv.FormatInt(delay.Milliseconds(), 10)})
	}
	if len(e.FieldViolations) > 0 {
		violations := make([]fieldViolation, 0, len(e.FieldViolations))
		for _, v := range e.FieldViolations {
			violations = append(violations, fieldViolation{v.GetField(), v.GetDescription()})
		}
		pairs = append(pairs, [2]any{"field_violations", violations})
	}
	p.line("error", pairs, nil)
}

// said is an event's human name: the avatar's playback as speaking / mark / finished.
func said(kind string) string {
	switch kind {
	case "playback_started":
		return "speaking"
	case "mark_played":
		return "mark"
	case "playback_finished":
		return "finished"
	}
	return kind
}

func writeJSON(b *strings.Builder, value any) {
	encoded, err := json.Marshal(value)
	if err != nil {
		panic(err) // strings, numbers and string maps always marshal
	}
	b.Write(encoded)
}
