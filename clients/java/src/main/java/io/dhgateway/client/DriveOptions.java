package io.dhgateway.client;

import io.dhgateway.v1.AudioFormat;
import io.dhgateway.v1.ConflictPolicy;
import io.dhgateway.v1.DriveConfig;
import io.dhgateway.v1.Encoding;
import io.dhgateway.v1.TextInput;
import io.dhgateway.v1.VoiceChannel;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The audio format and policies of one drive: the client-side form of {@link DriveConfig}. Every
 * field has the gateway's default; build with {@link #builder()}.
 *
 * <pre>{@code
 * DriveOptions options = DriveOptions.builder()
 *     .encoding(Encoding.ENCODING_LINEAR16)
 *     .sampleRateHz(24000)
 *     .onConflict(ConflictPolicy.CONFLICT_POLICY_QUEUE)
 *     .build();
 * }</pre>
 */
public final class DriveOptions {
  private final Encoding encoding;
  private final int sampleRateHz;
  private final int channels;
  private final VoiceChannel voiceChannel;
  private final boolean keepStereo;
  private final int outputSampleRateHz;
  private final ConflictPolicy onConflict;
  private final Duration queueTimeout;
  private final Map<String, String> labels;
  private final String profile;
  private final TextInput text;

  private DriveOptions(Builder b) {
    this.encoding = b.encoding;
    this.sampleRateHz = b.sampleRateHz;
    this.channels = b.channels;
    this.voiceChannel = b.voiceChannel;
    this.keepStereo = b.keepStereo;
    this.outputSampleRateHz = b.outputSampleRateHz;
    this.onConflict = b.onConflict;
    this.queueTimeout = b.queueTimeout;
    this.labels = Map.copyOf(b.labels);
    this.profile = b.profile;
    this.text = b.text;
  }

  /** A builder with the gateway's defaults (LINEAR16, 16000 Hz, mono, REJECT). */
  public static Builder builder() {
    return new Builder();
  }

  /** The gateway's defaults. */
  public static DriveOptions defaults() {
    return builder().build();
  }

  /** A builder holding these options. */
  public Builder toBuilder() {
    Builder b = new Builder();
    b.encoding = encoding;
    b.sampleRateHz = sampleRateHz;
    b.channels = channels;
    b.voiceChannel = voiceChannel;
    b.keepStereo = keepStereo;
    b.outputSampleRateHz = outputSampleRateHz;
    b.onConflict = onConflict;
    b.queueTimeout = queueTimeout;
    b.labels.putAll(labels);
    b.profile = profile;
    b.text = text;
    return b;
  }

  /** The {@code DriveConfig} message for {@code taskId}. */
  public DriveConfig toConfig(String taskId) {
    DriveConfig.Builder config =
        DriveConfig.newBuilder()
            .setTaskId(Objects.requireNonNull(taskId, "taskId"))
            .setInput(
                AudioFormat.newBuilder()
                    .setEncoding(encoding)
                    .setSampleRateHz(sampleRateHz)
                    .setChannels(channels)
                    .setVoiceChannel(voiceChannel)
                    .setKeepStereo(keepStereo))
            .setOutputSampleRateHz(outputSampleRateHz)
            .setOnConflict(onConflict)
            .putAllLabels(labels)
            .setProfile(profile);
    if (queueTimeout != null) {
      config.setQueueTimeout(
          com.google.protobuf.Duration.newBuilder()
              .setSeconds(queueTimeout.getSeconds())
              .setNanos(queueTimeout.getNano()));
    }
    if (text != null) {
      config.clearInput().setText(text); // a text drive has no audio format
    }
    return config.build();
  }

  public Encoding encoding() {
    return encoding;
  }

  public int sampleRateHz() {
    return sampleRateHz;
  }

  public int channels() {
    return channels;
  }

  public VoiceChannel voiceChannel() {
    return voiceChannel;
  }

  public boolean keepStereo() {
    return keepStereo;
  }

  public int outputSampleRateHz() {
    return outputSampleRateHz;
  }

  public ConflictPolicy onConflict() {
    return onConflict;
  }

