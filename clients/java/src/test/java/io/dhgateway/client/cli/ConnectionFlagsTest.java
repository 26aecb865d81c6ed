package io.dhgateway.client.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dhgateway.client.Connection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConnectionFlagsTest {
  private static final String KEY = "dhgw_unit-test-key";

  @TempDir Path dir;

  private Path keyFile(String mode, String text) throws Exception {
    Path path = dir.resolve("api-key");
    Files.writeString(path, text);
    Files.setPosixFilePermissions(path, PosixFilePermissions.fromString(mode));
    return path;
  }

  /** The usage error {@code readApiKey} makes of {@code path}: exit status 2, key not shown. */
  private static String refusal(Path path) {
    Args.UsageException e =
        assertThrows(
            Args.UsageException.class, () -> ConnectionFlags.readApiKey(path, Args::error));
    assertEquals(2, e.status);
    assertTrue(e.getMessage().contains(path.toString()), e.getMessage());
    assertFalse(e.getMessage().contains(KEY), e.getMessage());
    return e.getMessage();
  }

  @Test
  void aKeyFileOnlyItsOwnerReadsGivesTheKeyStripped() throws Exception {
    assertEquals(KEY, ConnectionFlags.readApiKey(keyFile("rw-------", KEY + "\n"), Args::error));
    assertEquals(KEY, ConnectionFlags.readApiKey(keyFile("r--------", " " + KEY), Args::error));
  }

  @Test
  void aKeyFileOthersMayReadIsRefused() throws Exception {
    for (String mode : new String[] {"rw-r--r--", "rw-r-----", "rw----r--", "rw-----w-"}) {
      Path path = keyFile(mode, KEY);
      assertTrue(refusal(path).contains("chmod 600 " + path), mode);
    }
  }

  @Test
  void aMissingOrEmptyKeyFileIsRefused() throws Exception {
    assertTrue(refusal(dir.resolve("missing")).contains("No such file"));
    assertTrue(refusal(keyFile("rw-------", " \n")).contains("is empty"));
  }

  @Test
  void theKeyFileExcludesTheKeyFlag() throws Exception {
    Args args =
        Args.parse(
            new String[] {
              "--task", "t", "--file", "f", "--api-key-file", keyFile("rw-------", KEY).toString(),
              "--api-key", KEY
            });
    Args.UsageException e =
        assertThrows(
            Args.UsageException.class, () -> args.connection.connection(Map.of(), Args::error));
    assertTrue(e.getMessage().contains("not allowed with argument --api-key-file"));
  }

  @Test
  void eachFlagElseItsVariable() throws Exception {
    Map<String, String> env =
        Map.of("DHGW_ADDRESS", "gw:1", "DHGW_API_KEY", "from-env", "DHGW_TLS", "on");
    Args bare = Args.parse(new String[] {"--task", "t", "--file", "f"});
    Connection fromEnv = bare.connection.connection(env, Args::error);
    assertEquals("gw:1", fromEnv.address());
    assertEquals("from-env", fromEnv.apiKey().orElseThrow());
    assertTrue(fromEnv.tls());
    Args given =
        Args.parse(
            new String[] {
              "--task", "t", "--file", "f", "--addr", "gw:2",
              "--api-key-file", keyFile("rw-------", KEY).toString()
            });
    Connection fromFlags = given.connection.connection(env, Args::error);
    assertEquals("gw:2", fromFlags.address());
    assertEquals(KEY, fromFlags.apiKey().orElseThrow());
  }

  @Test
  void badTlsSettingsAreUsageErrors() throws Exception {
    Args halfPair = Args.parse(new String[] {"--task", "t", "--file", "f", "--cert", "c.pem"});
    assertEquals(
        2,
        assertThrows(
                Args.UsageException.class,
                () -> halfPair.connection.connection(Map.of(), Args::error))
            .status);
    Args bare = Args.parse(new String[] {"--task", "t", "--file", "f"});
    assertEquals(
        2,
        assertThrows(
                Args.UsageException.class,
                () -> bare.connection.connection(Map.of("DHGW_TLS", "maybe"), Args::error))
            .status);
    Path missing = dir.resolve("ca.pem");
    Args noCa = Args.parse(new String[] {"--task", "t", "--file", "f", "--ca", missing.toString()});
    Args.UsageException e =
        assertThrows(Args.UsageException.class, () -> noCa.connection.dial(Map.of(), Args::error));
    assertEquals(2, e.status);
    assertTrue(e.getMessage().contains(missing + ": No such file"), e.getMessage());
  }

  /**
   * Asserts that {@code flags} hold {@code --addr <addr> --tls --ca ca.pem --cert c.pem --key
   * k.pem --server-name gw.example}.
   */
  static void assertTls(ConnectionFlags flags, String addr) {
    assertEquals(addr, flags.addr);
    assertTrue(flags.tls);
    assertEquals("ca.pem", flags.ca);
    assertEquals("c.pem", flags.cert);
    assertEquals("k.pem", flags.key);
    assertEquals("gw.example", flags.serverName);
  }

  @Test
  void theSubcommandsTakeTheSameFlags() throws Exception {
    Commands.CommandArgs args =
        Commands.parse(
            "get-task",
            new String[] {
              "--task", "t", "--addr", "gw:3", "--tls", "--ca", "ca.pem", "--cert", "c.pem",
              "--key", "k.pem", "--server-name", "gw.example", "--api-key-file", "key"
            });
    assertTls(args.connection, "gw:3");
    assertEquals("key", args.connection.apiKeyFile);
    assertTrue(Commands.help("stop").contains("--api-key-file API_KEY_FILE"));
  }
}
