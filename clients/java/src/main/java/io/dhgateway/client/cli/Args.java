package io.dhgateway.client.cli;

import io.dhgateway.client.Names;
import java.util.ArrayList;
import java.util.List;

/** The {@code dh-drive} flags, the same in every client language; parsed by hand. */
final class Args {
  static final String USAGE =
      "usage: dh-drive [-h] --task TASK [--file FILE] [--text TEXT]\n"
          + "                [--timbre-id TIMBRE_ID]\n"
          + "                [--encoding {LINEAR16,FLOAT32,WAV,MULAW,ALAW}] [--rate RATE]\n"
          + "                [--channels CHANNELS] [--policy {REJECT,PREEMPT,QUEUE}]\n"
          + "                [--chunk-ms CHUNK_MS] [--realtime]\n"
          + "                [--cancel-after-ms CANCEL_AFTER_MS]\n"
          + "                [--interrupt-after-ms INTERRUPT_AFTER_MS]\n"
          + "                [--mark-every-ms MARK_EVERY_MS] [--json] [--addr ADDR] [--tls]\n"
          + "                [--ca CA] [--cert CERT] [--key KEY]\n"
          + "                [--server-name SERVER_NAME]\n"
          + "                [--api-key-file API_KEY_FILE | --api-key API_KEY]\n";

  static final String HELP =
      USAGE
          + "\n"
          + "dh-drive: stream a WAV or raw PCM file through dh-gateway and print its events.\n"
          + "\n"
          + "options:\n"
          + "  -h, --help            show this help message and exit\n"
          + "  --task TASK           the vendor's stream task id\n"
          + "  --file FILE           a .wav file, or raw audio (or --text)\n"
          + "  --text TEXT           speak this text with the vendor's TTS instead\n"
          + "  --timbre-id TIMBRE_ID\n"
          + "                        the vendor's voice for --text\n"
          + "  --encoding {LINEAR16,FLOAT32,WAV,MULAW,ALAW}\n"
          + "                        default: by extension\n"
          + "  --rate RATE           input sample rate (0: default)\n"
          + "  --channels CHANNELS   input channels (0: default)\n"
          + "  --policy {REJECT,PREEMPT,QUEUE}\n"
          + "  --chunk-ms CHUNK_MS   audio per message\n"
          + "  --realtime            send at 1x, like a live TTS\n"
          + "  --cancel-after-ms CANCEL_AFTER_MS\n"
          + "                        cancel the drive after this long\n"
          + "  --interrupt-after-ms INTERRUPT_AFTER_MS\n"
          + "                        interrupt (silence) the avatar after this long\n"
          + "  --mark-every-ms MARK_EVERY_MS\n"
          + "                        put a mark named m<offset_ms> every this many ms of\n"
          + "                        audio (0: none)\n"
          + "  --json                one JSON object per line\n"
          + ConnectionFlags.HELP;

  /** A command line that asks for help or is wrong; {@code status} is the exit status. */
  static final class UsageException extends Exception {
    private static final long serialVersionUID = 1L;
    final int status;

    UsageException(int status, String message) {
      super(message);
      this.status = status;
    }
  }

  /** {@code --addr}, {@code --tls}, the TLS files and the API key. */
  final ConnectionFlags connection = new ConnectionFlags();
  String task;
  String file;
  String text;
  String timbreId = "";
  String encoding;
  int rate;
  int channels;
  String policy = "REJECT";
  int chunkMs = 20;
  boolean realtime;
  Integer cancelAfterMs;
  Integer interruptAfterMs;
  int markEveryMs;
  boolean json;

