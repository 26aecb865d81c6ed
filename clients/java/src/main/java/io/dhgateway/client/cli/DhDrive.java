package io.dhgateway.client.cli;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import com.google.rpc.BadRequest;
import io.dhgateway.client.AudioChunks;
import io.dhgateway.client.Drive;
import io.dhgateway.client.DriveException;
import io.dhgateway.client.DriveGatewayClient;
import io.dhgateway.client.DriveInput;
import io.dhgateway.client.DriveOptions;
import io.dhgateway.v1.DriveEvent;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code dh-drive}: stream a WAV or raw PCM file through dh-gateway and print its events.
 *
 * <p>Every client language ships a {@code dh-drive} with the same flags and, with {@code --json},
 * the same output (one JSON object per line):
 *
 * <ul>
 *   <li>{@code {"event": "queued" | "started" | "progress" | "playback_started" | "mark_played" |
 *       "playback_finished" | "completed", "drive_id": ..., <fields>}} (protobuf's JSON: int64
 *       fields as strings, enums by name);
 *   <li>{@code {"event": "cancelled", "at_unix_ms": ...}} after {@code --cancel-after-ms} (exit
 *       0);
 *   <li>{@code {"event": "interrupt", "at_unix_ms": ...}} when {@code --interrupt-after-ms}
 *       sends the in-stream interrupt; the events that follow end with {@code
 *       playback_finished} ({@code interrupted}) and {@code completed} (exit 0);
 *   <li>{@code {"event": "error", "code": "INVALID_ARGUMENT", "reason": ..., "message": ...,
 *       "metadata": {...}}} when the drive fails (exit 1); with {@code "retry_delay_ms"}
 *       (RetryInfo) and {@code "field_violations"} (BadRequest) when the status carries them.
 * </ul>
 *
 * <p>{@code --text "..."} (with {@code --timbre-id}) speaks a text with the vendor's TTS instead
 * of a file; {@code dh-drive stop}, {@code get-task} and {@code watch-task} call the other RPCs
 * ({@link Commands}). Every command reaches the gateway by {@link ConnectionFlags}: {@code
 * --addr}, TLS ({@code --tls}, {@code --ca}, {@code --cert}/{@code --key}) and the API key.
 */
public final class DhDrive {
  private static final Charset UTF8 = StandardCharsets.UTF_8;
  private static final Gson GSON = new GsonBuilder().disableHtmlEscaping().create();
  static final JsonFormat.Printer PRINTER =
      JsonFormat.printer()
          .preservingProtoFieldNames()
          .alwaysPrintFieldsWithNoPresence()
          .omittingInsignificantWhitespace();

  private static final Duration CONNECT_WAIT = Duration.ofSeconds(10);

  private final PrintStream out;
  private final boolean json;

  DhDrive(PrintStream out, boolean json) {
    this.out = out;
    this.json = json;
  }

