package io.dhgateway.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.dhgateway.client.DriveException;
import io.dhgateway.v1.DriveEvent;
import io.dhgateway.v1.Progress;
import io.grpc.Status;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ArgsTest {
  @Test
  void defaultsAreThoseOfThePythonDhDrive() throws Exception {
    Args args = Args.parse(new String[] {"--task", "t", "--file", "a.wav"});
    assertEquals("127.0.0.1:50051", args.addr);
    assertEquals("REJECT", args.policy);
    assertEquals(20, args.chunkMs);
    assertEquals(0, args.rate);
    assertNull(args.encoding);
    assertNull(args.cancelAfterMs);
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
              "--realtime", "--cancel-after-ms", "1500", "--api-key", "k", "--json"
            });
    assertEquals("127.0.0.1:1", args.addr);
    assertEquals("f.raw", args.file);
    assertEquals("MULAW", args.encoding);
    assertEquals(8000, args.rate);
    assertEquals(2, args.channels);
    assertEquals("QUEUE", args.policy);
    assertEquals(40, args.chunkMs);
    assertTrue(args.realtime);
    assertEquals(1500, args.cancelAfterMs);
    assertEquals("k", args.apiKey);
    assertTrue(args.json);
  }

  @Test
  void mistakesExitTwoLikeArgparse() {
    Args.UsageException missing =
        assertThrows(Args.UsageException.class, () -> Args.parse(new String[] {"--json"}));
    assertEquals(2, missing.status);
    assertTrue(missing.getMessage().contains("required: --task, --file"));
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
  void errorLinesCarryTheReasonAndMetadata() {
    DriveException error =
        new DriveException(
            Status.Code.ALREADY_EXISTS, "busy", "TASK_BUSY", "dhgateway", Map.of("k", "v"), null);
    JsonObject line = DhDrive.errorJson(error);
    assertEquals("ALREADY_EXISTS", line.get("code").getAsString());
    assertEquals("TASK_BUSY", line.get("reason").getAsString());
    assertEquals("busy", line.get("message").getAsString());
    assertEquals("v", line.getAsJsonObject("metadata").get("k").getAsString());
  }
}
