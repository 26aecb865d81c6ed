package dhgateway_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dh-gateway/dh-gateway/clients/go/dhgateway"
	pb "github.com/dh-gateway/dh-gateway/clients/go/dhgatewayv1"
)

// Speak a file: the README's ten lines (compiled, not run: it needs a gateway).
func ExampleClient_Speak() {
	conn, err := grpc.NewClient("127.0.0.1:50051", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	audio, _ := os.Open("speech.wav") // the WAV header tells the gateway the format
	opts := dhgateway.Options{Encoding: pb.Encoding_ENCODING_WAV}
	completed, err := dhgateway.NewClient(conn).Speak(context.Background(), "my-task-id", opts, audio, 3200,
		func(event *pb.DriveEvent) { log.Println(event) })
	if e, ok := dhgateway.FromError(err); ok {
		log.Fatalf("%s %s %v", dhgateway.CodeName(e.Code), e.Reason, e.Metadata) // e.g. ALREADY_EXISTS TASK_BUSY map[holder_drive_id:...]
	}
	log.Printf("spoke %d ms", completed.GetSentMs())
}

// Stream audio as it is synthesized, reading the events on the side.
func ExampleClient_Drive() {
	conn, _ := grpc.NewClient("127.0.0.1:50051", grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background()) // cancel() stops the avatar at once
	defer cancel()
	d, err := dhgateway.NewClient(conn).Drive(ctx, "my-task-id", dhgateway.Options{SampleRateHz: 24000})
	if err != nil {
		log.Fatal(err)
	}
	tts := make(chan []byte) // s16le chunks from a TTS engine
	go func() {
		word := 0
		for chunk := range tts {
			if d.Send(chunk) != nil { // blocks while the gateway paces; io.EOF: the drive ended
				return
			}
			word++ // a mark after each word: its MarkPlayed says the avatar has said it
			if d.SendMark(fmt.Sprintf("word-%d", word)) != nil {
				return
			}
		}
		_ = d.CloseSend()
	}()
	close(tts) // here: the TTS engine closes tts at the end of the utterance
	for {
		event, err := d.Recv()
		if errors.Is(err, io.EOF) {
			break // completed
		} else if err != nil {
			log.Fatal(err) // an *dhgateway.Error
		}
		switch e := event.Event.(type) {
		case *pb.DriveEvent_Started:
			log.Printf("drive %s started at %d Hz", event.DriveId, e.Started.OutputSampleRateHz)
		case *pb.DriveEvent_PlaybackStarted:
			log.Print("speaking")
		case *pb.DriveEvent_MarkPlayed:
			log.Printf("heard up to %s (%d ms)", e.MarkPlayed.Name, e.MarkPlayed.AtMs)
		case *pb.DriveEvent_PlaybackFinished:
			log.Printf("finished: %d ms played, interrupted %v", e.PlaybackFinished.PlayedMs, e.PlaybackFinished.Interrupted)
		case *pb.DriveEvent_Completed:
			log.Printf("sent %d bytes; the avatar is silent", e.Completed.BytesSent)
		}
	}
}
