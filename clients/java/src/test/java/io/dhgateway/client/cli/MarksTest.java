package io.dhgateway.client.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.dhgateway.client.AudioChunks;
import io.dhgateway.client.DriveInput;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class MarksTest {
  /** A 16-bit PCM WAV file: RIFF, fmt, an extra LIST chunk of odd size (padded), then data. */
  private static byte[] wavFile(int rateHz, int channels, int frames) {
    ByteBuffer fmt = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
    fmt.putShort((short) 1).putShort((short) channels).putInt(rateHz);
    fmt.putInt(rateHz * channels * 2).putShort((short) (channels * 2)).putShort((short) 16);
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.writeBytes("WAVE".getBytes(StandardCharsets.ISO_8859_1));
    chunk(body, "fmt ", fmt.array());
    chunk(body, "LIST", "abc".getBytes(StandardCharsets.ISO_8859_1));
    chunk(body, "data", new byte[frames * channels * 2]);
    ByteBuffer file = ByteBuffer.allocate(8 + body.size()).order(ByteOrder.LITTLE_ENDIAN);
    file.put("RIFF".getBytes(StandardCharsets.ISO_8859_1)).putInt(body.size());
    file.put(body.toByteArray());
    return file.array();
  }

  private static void chunk(ByteArrayOutputStream out, String id, byte[] body) {
    ByteBuffer head = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
    head.put(id.getBytes(StandardCharsets.ISO_8859_1)).putInt(body.length);
    out.writeBytes(head.array());
    out.writeBytes(body);
    if (body.length % 2 == 1) {
      out.write(0);
    }
  }

  @Test
  void aWavFilesSamplesAreFoundAfterItsHeader() {
    byte[] file = wavFile(24000, 2, 2400);
    int dataStart = 12 + 8 + 16 + 8 + 4 + 8; // RIFF/WAVE, fmt, LIST (3 + 1 pad), data header
    assertEquals(new Marks.Layout(dataStart, file.length, 24000, 4), Marks.wavLayout(file));
    assertNull(Marks.wavLayout("not a wav file at all".getBytes(StandardCharsets.US_ASCII)));
    // Not sent as WAV, or not a WAV: the flags say what the bytes are.
    assertEquals(
        new Marks.Layout(0, file.length, 16000, 2), Marks.layout(file, "LINEAR16", 0, 0));
    assertEquals(new Marks.Layout(0, 100, 8000, 2), Marks.layout(new byte[100], "WAV", 8000, 1));
    assertEquals(new Marks.Layout(0, 80, 8000, 8), Marks.layout(new byte[80], "FLOAT32", 8000, 2));
  }

  @Test
  void marksFallEveryNMsOnWholeFramesStrictlyInsideTheAudio() {
    Marks.Layout layout = new Marks.Layout(44, 44 + 40_000, 16000, 2); // 1.25 s
    assertEquals(
        List.of(new Marks.Point(44 + 16000, "m500"), new Marks.Point(44 + 32000, "m1000")),
        Marks.points(layout, 500));
    List<String> names = new ArrayList<>();
    Marks.points(layout, 625).forEach(point -> names.add(point.name()));
    assertEquals(List.of("m625"), names); // none at the very end
    assertEquals(List.of(), Marks.points(layout, 0));
    // 22.05 kHz stereo: 3 ms is 66.15 frames; the mark goes after frame 66.
    assertEquals(
        new Marks.Point(66 * 4, "m3"),
        Marks.points(new Marks.Layout(0, 800, 22050, 4), 3).get(0));
  }

  @Test
  void marksSplitTheChunksTheyFallInsideAndEveryByteGoesOutOnce() {
    byte[] data = new byte[1000];
    for (int i = 0; i < data.length; i++) {
      data[i] = (byte) i;
    }
    List<Marks.Point> marks =
        List.of(
            new Marks.Point(150, "a"),
            new Marks.Point(300, "b"), // on a chunk boundary: no split
            new Marks.Point(301, "c"),
            new Marks.Point(301, "d"), // two marks at one point
            new Marks.Point(1000, "end"));
    List<List<DriveInput>> slots = Marks.slots(AudioChunks.split(data, 300), marks);
    List<List<String>> shape = new ArrayList<>();
    ByteArrayOutputStream joined = new ByteArrayOutputStream();
    for (List<DriveInput> slot : slots) {
      List<String> items = new ArrayList<>();
      for (DriveInput input : slot) {
        if (input instanceof DriveInput.Audio audio) {
          items.add(String.valueOf(audio.chunk().size()));
          joined.writeBytes(audio.chunk().toByteArray());
        } else {
          items.add(((DriveInput.Mark) input).name());
        }
      }
      shape.add(items);
    }
    assertEquals(
        List.of(
            List.of("150", "a", "150", "b"),
            List.of("1", "c", "d", "299"),
            List.of("300"),
            List.of("100", "end")),
        shape);
    assertArrayEquals(data, joined.toByteArray());
    List<DriveInput> flat = new ArrayList<>();
    Marks.flatten(slots).forEach(flat::add);
    assertEquals(11, flat.size());
    assertEquals(DriveInput.mark("end"), flat.get(10));
  }
}
