package io.dhgateway.client;

import io.dhgateway.v1.ConflictPolicy;
import io.dhgateway.v1.Encoding;
import java.util.List;

/** The short names of the contract's enums, as the CLIs of every language spell them. */
public final class Names {
  /** The encodings, by short name, in the order {@code dh-drive --help} lists them. */
  public static final List<String> ENCODINGS = List.of("LINEAR16", "FLOAT32", "WAV", "MULAW", "ALAW");

  /** The conflict policies, by short name. */
  public static final List<String> POLICIES = List.of("REJECT", "PREEMPT", "QUEUE");

  private Names() {}

  /** {@code "MULAW"} → {@link Encoding#ENCODING_MULAW}. */
  public static Encoding encoding(String name) {
    if (!ENCODINGS.contains(name)) {
      throw new IllegalArgumentException("unknown encoding " + name + "; one of " + ENCODINGS);
    }
    return Encoding.valueOf("ENCODING_" + name);
  }

  /** {@code "QUEUE"} → {@link ConflictPolicy#CONFLICT_POLICY_QUEUE}. */
  public static ConflictPolicy policy(String name) {
    if (!POLICIES.contains(name)) {
      throw new IllegalArgumentException("unknown policy " + name + "; one of " + POLICIES);
    }
    return ConflictPolicy.valueOf("CONFLICT_POLICY_" + name);
  }
}
