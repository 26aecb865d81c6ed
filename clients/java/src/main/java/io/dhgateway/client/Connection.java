package io.dhgateway.client;

import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.TlsChannelCredentials;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Where the gateway is and how to reach it: from the builder, else the {@code DHGW_*} environment.
 *
 * <ul>
 *   <li>{@code DHGW_ADDRESS}: the gateway, {@code host:port} or {@code unix:/path} (default {@code
 *       127.0.0.1:50051});
 *   <li>{@code DHGW_API_KEY}: sent as {@code authorization: Bearer <key>};
 *   <li>{@code DHGW_TLS}: {@code on} for TLS verified by the system's roots;
 *   <li>{@code DHGW_TLS_CA_FILE}: PEM roots that verify the gateway (turns TLS on);
 *   <li>{@code DHGW_TLS_CLIENT_CERT_FILE} and {@code DHGW_TLS_CLIENT_KEY_FILE}: a client
 *       certificate for mutual TLS (turn TLS on);
 *   <li>{@code DHGW_TLS_SERVER_NAME}: the name on the gateway's certificate, when not the host;
 *   <li>{@code TRACEPARENT} and {@code TRACESTATE}: a W3C trace context to join (OpenTelemetry's
 *       convention for passing one to a process through its environment), sent with every call.
 * </ul>
 *
 * <pre>{@code
 * Connection connection = Connection.builder().caFile("ca.pem").build();  // the rest from env
 * ManagedChannel channel = connection.channel();
 * DriveGatewayClient client = connection.client(channel);
 * }</pre>
 *
 * <p>The same variables as the other clients' (the Python one's {@code Connection.from_env}).
 */
public final class Connection {
  /** The address without {@code DHGW_ADDRESS}. */
  public static final String DEFAULT_ADDRESS = "127.0.0.1:50051";

  private static final Set<String> TRUE = Set.of("1", "on", "true", "yes");
  private static final Set<String> FALSE = Set.of("", "0", "off", "false", "no");
  private static final Metadata.Key<String> AUTHORIZATION = ascii("authorization");
  private static final Metadata.Key<String> TRACEPARENT = ascii("traceparent");
  private static final Metadata.Key<String> TRACESTATE = ascii("tracestate");

  private final String address;
  private final String apiKey;
  private final boolean tls;
  private final Path caFile;
  private final Path certFile;
  private final Path keyFile;
  private final String serverName;
  private final String traceparent;
  private final String tracestate;

