package io.dhgateway.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AudioChunksTest {
  @Test
  void chunkBytesIsRateTimesChannelsTimesWidthTimesDuration() {
    assertEquals(640, AudioChunks.chunkBytes("LINEAR16", 0, 0, 20));
    assertEquals(640, AudioChunks.chunkBytes("WAV", 16000, 1, 20));
    assertEquals(1280, AudioChunks.chunkBytes("FLOAT32", 16000, 1, 20));
    assertEquals(160, AudioChunks.chunkBytes("MULAW", 8000, 0, 20));
    assertEquals(160, AudioChunks.chunkBytes("ALAW", 8000, 1, 20));
    assertEquals(9600, AudioChunks.chunkBytes("LINEAR16", 48000, 2, 50));
    assertEquals(33, AudioChunks.chunkBytes("MULAW", 11025, 1, 3));
    assertEquals(1, AudioChunks.chunkBytes("LINEAR16", 16000, 1, 0));
  }

  @Test
  void splitKeepsEveryByteInOrder() {
    byte[] data = new byte[1001];
    for (int i = 0; i < data.length; i++) {
      data[i] = (byte) i;
    }
    List<byte[]> chunks = AudioChunks.split(data, 100);
    assertEquals(11, chunks.size());
    assertEquals(1, chunks.get(10).length);
    byte[] joined = new byte[data.length];
    int at = 0;
    for (byte[] chunk : chunks) {
      System.arraycopy(chunk, 0, joined, at, chunk.length);
      at += chunk.length;
    }
    assertArrayEquals(data, joined);
  }

  @Test
  void realtimeHandsChunkKOutAtStartPlusKTimesChunkMs() {
    List<byte[]> chunks = AudioChunks.split(new byte[5], 1);
    List<Long> at = new ArrayList<>();
    long began = System.nanoTime();
    for (byte[] ignored : AudioChunks.realtime(chunks, 20)) {
      at.add((System.nanoTime() - began) / 1_000_000);
    }
    assertEquals(5, at.size());
    for (int k = 0; k < at.size(); k++) {
      assertTrue(at.get(k) >= k * 20L, "chunk " + k + " early: " + at.get(k) + " ms");
    }
    // The schedule is absolute: being late once does not push the last chunk later.
    assertTrue(at.get(4) < 80 + 60, "chunk 4 late: " + at.get(4) + " ms");
  }
}
