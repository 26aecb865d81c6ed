package io.dhgateway.client;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Private keys in the PEM forms OpenSSL writes, as the PKCS#8 netty reads.
 *
 * <p>Without Bouncy Castle, grpc-java's TLS reads only {@code BEGIN PRIVATE KEY} (PKCS#8), while
 * {@code openssl}, Go and Python's tools write {@code BEGIN EC PRIVATE KEY} (SEC 1) and {@code
 * BEGIN RSA PRIVATE KEY} (PKCS#1) too; those are wrapped into PKCS#8 here, the key unchanged.
 */
final class PemKeys {
  private static final Pattern TRADITIONAL =
      Pattern.compile(
          "-----BEGIN (EC|RSA) PRIVATE KEY-----([A-Za-z0-9+/=\\s]*)-----END \\1 PRIVATE KEY-----");
  // DER of the AlgorithmIdentifier OIDs: id-ecPublicKey and rsaEncryption.
  private static final byte[] EC_PUBLIC_KEY = der(0x06, hex("2a8648ce3d0201"));
  private static final byte[] RSA_ENCRYPTION = der(0x06, hex("2a864886f70d010101"));
  private static final byte[] NULL = {0x05, 0x00};
  private static final byte[] VERSION_0 = {0x02, 0x01, 0x00};

  private PemKeys() {}

  /**
   * {@code pem} with an unencrypted EC (SEC 1) or RSA (PKCS#1) private key rewritten as PKCS#8;
   * any other text (PKCS#8 already, an encrypted key) unchanged, for netty to accept or refuse.
   *
   * @throws IllegalArgumentException an EC key that does not name its curve, or bad DER.
   */
  static byte[] toPkcs8(byte[] pem) {
    Matcher key = TRADITIONAL.matcher(new String(pem, StandardCharsets.US_ASCII));
    if (!key.find()) {
      return pem;
    }
    byte[] inner = Base64.getMimeDecoder().decode(key.group(2));
    byte[] algorithm =
        key.group(1).equals("RSA")
            ? der(0x30, RSA_ENCRYPTION, NULL)
            : der(0x30, EC_PUBLIC_KEY, curveOf(inner));
    byte[] info = der(0x30, VERSION_0, algorithm, der(0x04, inner));
    String body = Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(info);
    return ("-----BEGIN PRIVATE KEY-----\n" + body + "\n-----END PRIVATE KEY-----\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  /** The named curve's OID (its whole DER) in a SEC 1 ECPrivateKey's {@code [0]} parameters. */
  private static byte[] curveOf(byte[] sec1) {
    Reader outer = new Reader(sec1, 0, sec1.length);
    Reader fields = outer.enter(0x30);
    fields.skip(0x02); // version
    fields.skip(0x04); // the private key
    if (fields.more() && fields.peek() == (byte) 0xa0) {
      Reader parameters = fields.enter(0xa0);
      int start = parameters.at;
      parameters.skip(0x06);
      return Arrays.copyOfRange(sec1, start, parameters.at);
    }
    throw new IllegalArgumentException("an EC private key without its curve");
  }

  /** One DER element: {@code tag}, the definite length, the contents. */
  static byte[] der(int tag, byte[]... parts) {
    ByteArrayOutputStream content = new ByteArrayOutputStream();
    for (byte[] part : parts) {
      content.writeBytes(part);
    }
    int length = content.size();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(tag);
    if (length < 0x80) {
      out.write(length);
    } else {
      int bytes = (32 - Integer.numberOfLeadingZeros(length) + 7) / 8;
      out.write(0x80 | bytes);
      for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
        out.write(length >>> shift);
      }
    }
    out.writeBytes(content.toByteArray());
    return out.toByteArray();
  }

  private static byte[] hex(String digits) {
    byte[] bytes = new byte[digits.length() / 2];
    for (int i = 0; i < bytes.length; i++) {
      bytes[i] = (byte) Integer.parseInt(digits.substring(2 * i, 2 * i + 2), 16);
    }
    return bytes;
  }

  /** Reads DER elements in {@code bytes[at, end)}. */
  private static final class Reader {
    private final byte[] bytes;
    private int at;
    private final int end;

    Reader(byte[] bytes, int at, int end) {
      this.bytes = bytes;
      this.at = at;
      this.end = end;
    }

    boolean more() {
      return at < end;
    }

    byte peek() {
      return bytes[at];
    }

    /** The contents of the next element, which must have {@code tag}; moves past it. */
    Reader enter(int tag) {
      if (!more() || (bytes[at] & 0xff) != tag) {
        throw new IllegalArgumentException("not the DER of a private key");
      }
      int cursor = at + 1;
      int length = byteAt(cursor++);
      if (length >= 0x80) {
        int count = length & 0x7f;
        if (count == 0 || count > 3) {
          throw new IllegalArgumentException("not the DER of a private key");
        }
        length = 0;
        for (int i = 0; i < count; i++) {
          length = (length << 8) | byteAt(cursor++);
        }
      }
      if (length > end - cursor) {
        throw new IllegalArgumentException("not the DER of a private key");
      }
      at = cursor + length;
      return new Reader(bytes, cursor, at);
    }

    void skip(int tag) {
      enter(tag);
    }

    private int byteAt(int index) {
      if (index >= end) {
        throw new IllegalArgumentException("not the DER of a private key");
      }
      return bytes[index] & 0xff;
    }
  }
}