  /** How long a QUEUE drive may wait; {@code null} means the gateway's default. */
  public Duration queueTimeout() {
    return queueTimeout;
  }

  public Map<String, String> labels() {
    return labels;
  }

  public Optional<TextInput> text() {
    return Optional.ofNullable(text);
  }

  public String profile() {
    return profile;
  }

  @Override
  public String toString() {
    return "DriveOptions" + toConfig("").toBuilder().clearTaskId().build();
  }

  /** Builds {@link DriveOptions}; every setter returns the builder. */
  public static final class Builder {
    private Encoding encoding = Encoding.ENCODING_LINEAR16;
    private int sampleRateHz;
    private int channels;
    private VoiceChannel voiceChannel = VoiceChannel.VOICE_CHANNEL_MIX;
    private boolean keepStereo;
    private int outputSampleRateHz;
    private ConflictPolicy onConflict = ConflictPolicy.CONFLICT_POLICY_REJECT;
    private Duration queueTimeout;
    private final Map<String, String> labels = new LinkedHashMap<>();
    private String profile = "";
    private TextInput text;

    private Builder() {}

    /** LINEAR16 (s16le), FLOAT32 (f32le), WAV (header first), MULAW or ALAW. */
    public Builder encoding(Encoding encoding) {
      this.encoding = Objects.requireNonNull(encoding, "encoding");
      return this;
    }

    /** The encoding by its short name: LINEAR16, FLOAT32, WAV, MULAW or ALAW. */
    public Builder encoding(String name) {
      return encoding(Names.encoding(name));
    }

    /** Input rate; 0 = 16000 (WAV: from the header). */
    public Builder sampleRateHz(int sampleRateHz) {
      this.sampleRateHz = sampleRateHz;
      return this;
    }

    /** 1 or 2; 0 = 1 (WAV: from the header). */
    public Builder channels(int channels) {
      this.channels = channels;
      return this;
    }

    /** For stereo input: which channel carries the voice. */
    public Builder voiceChannel(VoiceChannel voiceChannel) {
      this.voiceChannel = Objects.requireNonNull(voiceChannel, "voiceChannel");
      return this;
    }

    /** Send stereo to the avatar instead of mixing it down. */
    public Builder keepStereo(boolean keepStereo) {
      this.keepStereo = keepStereo;
      return this;
    }

    /** 16000, 24000, or 0 for the gateway's choice. */
    public Builder outputSampleRateHz(int outputSampleRateHz) {
      this.outputSampleRateHz = outputSampleRateHz;
      return this;
    }

    /** REJECT, PREEMPT or QUEUE when the task is busy. */
    public Builder onConflict(ConflictPolicy onConflict) {
      this.onConflict = Objects.requireNonNull(onConflict, "onConflict");
      return this;
    }

    /** The policy by its short name: REJECT, PREEMPT or QUEUE. */
    public Builder onConflict(String name) {
      return onConflict(Names.policy(name));
    }

    /** How long a QUEUE drive may wait; {@code null}: the gateway's default. */
    public Builder queueTimeout(Duration queueTimeout) {
      this.queueTimeout = queueTimeout;
      return this;
    }

    /** Adds a free-form label, logged and listed by the gateway. */
    public Builder label(String key, String value) {
      labels.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
      return this;
    }

    /** The gateway's credentials profile ("" = default). */
    public Builder profile(String profile) {
      this.profile = Objects.requireNonNull(profile, "profile");
      return this;
    }

    /**
     * Makes it a text drive: the vendor's TTS speaks {@code text.getText()} (1 to 1800
     * characters) in the timbre {@code text.getTimbreId()} ("" = the profile's default); the
     * drive carries no audio, and the audio format options are ignored. {@code null}: audio.
     */
    public Builder text(TextInput text) {
      this.text = text;
      return this;
    }

    /** {@link #text(TextInput)} with this text and timbre. */
    public Builder text(String text, String timbreId) {
      return text(TextInput.newBuilder().setText(text).setTimbreId(timbreId).build());
    }

    public DriveOptions build() {
      return new DriveOptions(this);
    }
  }
}
