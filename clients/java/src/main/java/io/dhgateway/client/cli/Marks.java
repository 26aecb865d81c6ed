package io.dhgateway.client.cli;

import io.dhgateway.client.AudioChunks;
import io.dhgateway.client.DriveInput;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * {@code --mark-every-ms}: where a file's audio is, where the marks fall in it, and the chunks
 * with the marks put in between.
 */
final class Marks {
  private Marks() {}

  /** Where the samples are in a file's bytes ({@code [start, end)}), and their frame layout. */
  record Layout(int start, int end, int rateHz, int frameBytes) {}

  /** A mark to put after byte {@code at} of the file. */
  record Point(int at, String name) {}

  /**
   * Where a WAV file's samples are (its {@code fmt } and {@code data} chunks); {@code null} when
   * {@code data} is not a RIFF/WAVE file with both. A {@code data} size of 0 or past the end (a
   * streamed WAV) means "to the end of the file".
   */
  static Layout wavLayout(byte[] data) {
    ByteBuffer view = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    if (data.length < 12 || !tag(data, 0).equals("RIFF") || !tag(data, 8).equals("WAVE")) {
      return null;
    }
    int rateHz = 0;
    int frameBytes = 0;
    long at = 12;
    while (at + 8 <= data.length) {
      String id = tag(data, (int) at);
      long size = Integer.toUnsignedLong(view.getInt((int) at + 4));
      long body = at + 8;
      if (id.equals("fmt ") && body + 16 <= data.length) {
        rateHz = view.getInt((int) body + 4);
        frameBytes = Short.toUnsignedInt(view.getShort((int) body + 12));
      } else if (id.equals("data")) {
        if (rateHz <= 0 || frameBytes == 0) {
          return null;
        }
        long end = size == 0 || body + size > data.length ? data.length : body + size;
        return new Layout((int) body, (int) end, rateHz, frameBytes);
      }
      at = body + size + (size % 2); // chunks are padded to an even size
    }
    return null;
  }

  private static String tag(byte[] data, int at) {
    return new String(data, at, 4, StandardCharsets.ISO_8859_1);
  }

  /** The audio layout of a file sent as {@code encoding}: a WAV's header says, else the flags. */
  static Layout layout(byte[] data, String encoding, int rateHz, int channels) {
    Layout wav = encoding.equals("WAV") ? wavLayout(data) : null;
    if (wav != null) {
      return wav;
    }
    int width = encoding.equals("WAV") ? 2 : AudioChunks.sampleWidth(encoding);
    return new Layout(0, data.length, rateHz == 0 ? 16000 : rateHz, Math.max(channels, 1) * width);
  }

  /**
   * A mark named {@code m<t>} at every {@code everyMs} ms t of the audio (t = everyMs, 2 x
   * everyMs, ..., strictly inside the audio: none at its start or end), after the last whole
   * frame before t; none when {@code everyMs} <= 0.
   */
  static List<Point> points(Layout layout, int everyMs) {
    List<Point> points = new ArrayList<>();
    for (long t = everyMs; everyMs > 0; t += everyMs) {
      long at = layout.start() + Math.floorDiv(t * layout.rateHz(), 1000L) * layout.frameBytes();
      if (at >= layout.end()) {
        break;
      }
      points.add(new Point((int) at, "m" + t));
    }
    return points;
  }

  /**
   * One list per chunk: the chunk, with the marks that fall inside it (byte offsets into the
   * chunks' concatenation, ascending) put in between; a mark on a chunk boundary ends the chunk
   * before it.
   */
  static List<List<DriveInput>> slots(List<byte[]> chunks, List<Point> marks) {
    List<List<DriveInput>> slots = new ArrayList<>(chunks.size());
    int offset = 0;
    int next = 0;
    for (byte[] chunk : chunks) {
      List<DriveInput> slot = new ArrayList<>(1);
      int cut = 0;
      for (; next < marks.size() && marks.get(next).at() <= offset + chunk.length; next++) {
        int at = Math.max(marks.get(next).at() - offset, cut);
        if (at > cut) {
          slot.add(DriveInput.audio(Arrays.copyOfRange(chunk, cut, at)));
          cut = at;
        }
        slot.add(DriveInput.mark(marks.get(next).name()));
      }
      if (cut < chunk.length) {
        slot.add(DriveInput.audio(cut == 0 ? chunk : Arrays.copyOfRange(chunk, cut, chunk.length)));
      }
      slots.add(slot);
      offset += chunk.length;
    }
    return slots;
  }

  /** The items of {@code groups}, one group after another, taking each group when it is due. */
  static <T> Iterable<T> flatten(Iterable<? extends List<T>> groups) {
    return () ->
        new Iterator<>() {
          private final Iterator<? extends List<T>> outer = groups.iterator();
          private Iterator<T> inner = Collections.emptyIterator();

          @Override
          public boolean hasNext() {
            while (!inner.hasNext()) {
              if (!outer.hasNext()) {
                return false;
              }
              inner = outer.next().iterator();
            }
            return true;
          }

          @Override
          public T next() {
            if (!hasNext()) {
              throw new NoSuchElementException();
            }
            return inner.next();
          }
        };
  }
}