  public static void main(String[] argv) {
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, UTF8);
    PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, UTF8);
    System.exit(run(argv, out, err));
  }

  /** Runs {@code dh-drive} with these arguments; returns the exit status. */
  public static int run(String[] argv, PrintStream out, PrintStream err) {
    if (argv.length > 0 && Commands.NAMES.contains(argv[0])) {
      return Commands.run(argv[0], java.util.Arrays.copyOfRange(argv, 1, argv.length), out, err);
    }
    Args args;
    ConnectionFlags.Dialed dialed;
    try {
      args = Args.parse(argv);
      dialed = args.connection.dial(System.getenv(), Args::error);
    } catch (Args.UsageException e) {
      (e.status == 0 ? out : err).print(e.getMessage());
      return e.status;
    }
    byte[] data = new byte[0];
    try {
      if (args.file != null) {
        data = Files.readAllBytes(Path.of(args.file));
      }
    } catch (IOException e) {
      dialed.channel().shutdownNow();
      err.println("dh-drive: cannot read " + args.file + ": " + e);
      return 1;
    }
    return new DhDrive(out, args.json).drive(args, data, dialed);
  }

  /**
   * Drives once with {@code data} (the file's bytes) over {@code dialed}, which it shuts down;
   * returns the exit status.
   */
  private int drive(Args args, byte[] data, ConnectionFlags.Dialed dialed) {
    boolean wav = args.file != null && args.file.toLowerCase(Locale.ROOT).endsWith(".wav");
    String encoding = args.encoding != null ? args.encoding : wav ? "WAV" : "LINEAR16";
    DriveOptions.Builder builder =
        DriveOptions.builder()
            .encoding(encoding)
            .sampleRateHz(args.rate)
            .channels(args.channels)
            .onConflict(args.policy);
    if (args.text != null) {
      builder.text(args.text, args.timbreId);
    }
    DriveOptions options = builder.build();
    int chunkBytes = AudioChunks.chunkBytes(encoding, args.rate, args.channels, args.chunkMs);
    List<byte[]> chunks = AudioChunks.split(data, chunkBytes);
    // One slot per chunk: the chunk, split where a mark falls inside it (sent at the chunk's time).
    List<Marks.Point> marks =
        Marks.points(Marks.layout(data, encoding, args.rate, args.channels), args.markEveryMs);
    List<List<DriveInput>> slots = Marks.slots(chunks, marks);
    Iterable<DriveInput> inputs =
        Marks.flatten(args.realtime ? AudioChunks.realtime(slots, args.chunkMs) : slots);

    ManagedChannel channel = dialed.channel();
    AtomicReference<Drive> active = new AtomicReference<>();
    // Ctrl-C: reset the stream, so the gateway stops the avatar now rather than at the timeout.
    Thread onInterrupt =
        new Thread(
            () -> {
              Drive drive = active.get();
              if (drive != null) {
                drive.cancel();
              }
            });
    Runtime.getRuntime().addShutdownHook(onInterrupt);
    try {
      DriveGatewayClient client = dialed.connection().client(channel);
      // Connect (and load the transport's classes) before the drive's clock starts.
      awaitConnected(channel, CONNECT_WAIT);
      boolean cancels = args.cancelAfterMs != null && args.cancelAfterMs != 0;
      long cancelAfterNanos = cancels ? TimeUnit.MILLISECONDS.toNanos(args.cancelAfterMs) : 0;
      try (Drive drive = client.open(args.task, options)) {
        // When the cancel is asked for (the deadline), not when we got round to reporting it.
        long cancelAtMs = System.currentTimeMillis() + (cancels ? args.cancelAfterMs : 0);
        long deadline = System.nanoTime() + cancelAfterNanos;
        active.set(drive);
        if (args.text == null) {
          drive.sendInputsInBackground(inputs);
        } // a text drive ends by itself; its open half keeps the interrupt in-stream
        if (args.interruptAfterMs != null) {
          interruptLater(drive, args.interruptAfterMs);
        }
        while (true) {
          DriveEvent event;
          if (cancels) {
            try {
              event = drive.next(Duration.ofNanos(deadline - System.nanoTime()));
            } catch (TimeoutException e) {
              drive.cancel();
              JsonObject line = new JsonObject();
              line.addProperty("event", "cancelled");
              line.addProperty("at_unix_ms", cancelAtMs);
              show(line);
              return 0;
            }
          } else {
            event = drive.next();
          }
          if (event == null) {
            return 0;
          }
          show(eventJson(event));
        }
      } catch (DriveException e) {
        show(errorJson(e));
        return 1;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 130;
    } finally {
      channel.shutdownNow();
      try {
        channel.awaitTermination(2, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      try {
        Runtime.getRuntime().removeShutdownHook(onInterrupt);
      } catch (IllegalStateException e) {
        // Already shutting down.
      }
    }
  }

  /** Sends the in-stream interrupt after {@code afterMs}, on a daemon thread. */
  private void interruptLater(Drive drive, long afterMs) {
    Thread timer =
        new Thread(
            () -> {
              try {
                Thread.sleep(afterMs);
              } catch (InterruptedException e) {
                return;
              }
              // When the interrupt is sent, which is what the avatar's silence is measured from.
              JsonObject line = new JsonObject();
              line.addProperty("event", "interrupt");
              line.addProperty("at_unix_ms", System.currentTimeMillis());
              show(line);
              try {
                drive.interrupt();
              } catch (DriveException e) {
                // A failed StopDrive: the drive ends as it would have.
              }
            },
            "dh-drive-interrupt");
    timer.setDaemon(true);
    timer.start();
  }

  /**
   * Waits until the channel is connected, or failed to connect, or {@code wait} passed; a channel
   * that is not ready then fails the drive with UNAVAILABLE as usual.
   */
  static void awaitConnected(ManagedChannel channel, Duration wait) throws InterruptedException {
    long until = System.nanoTime() + wait.toNanos();
    ConnectivityState state = channel.getState(true);
    while (state != ConnectivityState.READY && state != ConnectivityState.TRANSIENT_FAILURE) {
      long left = until - System.nanoTime();
      if (left <= 0) {
        return;
      }
      CountDownLatch changed = new CountDownLatch(1);
      channel.notifyWhenStateChanged(state, changed::countDown);
      changed.await(left, TimeUnit.NANOSECONDS);
      state = channel.getState(true);
    }
  }

  /** {@code {"event": <event>, <fields of message>}}: proto names, defaults, int64 as strings. */
  static JsonObject messageJson(String event, Message message) {
    JsonObject line = new JsonObject();
    line.addProperty("event", event);
    try {
      JsonObject fields = JsonParser.parseString(PRINTER.print(message)).getAsJsonObject();
      for (Map.Entry<String, JsonElement> entry : fields.entrySet()) {
        line.add(entry.getKey(), entry.getValue());
      }
    } catch (InvalidProtocolBufferException e) {
      throw new IllegalStateException(e);
    }
    return line;
  }

  /** {@code {"event": <oneof field>, "drive_id": ..., <fields of that message>}}. */
  static JsonObject eventJson(DriveEvent event) {
    FieldDescriptor field =
        event.getOneofFieldDescriptor(DriveEvent.getDescriptor().getOneofs().get(0));
    JsonObject line = new JsonObject();
    line.addProperty("event", field == null ? "unknown" : field.getName());
    line.addProperty("drive_id", event.getDriveId());
    if (field != null) {
      try {
        JsonObject fields =
            JsonParser.parseString(PRINTER.print((Message) event.getField(field)))
                .getAsJsonObject();
        for (Map.Entry<String, JsonElement> entry : fields.entrySet()) {
          line.add(entry.getKey(), entry.getValue());
        }
      } catch (InvalidProtocolBufferException e) {
        throw new IllegalStateException(e);
      }
    }
    return line;
  }

  /**
   * {@code {"event": "error", "code": ..., "reason": ..., "message": ..., "metadata": {...}}},
   * with {@code "retry_delay_ms"} (an int64, as a string) and {@code "field_violations": [{"field":
   * ..., "description": ...}]} only when the status carries them.
   */
  static JsonObject errorJson(DriveException error) {
    JsonObject line = new JsonObject();
    line.addProperty("event", "error");
    line.addProperty("code", error.code().name());
    line.addProperty("reason", error.reason());
    line.addProperty("message", error.statusMessage());
    JsonObject metadata = new JsonObject();
    error.metadata().entrySet().stream()
        .sorted(Map.Entry.comparingByKey())
        .forEach(entry -> metadata.addProperty(entry.getKey(), entry.getValue()));
    line.add("metadata", metadata);
    error
        .retryDelay()
        .ifPresent(delay -> line.addProperty("retry_delay_ms", Long.toString(delay.toMillis())));
    if (!error.fieldViolations().isEmpty()) {
      JsonArray violations = new JsonArray();
      for (BadRequest.FieldViolation violation : error.fieldViolations()) {
        JsonObject shown = new JsonObject();
        shown.addProperty("field", violation.getField());
        shown.addProperty("description", violation.getDescription());
        violations.add(shown);
      }
      line.add("field_violations", violations);
    }
    return line;
  }

  /** What the human-readable lines call the playback events: what the avatar is doing. */
  private static final Map<String, String> HUMAN_LABELS =
      Map.of(
          "playback_started", "speaking", "mark_played", "mark", "playback_finished", "finished");

  /** A line as dh-drive prints it without {@code --json}: {@code <label> key=value ...}. */
  static String humanLine(JsonObject line) {
    String event = line.get("event").getAsString();
    StringBuilder text = new StringBuilder();
    text.append(String.format("%-10s", HUMAN_LABELS.getOrDefault(event, event)));
    for (Map.Entry<String, JsonElement> entry : line.entrySet()) {
      if (entry.getKey().equals("event")) {
        continue;
      }
      JsonElement value = entry.getValue();
      String shown =
          value.isJsonPrimitive() && value.getAsJsonPrimitive().isString()
              ? value.getAsString()
              : GSON.toJson(value);
      if (entry.getKey().equals("source")) {
        shown = shown.replaceFirst("^PLAYBACK_SOURCE_", "").toLowerCase(Locale.ROOT);
      }
      text.append(' ').append(entry.getKey()).append('=').append(shown);
    }
    return text.toString();
  }

  synchronized void show(JsonObject line) {
    out.println(json ? GSON.toJson(line) : humanLine(line));
    out.flush();
  }
}
