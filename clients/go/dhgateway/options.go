package dhgateway

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// Options are the audio format and policies of one drive: the client-side form of
// DriveConfig. The zero value is the gateway's default for every field (LINEAR16 mono at
// 16000 Hz, REJECT on a busy task).
type Options struct {
	// Encoding of the audio chunks; ENCODING_UNSPECIFIED means LINEAR16. With WAV the header
	// at the start of the audio decides encoding, rate and channels.
	Encoding pb.Encoding
	// SampleRateHz is the input rate; 0 means 16000 (WAV: from the header).
	SampleRateHz int32
	// Channels is 1 or 2; 0 means 1 (WAV: from the header).
	Channels int32
	// VoiceChannel says which channel of stereo input carries the voice; unset means MIX.
	VoiceChannel pb.VoiceChannel
	// KeepStereo sends stereo to the avatar instead of mixing it down.
	KeepStereo bool
	// OutputSampleRateHz is 16000, 24000, or 0 for the gateway's choice.
	OutputSampleRateHz int32
	// OnConflict says what to do when the task is busy; unset means REJECT.
	OnConflict pb.ConflictPolicy
	// QueueTimeout bounds the wait of a QUEUE drive; 0 means the gateway's default.
	QueueTimeout time.Duration
	// Labels are free-form, logged and listed by the gateway.
	Labels map[string]string
	// Profile is the gateway's credentials profile; "" means the default one.
	Profile string
	// Text, when set, makes this a text drive: the vendor's TTS speaks Text.Text (1 to 1800
	// characters) in the timbre Text.TimbreId ("" means the profile's default), and the drive
	// carries no audio. The audio format fields are then ignored.
	Text *pb.TextInput
}

// Config is the DriveConfig message of these options for taskID.
func (o Options) Config(taskID string) *pb.DriveConfig {
	config := &pb.DriveConfig{
		TaskId: taskID,
		Input: &pb.AudioFormat{
			Encoding:     o.Encoding,
			SampleRateHz: o.SampleRateHz,
			Channels:     o.Channels,
			VoiceChannel: o.VoiceChannel,
			KeepStereo:   o.KeepStereo,
		},
		OutputSampleRateHz: o.OutputSampleRateHz,
		OnConflict:         o.OnConflict,
		Labels:             o.Labels,
		Profile:            o.Profile,
	}
	if o.QueueTimeout > 0 {
		config.QueueTimeout = durationpb.New(o.QueueTimeout)
	}
	if o.Text != nil {
		config.Input, config.Text = nil, o.Text // a text drive has no audio format
	}
	return config
}

// ParseEncoding reads an encoding by its short name: LINEAR16, FLOAT32, WAV, MULAW or ALAW.
func ParseEncoding(name string) (pb.Encoding, error) {
	value, ok := pb.Encoding_value["ENCODING_"+name]
	if !ok || value == int32(pb.Encoding_ENCODING_UNSPECIFIED) {
		return 0, fmt.Errorf("dhgateway: unknown encoding %q (LINEAR16, FLOAT32, WAV, MULAW, ALAW)", name)
	}
	return pb.Encoding(value), nil
}

// ParsePolicy reads a conflict policy by its short name: REJECT, PREEMPT or QUEUE.
func ParsePolicy(name string) (pb.ConflictPolicy, error) {
	value, ok := pb.ConflictPolicy_value["CONFLICT_POLICY_"+name]
	if !ok || value == int32(pb.ConflictPolicy_CONFLICT_POLICY_UNSPECIFIED) {
		return 0, fmt.Errorf("dhgateway: unknown conflict policy %q (REJECT, PREEMPT, QUEUE)", name)
	}
	return pb.ConflictPolicy(value), nil
}

// ParseStopMode reads a StopDrive mode by its short name: FINISH or INTERRUPT.
func ParseStopMode(name string) (pb.StopMode, error) {
	value, ok := pb.StopMode_value["STOP_MODE_"+name]
	if !ok || value == int32(pb.StopMode_STOP_MODE_UNSPECIFIED) {
		return 0, fmt.Errorf("dhgateway: unknown stop mode %q (FINISH, INTERRUPT)", name)
	}
	return pb.StopMode(value), nil
}

// SampleWidth is the bytes per sample of an encoding: 4 for FLOAT32, 1 for MULAW and ALAW,
// and 2 otherwise (LINEAR16, and WAV's usual 16-bit PCM).
func SampleWidth(encoding pb.Encoding) int {
	switch encoding {
	case pb.Encoding_ENCODING_FLOAT32:
		return 4
	case pb.Encoding_ENCODING_MULAW, pb.Encoding_ENCODING_ALAW:
		return 1
	default:
		return 2
	}
}

// ChunkBytes is the size of chunkMs of audio (at least 1 byte): rate (0 means 16000) x
// channels (0 means 1) x the encoding's sample width x chunkMs / 1000.
func ChunkBytes(encoding pb.Encoding, rateHz, channels, chunkMs int) int {
	if rateHz <= 0 {
		rateHz = 16000
	}
	channels = max(channels, 1)
	return max(1, rateHz*channels*SampleWidth(encoding)*chunkMs/1000)
}
