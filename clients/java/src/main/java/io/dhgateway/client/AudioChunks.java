package io.dhgateway.client;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/** Splitting audio into messages, and sending them at 1x like a live source. */
public final class AudioChunks {
  private AudioChunks() {}

  /** Bytes per sample of one channel: 2 (LINEAR16, WAV), 4 (FLOAT32), 1 (MULAW, ALAW). */
  public static int sampleWidth(String encoding) {
    switch (encoding) {
      case "FLOAT32":
        return 4;
      case "MULAW":
      case "ALAW":
        return 1;
      default:
        return 2;
    }
  }

  /**
   * The bytes of {@code chunkMs} of audio: rate (0 = 16000) x channels (0 = 1) x sample width x
   * chunkMs / 1000, at least 1.
   */
  public static int chunkBytes(String encoding, int sampleRateHz, int channels, int chunkMs) {
    long rate = sampleRateHz == 0 ? 16000 : sampleRateHz;
    long bytes =
        Math.floorDiv(rate * Math.max(channels, 1) * sampleWidth(encoding) * chunkMs, 1000L);
    return (int) Math.min(Integer.MAX_VALUE, Math.max(1, bytes));
  }

  /** {@code data} cut into chunks of {@code chunkBytes} (the last may be shorter). */
  public static List<byte[]> split(byte[] data, int chunkBytes) {
    if (chunkBytes < 1) {
      throw new IllegalArgumentException("chunkBytes < 1");
    }
    List<byte[]> chunks = new ArrayList<>();
    for (int offset = 0; offset < data.length; offset += chunkBytes) {
      chunks.add(Arrays.copyOfRange(data, offset, Math.min(data.length, offset + chunkBytes)));
    }
    return chunks;
  }

  /**
   * The chunks at 1x: chunk k is handed out at start + k x chunkMs, the start being the first
   * call to {@code next()} (an absolute schedule: no drift). An interrupt ends the iteration early,
   * leaving the interrupt flag set. Any item type: e.g. the {@link DriveInput}s of one chunk's
   * slot.
   */
  public static <T> Iterable<T> realtime(List<T> chunks, int chunkMs) {
    return () ->
        new Iterator<>() {
          private int index;
          private long began;
          private boolean stopped;

          @Override
          public boolean hasNext() {
            return !stopped && index < chunks.size() && !Thread.currentThread().isInterrupted();
          }

          @Override
          public T next() {
            if (!hasNext()) {
              throw new NoSuchElementException();
            }
            long now = System.nanoTime();
            if (index == 0) {
              began = now;
            }
            long due = began + (long) index * chunkMs * 1_000_000L;
            try {
              for (long wait = due - now; wait > 0; wait = due - System.nanoTime()) {
                Thread.sleep(wait / 1_000_000L, (int) (wait % 1_000_000L));
              }
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              stopped = true;
            }
            return chunks.get(index++);
          }
        };
  }
}
