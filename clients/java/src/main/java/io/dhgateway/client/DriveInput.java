package io.dhgateway.client;

import com.google.protobuf.ByteString;
import java.util.Objects;

/**
 * One item of a drive's input, for {@link Drive#sendInputs}: a chunk of audio, or a mark between
 * chunks. The gateway answers a mark with a {@code mark_played} event ({@code MarkPlayed}: its
 * name, where it is in the audio, how the gateway knows) once the avatar has played the audio
 * sent before it; a TTS that knows its word timings learns which words were heard.
 *
 * <pre>{@code
 * List<DriveInput> inputs = List.of(
 *     DriveInput.audio(hello), DriveInput.mark("hello"),
 *     DriveInput.audio(world), DriveInput.mark("world"));
 * try (Drive drive = client.open("task-id", options).sendInputsInBackground(inputs)) { ... }
 * }</pre>
 */
public sealed interface DriveInput permits DriveInput.Audio, DriveInput.Mark {
  /** A chunk of audio in the drive's format (any size, split anywhere). */
  static Audio audio(byte[] chunk) {
    return new Audio(ByteString.copyFrom(chunk));
  }

  /** A chunk of audio in the drive's format (any size, split anywhere). */
  static Audio audio(ByteString chunk) {
    return new Audio(chunk);
  }

  /** A mark after the audio before it; {@code name} is 1 to 256 bytes of UTF-8. */
  static Mark mark(String name) {
    return new Mark(name);
  }

  /** A chunk of audio. */
  record Audio(ByteString chunk) implements DriveInput {
    public Audio {
      Objects.requireNonNull(chunk, "chunk");
    }
  }

  /**
   * A named point between audio chunks. The gateway fails the drive with {@code
   * INVALID_ARGUMENT} for an empty or too long name, or too many marks.
   */
  record Mark(String name) implements DriveInput {
    public Mark {
      Objects.requireNonNull(name, "name");
    }
  }
}
