package io.dhgateway.client.cli;

import com.google.gson.JsonObject;
import io.dhgateway.client.DriveException;
import io.dhgateway.client.DriveGatewayClient;
import io.dhgateway.client.TaskWatch;
import io.dhgateway.v1.StopDriveResponse;
import io.dhgateway.v1.StopMode;
import io.dhgateway.v1.TaskInfo;
import io.grpc.ManagedChannel;
import java.io.PrintStream;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * {@code dh-drive stop | get-task | watch-task}: the gateway's other calls, as dh-drive lines.
 *
 * <ul>
 *   <li>{@code dh-drive stop --task T [--stop-mode finish|interrupt]} prints {@code {"event":
 *       "stopped", "drive_id": ..., "played_ms": ..., "interrupted": ...}};
 *   <li>{@code dh-drive get-task --task T [--refresh]} prints {@code {"event": "task", <TaskInfo
 *       fields>}};
 *   <li>{@code dh-drive watch-task --task T} prints such a line now and at each change, until the
 *       task ended (exit 0).
 * </ul>
 *
 * <p>Fields by their proto names, int64 as strings, enums by name, as for the drive's events; a
 * failed call prints the {@code error} line and exits 1. Each takes {@code --profile}, {@code
 * --json} and the drive command's connection flags ({@link ConnectionFlags}).
 */
final class Commands {
  static final Set<String> NAMES = Set.of("stop", "get-task", "watch-task");

  private Commands() {}

  /** A subcommand's flags. */
  static final class CommandArgs {
    final ConnectionFlags connection = new ConnectionFlags();
    String task;
    String profile = "";
    boolean json;
    String stopMode = "finish";
    boolean refresh;
  }

  static String usage(String name) {
    String extra =
        switch (name) {
          case "stop" -> " [--stop-mode {finish,interrupt}]";
          case "get-task" -> " [--refresh]";
          default -> "";
        };
    return "usage: dh-drive "
        + name
        + " [-h] --task TASK [--profile PROFILE] [--json] "
        + ConnectionFlags.USAGE
        + extra
        + "\n";
  }

  static String help(String name) {
    String extra =
        switch (name) {
          case "stop" -> "  --stop-mode {finish,interrupt}\n";
          case "get-task" -> "  --refresh             ask the vendor now\n";
          default -> "";
        };
    return usage(name)
        + "\n"
        + "options:\n"
        + "  -h, --help            show this help message and exit\n"
        + "  --task TASK           the vendor's stream task id\n"
        + "  --profile PROFILE     the credentials profile\n"
        + "  --json                one JSON object per line\n"
        + extra
        + ConnectionFlags.HELP;
  }

  /** Parses subcommand {@code name}'s flags. */
  static CommandArgs parse(String name, String[] argv) throws Args.UsageException {
    CommandArgs args = new CommandArgs();
    for (int i = 0; i < argv.length; i++) {
      String flag = argv[i];
      boolean valued =
          Set.of("--task", "--profile", "--stop-mode").contains(flag)
              || ConnectionFlags.takesValue(flag);
      if (valued && i + 1 >= argv.length) {
        throw error(name, "argument " + flag + ": expected one argument");
      }
      switch (flag) {
        case "-h", "--help" -> throw new Args.UsageException(0, help(name));
        case "--json" -> args.json = true;
        case "--tls" -> args.connection.tls = true;
        case "--refresh" -> {
          if (!name.equals("get-task")) {
            throw error(name, "unrecognized arguments: " + flag);
          }
          args.refresh = true;
        }
        case "--task" -> args.task = argv[++i];
        case "--profile" -> args.profile = argv[++i];
        case "--stop-mode" -> {
          String value = argv[++i];
          if (!name.equals("stop")) {
            throw error(name, "unrecognized arguments: " + flag);
          }
          if (!List.of("finish", "interrupt").contains(value)) {
            throw error(name, "argument --stop-mode: invalid choice: '" + value + "'");
          }
          args.stopMode = value;
        }
        default -> {
          if (!valued) {
            throw error(name, "unrecognized arguments: " + flag);
          }
          args.connection.set(flag, argv[++i]);
        }
      }
    }
    if (args.task == null) {
      throw error(name, "the following arguments are required: --task");
    }
    return args;
  }

  private static Args.UsageException error(String name, String message) {
    return new Args.UsageException(2, usage(name) + "dh-drive " + name + ": error: " + message + "\n");
  }

  /** Runs subcommand {@code name}; returns the exit status. */
  static int run(String name, String[] argv, PrintStream out, PrintStream err) {
    CommandArgs args;
    ConnectionFlags.Dialed dialed;
    try {
      args = parse(name, argv);
      dialed = args.connection.dial(System.getenv(), message -> error(name, message));
    } catch (Args.UsageException e) {
      (e.status == 0 ? out : err).print(e.getMessage());
      return e.status;
    }
    DhDrive printer = new DhDrive(out, args.json);
    ManagedChannel channel = dialed.channel();
    try {
      call(name, dialed.connection().client(channel), args, printer);
      return 0;
    } catch (DriveException e) {
      printer.show(DhDrive.errorJson(e));
      return 1;
    } finally {
      channel.shutdownNow();
      try {
        channel.awaitTermination(2, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static void call(String name, DriveGatewayClient client, CommandArgs args, DhDrive out) {
    switch (name) {
      case "stop" -> {
        StopMode mode =
            args.stopMode.equals("interrupt")
                ? StopMode.STOP_MODE_INTERRUPT
                : StopMode.STOP_MODE_FINISH;
        StopDriveResponse answer = client.stop(args.task, args.profile, mode);
        JsonObject line = new JsonObject();
        line.addProperty("event", "stopped");
        line.addProperty("drive_id", answer.getDriveId());
        // int64 as a string, as protobuf's JSON form.
        line.addProperty("played_ms", Long.toString(answer.getPlayedMs()));
        line.addProperty("interrupted", answer.getInterrupted());
        out.show(line);
      }
      case "get-task" -> {
        TaskInfo info = client.getTask(args.task, args.profile, args.refresh);
        out.show(DhDrive.messageJson("task", info));
      }
      default -> {
        try (TaskWatch watch = client.watchTask(args.task, args.profile)) {
          for (TaskInfo info : watch) {
            out.show(DhDrive.messageJson("task", info));
          }
        }
      }
    }
  }
}
