package io.dhgateway.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.KeyFactory;
import java.security.KeyPairGenerator;
import java.security.interfaces.ECPrivateKey;
import java.security.spec.ECGenParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConnectionTest {
  @TempDir Path dir;

  @Test
  void defaultsThenTheEnvironmentThenTheBuilder() {
    Connection none = Connection.builder().build(Map.of());
    assertEquals(Connection.DEFAULT_ADDRESS, none.address());
    assertFalse(none.tls());
    assertTrue(none.apiKey().isEmpty());
    assertEquals("", none.serverName());
    Map<String, String> env =
        Map.of(
            "DHGW_ADDRESS", "gw:1",
            "DHGW_API_KEY", "k",
            "DHGW_TLS_CA_FILE", "ca.pem",
            "DHGW_TLS_SERVER_NAME", "gw.example");
    Connection fromEnv = Connection.builder().build(env);
    assertEquals("gw:1", fromEnv.address());
    assertEquals("k", fromEnv.apiKey().orElseThrow());
    assertTrue(fromEnv.tls()); // the CA file implies it
    assertEquals(Path.of("ca.pem"), fromEnv.caFile().orElseThrow());
    assertEquals("gw.example", fromEnv.serverName());
    Connection given = Connection.builder().address("gw:2").apiKey("mine").build(env);
    assertEquals("gw:2", given.address());
    assertEquals("mine", given.apiKey().orElseThrow());
  }

  @Test
  void dhgwTlsIsAnOnOffWord() {
    assertTrue(Connection.builder().build(Map.of("DHGW_TLS", " ON ")).tls());
    assertFalse(Connection.builder().build(Map.of("DHGW_TLS", "off")).tls());
    assertFalse(Connection.builder().tls(false).build(Map.of("DHGW_TLS", "on")).tls());
    assertThrows(
        IllegalArgumentException.class,
        () -> Connection.builder().build(Map.of("DHGW_TLS", "sometimes")));
  }

  @Test
  void inconsistentTlsIsRefused() {
    assertThrows(
        IllegalArgumentException.class,
        () -> Connection.builder().certFile("c.pem").build(Map.of()));
    assertThrows(
        IllegalArgumentException.class,
        () -> Connection.builder().build(Map.of("DHGW_TLS_CLIENT_KEY_FILE", "k.pem")));
    assertThrows(
        IllegalArgumentException.class,
        () -> Connection.builder().tls(false).caFile("ca.pem").build(Map.of()));
  }

  @Test
  void theKeyIsNeverShownAndFilesAreReadAtOnce() {
    Connection connection =
        Connection.builder().apiKey("dhgw_secret").caFile(dir.resolve("no.pem").toString())
            .build(Map.of());
    assertFalse(connection.toString().contains("dhgw_secret"));
    assertThrows(NoSuchFileException.class, connection::credentials);
  }

  private static byte[] pem(String label, byte[] der) {
    String body = Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der);
    return ("-----BEGIN " + label + "-----\n" + body + "\n-----END " + label + "-----\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  private static byte[] der(byte[] pem) {
    String text = new String(pem, StandardCharsets.US_ASCII);
    return Base64.getMimeDecoder().decode(text.replaceAll("-----[A-Z ]+-----", ""));
  }

  @Test
  void anRsaPkcs1KeyBecomesTheSamePkcs8() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
    generator.initialize(2048);
    byte[] pkcs8 = generator.generateKeyPair().getPrivate().getEncoded();
    // 30 82 LL LL, version 0, rsaEncryption with NULL, 04 82 LL LL, then the PKCS#1 key.
    assertEquals("0201003" + "00d06092a864886f70d0101010500" + "0482",
        HexFormat.of().formatHex(pkcs8, 4, 24));
    byte[] pkcs1 = Arrays.copyOfRange(pkcs8, 26, pkcs8.length);
    assertArrayEquals(pkcs8, der(PemKeys.toPkcs8(pem("RSA PRIVATE KEY", pkcs1))));
  }

  @Test
  void anEcSec1KeyBecomesPkcs8OfTheSameKey() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"));
    ECPrivateKey key = (ECPrivateKey) generator.generateKeyPair().getPrivate();
    byte[] s = key.getS().toByteArray();
    byte[] scalar = new byte[32]; // the fixed-length big-endian scalar SEC 1 holds
    System.arraycopy(s, Math.max(0, s.length - 32), scalar, Math.max(0, 32 - s.length),
        Math.min(32, s.length));
    byte[] prime256v1 = HexFormat.of().parseHex("06082a8648ce3d030107");
    byte[] sec1 =
        PemKeys.der(0x30, new byte[] {0x02, 0x01, 0x01}, PemKeys.der(0x04, scalar),
            PemKeys.der(0xa0, prime256v1));
    byte[] pkcs8 = der(PemKeys.toPkcs8(pem("EC PRIVATE KEY", sec1)));
    ECPrivateKey back =
        (ECPrivateKey) KeyFactory.getInstance("EC").generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
    assertEquals(key.getS(), back.getS());
    assertEquals(key.getParams().getOrder(), back.getParams().getOrder());
    byte[] noCurve = PemKeys.der(0x30, new byte[] {0x02, 0x01, 0x01}, PemKeys.der(0x04, scalar));
    assertThrows(
        IllegalArgumentException.class, () -> PemKeys.toPkcs8(pem("EC PRIVATE KEY", noCurve)));
  }

  @Test
  void otherPemIsLeftAsItIs() {
    byte[] pkcs8 = pem("PRIVATE KEY", new BigInteger("1234").toByteArray());
    assertArrayEquals(pkcs8, PemKeys.toPkcs8(pkcs8));
  }
}
