package io.dhgateway.client.cli;

import io.dhgateway.client.Connection;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The connection flags of every {@code dh-drive} command, each else its {@code DHGW_*} variable
 * ({@link Connection}); the same as the Python dh-drive's.
 *
 * <p>The API key comes from {@code --api-key-file} (a file only its owner may read), {@code
 * $DHGW_API_KEY}, or {@code --api-key}; the last shows in {@code ps} and the shell's history.
 */
final class ConnectionFlags {
  /** The flags in a usage line (argparse's form). */
  static final String USAGE =
      "[--addr ADDR] [--tls] [--ca CA] [--cert CERT] [--key KEY] [--server-name SERVER_NAME]"
          + " [--api-key-file API_KEY_FILE | --api-key API_KEY]";

  /** Their part of {@code --help}. */
  static final String HELP =
      "\n"
          + "the gateway (each flag, else its DHGW_* variable):\n"
          + "  --addr ADDR           host:port or unix:/path ($DHGW_ADDRESS, else\n"
          + "                        127.0.0.1:50051)\n"
          + "  --tls                 TLS, verified by the system's roots\n"
          + "  --ca CA               PEM roots that verify the gateway (implies --tls)\n"
          + "  --cert CERT           client certificate (PEM) for mutual TLS (needs --key)\n"
          + "  --key KEY             the client certificate's private key (PEM)\n"
          + "  --server-name SERVER_NAME\n"
          + "                        the name on the gateway's certificate\n"
          + "  --api-key-file API_KEY_FILE\n"
          + "                        read the API key from this file (mode 600)\n"
          + "  --api-key API_KEY     the API key itself ($DHGW_API_KEY; shows in ps)\n";

  private static final Set<PosixFilePermission> OWNER_ONLY =
      EnumSet.of(
          PosixFilePermission.OWNER_READ,
          PosixFilePermission.OWNER_WRITE,
          PosixFilePermission.OWNER_EXECUTE);

  /** A channel to the gateway the flags describe, and the connection (for its key). */
  record Dialed(Connection connection, ManagedChannel channel) {}

  String addr;
  Boolean tls;
  String ca;
  String cert;
  String key;
  String serverName;
  String apiKeyFile;
  String apiKey;

  /** Whether {@code name} is one of these flags that take a value. */
  static boolean takesValue(String name) {
    return switch (name) {
      case "--addr", "--ca", "--cert", "--key", "--server-name", "--api-key-file", "--api-key" ->
          true;
      default -> false;
    };
  }

  /** Sets the flag {@code name} (one that {@link #takesValue}). */
  void set(String name, String value) {
    switch (name) {
      case "--addr" -> addr = value;
      case "--ca" -> ca = value;
      case "--cert" -> cert = value;
      case "--key" -> key = value;
      case "--server-name" -> serverName = value;
      case "--api-key-file" -> apiKeyFile = value;
      case "--api-key" -> apiKey = value;
      default -> throw new IllegalStateException(name);
    }
  }

  /**
   * The connection the flags, else {@code env}, describe; a bad flag, variable or key file is a
   * usage error (exit status 2), before anything is sent.
   */
  Connection connection(Map<String, String> env, Function<String, Args.UsageException> error) throws Args.UsageException {
    if (apiKeyFile != null && apiKey != null) {
      throw error.apply("argument --api-key: not allowed with argument --api-key-file");
    }
    String key = apiKeyFile != null ? readApiKey(Path.of(apiKeyFile), error) : apiKey;
    try {
      return Connection.builder()
          .address(addr)
          .apiKey(key)
          .tls(tls)
          .caFile(ca)
          .certFile(cert)
          .keyFile(this.key)
          .serverName(serverName)
          .build(env);
    } catch (IllegalArgumentException e) {
      throw error.apply(e.getMessage());
    }
  }

  /**
   * {@link #connection} and its channel, whose TLS files are read now: one that cannot be read,
   * or holds no certificate or key, is a usage error too. The caller shuts the channel down.
   */
  Dialed dial(Map<String, String> env, Function<String, Args.UsageException> error) throws Args.UsageException {
    Connection connection = connection(env, error);
    try {
      return new Dialed(connection, connection.channel());
    } catch (IOException e) {
      throw error.apply(describe(e));
    } catch (IllegalArgumentException e) {
      throw error.apply("TLS: " + e.getMessage());
    }
  }

  /**
   * The API key in {@code path}, its whitespace stripped. A missing or empty file, or one that
   * other users may read, is a usage error: a key others can read is a leaked key.
   */
  static String readApiKey(Path path, Function<String, Args.UsageException> error) throws Args.UsageException {
    String key;
    Set<PosixFilePermission> mode;
    try {
      key = Files.readString(path, StandardCharsets.UTF_8).strip();
      mode = Files.getPosixFilePermissions(path);
    } catch (UnsupportedOperationException e) {
      throw error.apply("--api-key-file " + path + ": not on a POSIX file system");
    } catch (IOException e) {
      throw error.apply("--api-key-file " + path + ": " + why(e));
    }
    if (!OWNER_ONLY.containsAll(mode)) {
      throw error.apply(
          "--api-key-file " + path + " may be read by other users: chmod 600 " + path);
    }
    if (key.isEmpty()) {
      throw error.apply("--api-key-file " + path + " is empty");
    }
    return key;
  }

  /** {@code <path>: <why>}. */
  private static String describe(IOException e) {
    return e instanceof FileSystemException f ? f.getFile() + ": " + why(e) : why(e);
  }

  /** Why {@code e} failed, in the C library's words (those of the Python dh-drive's errors). */
  private static String why(IOException e) {
    if (e instanceof NoSuchFileException) {
      return "No such file or directory";
    }
    if (e instanceof AccessDeniedException) {
      return "Permission denied";
    }
    if (e instanceof CharacterCodingException) {
      return "not UTF-8 text";
    }
    if (e instanceof FileSystemException f && f.getReason() != null) {
      return f.getReason();
    }
    return String.valueOf(e.getMessage());
  }
}