  private Connection(Builder b, Map<String, String> env) {
    String ca = pick(b.caFile, env, "DHGW_TLS_CA_FILE");
    String cert = pick(b.certFile, env, "DHGW_TLS_CLIENT_CERT_FILE");
    String key = pick(b.keyFile, env, "DHGW_TLS_CLIENT_KEY_FILE");
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException(
          "a client certificate needs its key, and a key its certificate");
    }
    boolean files = ca != null || cert != null;
    if (Boolean.FALSE.equals(b.tls) && files) {
      throw new IllegalArgumentException("TLS files were given with tls=false");
    }
    boolean wanted = b.tls != null ? b.tls : bool(env.getOrDefault("DHGW_TLS", ""), "DHGW_TLS");
    String addr = pick(b.address, env, "DHGW_ADDRESS");
    String name = pick(b.serverName, env, "DHGW_TLS_SERVER_NAME");
    this.address = addr != null ? addr : DEFAULT_ADDRESS;
    this.apiKey = pick(b.apiKey, env, "DHGW_API_KEY");
    this.tls = wanted || files;
    this.caFile = ca == null ? null : Path.of(ca);
    this.certFile = cert == null ? null : Path.of(cert);
    this.keyFile = key == null ? null : Path.of(key);
    this.serverName = name != null ? name : "";
    this.traceparent = env.getOrDefault("TRACEPARENT", "").strip();
    this.tracestate = env.getOrDefault("TRACESTATE", "").strip();
  }

  /** A builder; each value left unset (or null) comes from its variable. */
  public static Builder builder() {
    return new Builder();
  }

  /** Everything from the environment. */
  public static Connection fromEnv() {
    return builder().build();
  }

  /** {@code host:port} or {@code unix:/path}. */
  public String address() {
    return address;
  }

  /** The API key; empty for a gateway without keys. */
  public Optional<String> apiKey() {
    return Optional.ofNullable(apiKey);
  }

  /** Whether to connect with TLS (the files imply it). */
  public boolean tls() {
    return tls;
  }

  /** The PEM roots that verify the gateway; empty: the system's. */
  public Optional<Path> caFile() {
    return Optional.ofNullable(caFile);
  }

  /** The client certificate (PEM) for mutual TLS. */
  public Optional<Path> certFile() {
    return Optional.ofNullable(certFile);
  }

  /** The client certificate's private key (PEM: PKCS#8, SEC 1 EC or PKCS#1 RSA). */
  public Optional<Path> keyFile() {
    return Optional.ofNullable(keyFile);
  }

  /** The name to verify the gateway's certificate against; "" = the address's host. */
  public String serverName() {
    return serverName;
  }

  /** The W3C {@code traceparent} sent with every call ({@code TRACEPARENT}); "" = none. */
  public String traceparent() {
    return traceparent;
  }

  /** Its {@code tracestate} ({@code TRACESTATE}); sent only with a traceparent. "" = none. */
  public String tracestate() {
    return tracestate;
  }

  /**
   * The headers of every call: {@code authorization: Bearer <key>} and the trace context, each
   * when given. A malformed trace context is sent as given: the gateway then starts a new trace.
   */
  public Metadata headers() {
    Metadata headers = new Metadata();
    if (apiKey != null && !apiKey.isEmpty()) {
      headers.put(AUTHORIZATION, "Bearer " + apiKey);
    }
    if (!traceparent.isEmpty()) {
      headers.put(TRACEPARENT, traceparent);
      if (!tracestate.isEmpty()) {
        headers.put(TRACESTATE, tracestate);
      }
    }
    return headers;
  }

  /**
   * The channel's credentials: TLS with the files read now, else plaintext.
   *
   * @throws IOException a certificate or key file cannot be read.
   */
  public ChannelCredentials credentials() throws IOException {
    if (!tls) {
      return InsecureChannelCredentials.create();
    }
    TlsChannelCredentials.Builder builder = TlsChannelCredentials.newBuilder();
    if (caFile != null) {
      builder.trustManager(new ByteArrayInputStream(Files.readAllBytes(caFile)));
    }
    if (certFile != null) {
      byte[] cert = Files.readAllBytes(certFile);
      byte[] key = PemKeys.toPkcs8(Files.readAllBytes(keyFile));
      builder.keyManager(new ByteArrayInputStream(cert), new ByteArrayInputStream(key));
    }
    return builder.build();
  }

  /**
   * A new channel to the gateway; the caller shuts it down.
   *
   * @throws IOException a certificate or key file cannot be read.
   * @throws IllegalArgumentException a file holds no certificate or key that TLS can use.
   */
  public ManagedChannel channel() throws IOException {
    ManagedChannelBuilder<?> builder = Grpc.newChannelBuilder(address, credentials());
    if (tls && !serverName.isEmpty()) {
      builder.overrideAuthority(serverName); // what the certificate is verified against
    }
    return builder.build();
  }

  /** A client on {@code channel} that sends the {@link #headers} with every call. */
  public DriveGatewayClient client(Channel channel) {
    return DriveGatewayClient.create(channel).withHeaders(headers());
  }

  /** Never shows the API key. */
  @Override
  public String toString() {
    return "Connection[address="
        + address
        + ", tls="
        + tls
        + ", apiKey="
        + (apiKey == null ? "none" : "***")
        + "]";
  }

  private static Metadata.Key<String> ascii(String name) {
    return Metadata.Key.of(name, Metadata.ASCII_STRING_MARSHALLER);
  }

  private static String pick(String given, Map<String, String> env, String name) {
    if (given != null) {
      return given;
    }
    String value = env.get(name);
    return value == null || value.isEmpty() ? null : value;
  }

  private static boolean bool(String value, String name) {
    String word = value.strip().toLowerCase(Locale.ROOT);
    if (TRUE.contains(word)) {
      return true;
    }
    if (FALSE.contains(word)) {
      return false;
    }
    throw new IllegalArgumentException(name + "='" + value + "' is not on/off");
  }

  /** The values given; those left null come from the environment when built. */
  public static final class Builder {
    private String address;
    private String apiKey;
    private Boolean tls;
    private String caFile;
    private String certFile;
    private String keyFile;
    private String serverName;

    private Builder() {}

    /** {@code host:port} or {@code unix:/path} ({@code DHGW_ADDRESS}). */
    public Builder address(String address) {
      this.address = address;
      return this;
    }

    /** The API key ({@code DHGW_API_KEY}). */
    public Builder apiKey(String apiKey) {
      this.apiKey = apiKey;
      return this;
    }

    /** TLS on or off ({@code DHGW_TLS}); TLS files turn it on, and refuse {@code false}. */
    public Builder tls(Boolean tls) {
      this.tls = tls;
      return this;
    }

    /** PEM roots ({@code DHGW_TLS_CA_FILE}). */
    public Builder caFile(String path) {
      this.caFile = path;
      return this;
    }

    /** The client certificate ({@code DHGW_TLS_CLIENT_CERT_FILE}); needs {@link #keyFile}. */
    public Builder certFile(String path) {
      this.certFile = path;
      return this;
    }

    /** Its private key ({@code DHGW_TLS_CLIENT_KEY_FILE}). */
    public Builder keyFile(String path) {
      this.keyFile = path;
      return this;
    }

    /** The name on the gateway's certificate ({@code DHGW_TLS_SERVER_NAME}). */
    public Builder serverName(String name) {
      this.serverName = name;
      return this;
    }

    /**
     * The connection, the rest from {@link System#getenv()}.
     *
     * @throws IllegalArgumentException {@code DHGW_TLS} is not a boolean word, a certificate
     *     comes without its key (or the other way round), or TLS files with {@code tls(false)}.
     */
    public Connection build() {
      return build(System.getenv());
    }

    /** As {@link #build()}, with {@code env} in place of the environment (tests). */
    public Connection build(Map<String, String> env) {
      return new Connection(this, env);
    }
  }
}
