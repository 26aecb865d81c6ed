package dhgateway

import (
	"testing"
	"time"

	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

func TestChunkBytes(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		encoding                pb.Encoding
		rate, channels, chunkMs int
		want                    int
	}{
		{"defaults: 16 kHz mono s16le", pb.Encoding_ENCODING_UNSPECIFIED, 0, 0, 20, 640},
		{"linear16", pb.Encoding_ENCODING_LINEAR16, 24000, 1, 20, 960},
		{"wav counts as 16-bit", pb.Encoding_ENCODING_WAV, 0, 0, 100, 3200},
		{"float32 stereo", pb.Encoding_ENCODING_FLOAT32, 48000, 2, 10, 3840},
		{"mulaw", pb.Encoding_ENCODING_MULAW, 8000, 1, 20, 160},
		{"alaw", pb.Encoding_ENCODING_ALAW, 8000, 0, 20, 160},
		{"never below one byte", pb.Encoding_ENCODING_MULAW, 8000, 1, 0, 1},
		{"rounds down", pb.Encoding_ENCODING_LINEAR16, 11025, 1, 10, 220},
	} {
		if got := ChunkBytes(tc.encoding, tc.rate, tc.channels, tc.chunkMs); got != tc.want {
			t.Errorf("%s: ChunkBytes = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestParseNames(t *testing.T) {
	if e, err := ParseEncoding("FLOAT32"); err != nil || e != pb.Encoding_ENCODING_FLOAT32 {
		t.Errorf("ParseEncoding(FLOAT32) = %v, %v", e, err)
	}
	for _, bad := range []string{"", "UNSPECIFIED", "linear16", "OPUS"} {
		if _, err := ParseEncoding(bad); err == nil {
			t.Errorf("ParseEncoding(%q) accepted", bad)
		}
	}
	if p, err := ParsePolicy("QUEUE"); err != nil || p != pb.ConflictPolicy_CONFLICT_POLICY_QUEUE {
		t.Errorf("ParsePolicy(QUEUE) = %v, %v", p, err)
	}
	if _, err := ParsePolicy("UNSPECIFIED"); err == nil {
		t.Error("ParsePolicy(UNSPECIFIED) accepted")
	}
}

func TestOptionsConfig(t *testing.T) {
	config := Options{
		Encoding:     pb.Encoding_ENCODING_MULAW,
		SampleRateHz: 8000,
		OnConflict:   pb.ConflictPolicy_CONFLICT_POLICY_QUEUE,
		QueueTimeout: 1500 * time.Millisecond,
		Labels:       map[string]string{"call": "42"},
	}.Config("task-1")
	if config.GetTaskId() != "task-1" || config.GetInput().GetEncoding() != pb.Encoding_ENCODING_MULAW ||
		config.GetInput().GetSampleRateHz() != 8000 || config.GetLabels()["call"] != "42" ||
		config.GetOnConflict() != pb.ConflictPolicy_CONFLICT_POLICY_QUEUE {
		t.Errorf("Config = %v", config)
	}
	if got := config.GetQueueTimeout().AsDuration(); got != 1500*time.Millisecond {
		t.Errorf("queue_timeout = %v", got)
	}
	if (Options{}).Config("t").QueueTimeout != nil {
		t.Error("a zero QueueTimeout must leave queue_timeout unset (the gateway's default)")
	}
}