  static Args parse(String[] argv) throws UsageException {
    Args args = new Args();
    List<String> unknown = new ArrayList<>();
    for (int i = 0; i < argv.length; i++) {
      String arg = argv[i];
      String name = arg;
      String inline = null;
      int eq = arg.indexOf('=');
      if (arg.startsWith("--") && eq > 0) {
        name = arg.substring(0, eq);
        inline = arg.substring(eq + 1);
      }
      switch (name) {
        case "-h":
        case "--help":
          throw new UsageException(0, HELP);
        case "--realtime":
        case "--json":
        case "--tls":
          if (inline != null) {
            throw error("argument " + name + ": ignored explicit argument '" + inline + "'");
          }
          switch (name) {
            case "--realtime" -> args.realtime = true;
            case "--json" -> args.json = true;
            default -> args.connection.tls = true;
          }
          continue;
        default:
          break;
      }
      if (!isValued(name)) {
        unknown.add(arg);
        continue;
      }
      String value = inline;
      if (value == null) {
        if (i + 1 >= argv.length || isFlag(argv[i + 1])) {
          throw error("argument " + name + ": expected one argument");
        }
        value = argv[++i];
      }
      if (ConnectionFlags.takesValue(name)) {
        args.connection.set(name, value);
      } else {
        args.set(name, value);
      }
    }
    List<String> missing = new ArrayList<>();
    if (args.task == null) {
      missing.add("--task");
    }
    if (!missing.isEmpty()) {
      throw error("the following arguments are required: " + String.join(", ", missing));
    }
    if ((args.file == null) == (args.text == null)) {
      throw error("give one of --file or --text");
    }
    if (!unknown.isEmpty()) {
      throw error("unrecognized arguments: " + String.join(" ", unknown));
    }
    return args;
  }

  private static boolean isValued(String name) {
    if (ConnectionFlags.takesValue(name)) {
      return true;
    }
    switch (name) {
      case "--task":
      case "--file":
      case "--text":
      case "--timbre-id":
      case "--interrupt-after-ms":
      case "--encoding":
      case "--rate":
      case "--channels":
      case "--policy":
      case "--chunk-ms":
      case "--cancel-after-ms":
      case "--mark-every-ms":
        return true;
      default:
        return false;
    }
  }

  /** Like argparse: "-5" is a value (a negative number), "--x" and "-x" are flags. */
  private static boolean isFlag(String arg) {
    return arg.startsWith("-") && arg.length() > 1 && !arg.matches("-\\d+(\\.\\d*)?");
  }

  private void set(String name, String value) throws UsageException {
    switch (name) {
      case "--task":
        task = value;
        break;
      case "--file":
        file = value;
        break;
      case "--text":
        text = value;
        break;
      case "--timbre-id":
        timbreId = value;
        break;
      case "--interrupt-after-ms":
        interruptAfterMs = integer(name, value);
        break;
      case "--encoding":
        encoding = choice(name, value, Names.ENCODINGS);
        break;
      case "--rate":
        rate = integer(name, value);
        break;
      case "--channels":
        channels = integer(name, value);
        break;
      case "--policy":
        policy = choice(name, value, Names.POLICIES);
        break;
      case "--chunk-ms":
        chunkMs = integer(name, value);
        break;
      case "--cancel-after-ms":
        cancelAfterMs = integer(name, value);
        break;
      case "--mark-every-ms":
        markEveryMs = integer(name, value);
        break;
      default:
        throw new IllegalStateException(name);
    }
  }

  private static String choice(String name, String value, List<String> choices)
      throws UsageException {
    if (!choices.contains(value)) {
      throw error(
          "argument "
              + name
              + ": invalid choice: '"
              + value
              + "' (choose from "
              + String.join(", ", choices)
              + ")");
    }
    return value;
  }

  private static int integer(String name, String value) throws UsageException {
    try {
      return Integer.parseInt(value.strip());
    } catch (NumberFormatException e) {
      throw error("argument " + name + ": invalid int value: '" + value + "'");
    }
  }

  /** A usage error of the drive command: the usage line, then the message (exit status 2). */
  static UsageException error(String message) {
    return new UsageException(2, USAGE + "dh-drive: error: " + message + "\n");
  }
}
