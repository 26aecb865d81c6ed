package io.dhgateway.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.rpc.BadRequest;
import io.dhgateway.client.DriveException;
import io.dhgateway.v1.DriveEvent;
import io.dhgateway.v1.MarkPlayed;
import io.dhgateway.v1.PlaybackFinished;
import io.dhgateway.v1.PlaybackSource;
import io.dhgateway.v1.PlaybackStarted;
import io.dhgateway.v1.Progress;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ArgsTest {
  @Test
  void defaultsAreThoseOfThePythonDhDrive() throws Exception {
    Args args = Args.parse(new String[] {"--task", "t", "--file", "a.wav"});
    assertNull(args.connection.addr); // then $DHGW_ADDRESS, then 127.0.0.1:50051
    assertNull(args.connection.tls);
    assertEquals("REJECT", args.policy);
    assertEquals(20, args.chunkMs);
    assertEquals(0, args.rate);
    assertNull(args.encoding);
    assertNull(args.cancelAfterMs);
    assertEquals(0, args.markEveryMs);
    assertFalse(args.realtime);
    assertFalse(args.json);
  }

  @Test
  void everyFlagInBothSpellings() throws Exception {
    Args args =
        Args.parse(
            new String[] {
              "--addr=127.0.0.1:1", "--task", "t", "--file=f.raw", "--encoding", "MULAW",
              "--rate", "8000", "--channels=2", "--policy", "QUEUE", "--chunk-ms", "40",
              "--realtime", "--cancel-after-ms", "1500", "--mark-every-ms=250", "--api-key", "k",
              "--json", "--tls", "--ca", "ca.pem", "--cert=c.pem", "--key", "k.pem",
              "--server-name", "gw.example"
            });
    ConnectionFlagsTest.assertTls(args.connection, "127.0.0.1:1");
    assertEquals("f.raw", args.file);
    assertEquals("MULAW", args.encoding);
    assertEquals(8000, args.rate);
    assertEquals(2, args.channels);
    assertEquals("QUEUE", args.policy);
    assertEquals(40, args.chunkMs);
    assertTrue(args.realtime);
    assertEquals(1500, args.cancelAfterMs);
    assertEquals(250, args.markEveryMs);
    assertEquals("k", args.connection.apiKey);
    assertTrue(args.json);
  }

  @Test
  void mistakesExitTwoLikeArgparse() {
    Args.UsageException missing =
        assertThrows(Args.UsageException.class, () -> Args.parse(new String[] {"--json"}));
    assertEquals(2, missing.status);
    assertTrue(missing.getMessage().contains("required: --task"));
    assertEquals(
        2,
        assertThrows(
                Args.UsageException.class,
                () -> Args.parse(new String[] {"--task", "t", "--file", "f", "--policy", "X"}))
            .status);
    assertEquals(
        2,
        assertThrows(
                Args.UsageException.class,
                () -> Args.parse(new String[] {"--task", "t", "--file", "f", "--rate", "x"}))
            .status);
    assertEquals(
        0, assertThrows(Args.UsageException.class, () -> Args.parse(new String[] {"-h"})).status);
  }

  @Test
  void eventLinesUseProtoFieldNames() {
    DriveEvent event =
        DriveEvent.newBuilder()
            .setDriveId("d-1")
            .setProgress(Progress.newBuilder().setReceivedMs(40).setSentMs(20))
            .build();
    JsonObject line = DhDrive.eventJson(event);
    assertEquals("progress", line.get("event").getAsString());
    assertEquals("d-1", line.get("drive_id").getAsString());
    assertEquals(40, line.get("received_ms").getAsLong());
    assertEquals(0, line.get("underruns").getAsInt());
    assertTrue(line.has("lead_ms"));
  }

  @Test
  void playbackEventLinesUseProtoNamesInt64StringsAndEnumNames() {
    JsonObject started =
        DhDrive.eventJson(
            DriveEvent.newBuilder()
                .setDriveId("d-1")
                .setPlaybackStarted(
                    PlaybackStarted.newBuilder()
                        .setSource(PlaybackSource.PLAYBACK_SOURCE_ESTIMATED))
                .build());
    assertEquals("playback_started", started.get("event").getAsString());
    assertEquals("PLAYBACK_SOURCE_ESTIMATED", started.get("source").getAsString());

    JsonObject mark =
        DhDrive.eventJson(
            DriveEvent.newBuilder()
                .setDriveId("d-1")
                .setMarkPlayed(
                    MarkPlayed.newBuilder()
                        .setName("m500")
                        .setAtMs(500)
                        .setSource(PlaybackSource.PLAYBACK_SOURCE_ESTIMATED))
                .build());
    assertEquals("mark_played", mark.get("event").getAsString());
    assertEquals("m500", mark.get("name").getAsString());
    // Protobuf's JSON mapping: int64 as a string, as for every other int64 field.
    assertTrue(mark.get("at_ms").getAsJsonPrimitive().isString());
    assertEquals(500, mark.get("at_ms").getAsLong());

    JsonObject finished =
        DhDrive.eventJson(
            DriveEvent.newBuilder()
                .setDriveId("d-1")
                .setPlaybackFinished(
                    PlaybackFinished.newBuilder()
                        .setPlayedMs(3858)
                        .setSource(PlaybackSource.PLAYBACK_SOURCE_VENDOR))
                .build());
    assertEquals("playback_finished", finished.get("event").getAsString());
    assertEquals("3858", finished.get("played_ms").getAsString());
    assertFalse(finished.get("interrupted").getAsBoolean());
    assertEquals("PLAYBACK_SOURCE_VENDOR", finished.get("source").getAsString());

    JsonObject progress =
        DhDrive.eventJson(
            DriveEvent.newBuilder()
                .setProgress(Progress.newBuilder().setReceivedMs(100).setPlayedMs(40))
                .build());
    assertEquals("40", progress.get("played_ms").getAsString());
  }

  @Test
  void humanLinesSayWhatTheAvatarIsDoing() {
    DriveEvent started =
        DriveEvent.newBuilder()
            .setDriveId("d-1")
            .setPlaybackStarted(
                PlaybackStarted.newBuilder().setSource(PlaybackSource.PLAYBACK_SOURCE_ESTIMATED))
            .build();
    assertEquals(
        "speaking   drive_id=d-1 source=estimated", DhDrive.humanLine(DhDrive.eventJson(started)));
    DriveEvent mark =
        DriveEvent.newBuilder()
            .setDriveId("d-1")
            .setMarkPlayed(
                MarkPlayed.newBuilder()
                    .setName("m40")
                    .setAtMs(40)
                    .setSource(PlaybackSource.PLAYBACK_SOURCE_ESTIMATED))
            .build();
    assertEquals(
        "mark       drive_id=d-1 name=m40 at_ms=40 source=estimated",
        DhDrive.humanLine(DhDrive.eventJson(mark)));
    DriveEvent finished =
        DriveEvent.newBuilder()
            .setDriveId("d-1")
            .setPlaybackFinished(
                PlaybackFinished.newBuilder()
                    .setPlayedMs(1200)
                    .setInterrupted(true)
                    .setSource(PlaybackSource.PLAYBACK_SOURCE_VENDOR))
            .build();
    assertEquals(
        "finished   drive_id=d-1 played_ms=1200 interrupted=true source=vendor",
        DhDrive.humanLine(DhDrive.eventJson(finished)));
  }

  @Test
  void errorLinesCarryTheReasonAndMetadata() {
    DriveException error =
        new DriveException(
            Status.Code.ALREADY_EXISTS, "busy", "TASK_BUSY", "dhgateway", Map.of("k", "v"), null);
    JsonObject line = DhDrive.errorJson(error);
    assertEquals("ALREADY_EXISTS", line.get("code").getAsString());
    assertEquals("TASK_BUSY", line.get("reason").getAsString());
    assertEquals("busy", line.get("message").getAsString());
    assertEquals("v", line.getAsJsonObject("metadata").get("k").getAsString());
    assertFalse(line.has("retry_delay_ms") || line.has("field_violations"), line.toString());
  }

  @Test
  void errorLinesCarryTheRetryDelayAndTheFieldViolations() {
    BadRequest.FieldViolation violation =
        BadRequest.FieldViolation.newBuilder()
            .setField("config.input.sample_rate_hz")
            .setDescription("use 8000 to 48000")
            .setReason("UNSUPPORTED_FORMAT")
            .build();
    DriveException error =
        new DriveException(
            Status.Code.UNAVAILABLE,
            "m",
            "DRAINING",
            "dhgateway",
            Map.of(),
            Duration.ofMillis(500),
            List.of(violation),
            null);
    assertEquals(
        "{\"event\":\"error\",\"code\":\"UNAVAILABLE\",\"reason\":\"DRAINING\",\"message\":\"m\","
            + "\"metadata\":{},\"retry_delay_ms\":\"500\",\"field_violations\":[{\"field\":"
            + "\"config.input.sample_rate_hz\",\"description\":\"use 8000 to 48000\"}]}",
        DhDrive.errorJson(error).toString());
  }

  @Test
  void aTextDriveAndAnInterrupt() throws Exception {
    Args args =
        Args.parse(
            new String[] {"--task", "t", "--text", "Hi there", "--timbre-id", "v", "--interrupt-after-ms", "0"});
    assertNull(args.file);
    assertEquals("Hi there", args.text);
    assertEquals("v", args.timbreId);
    assertEquals(0, args.interruptAfterMs);
    for (String[] bad :
        new String[][] {{"--task", "t"}, {"--task", "t", "--file", "f", "--text", "hi"}}) {
      Args.UsageException e = assertThrows(Args.UsageException.class, () -> Args.parse(bad));
      assertTrue(e.getMessage().contains("give one of --file or --text"), e.getMessage());
    }
  }

  @Test
  void theOtherCallsAreSubcommandsWithTheirOwnFlags() throws Exception {
    Commands.CommandArgs stop =
        Commands.parse("stop", new String[] {"--task", "t", "--stop-mode", "interrupt", "--json"});
    assertEquals("interrupt", stop.stopMode);
    assertTrue(stop.json);
    assertTrue(Commands.parse("get-task", new String[] {"--task", "t", "--refresh"}).refresh);
    for (String[] bad :
        new String[][] {
          {"stop", "--task", "t", "--stop-mode", "later"}, {"watch-task", "--task", "t", "--refresh"},
          {"get-task", "--refresh"}
        }) {
      Args.UsageException e =
          assertThrows(
              Args.UsageException.class,
              () -> Commands.parse(bad[0], java.util.Arrays.copyOfRange(bad, 1, bad.length)));
      assertEquals(2, e.status);
    }
    assertEquals(java.util.Set.of("stop", "get-task", "watch-task"), Commands.NAMES);
  }

  @Test
  void aTaskPrintsEveryFieldAnUnsetMessageLeftOut() {
    io.dhgateway.v1.TaskInfo info =
        io.dhgateway.v1.TaskInfo.newBuilder()
            .setTaskId("t")
            .setStatus(io.dhgateway.v1.TaskStatus.TASK_STATUS_STREAMING)
            .setQueuedDrives(1)
            .build();
    JsonObject line = DhDrive.messageJson("task", info);
    assertEquals("task", line.get("event").getAsString());
    assertEquals("TASK_STATUS_STREAMING", line.get("status").getAsString());
    assertEquals(1, line.get("queued_drives").getAsInt());
    assertEquals("", line.get("fail_reason").getAsString());
    assertFalse(line.has("status_time"));
    assertFalse(line.has("active_drive"));
  }
}
