use super::*;

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn parses_every_flag_in_both_forms() {
    let args = parse(&argv(&[
        "--addr=127.0.0.1:1",
        "--task",
        "t",
        "--file",
        "a.raw",
        "--encoding",
        "MULAW",
        "--rate",
        "8000",
        "--channels=2",
        "--policy",
        "QUEUE",
        "--chunk-ms",
        "40",
        "--realtime",
        "--cancel-after-ms",
        "1500",
        "--interrupt-after-ms=0",
        "--mark-every-ms=500",
        "--api-key",
        "k",
        "--json",
    ]))
    .expect("valid");
    assert_eq!(args.connection.addr.as_deref(), Some("127.0.0.1:1"));
    assert_eq!(
        (args.task.as_str(), args.file.as_deref()),
        ("t", Some("a.raw"))
    );
    assert_eq!(args.encoding, Some(Encoding::Mulaw));
    assert_eq!((args.rate, args.channels, args.chunk_ms), (8000, 2, 40));
    assert_eq!(args.policy, ConflictPolicy::Queue);
    assert!(args.realtime && args.json);
    assert_eq!(args.cancel_after_ms, Some(1500));
    assert_eq!(args.interrupt_after_ms, Some(0));
    assert_eq!(args.mark_every_ms, 500);
    assert_eq!(args.connection.api_key.as_deref(), Some("k"));
}

#[test]
fn a_text_drive_takes_the_text_and_its_timbre() {
    let args = parse(&argv(&[
        "--task",
        "t",
        "--text",
        "Hello there!",
        "--timbre-id",
        "v-1",
        "--interrupt-after-ms",
        "-1",
    ]))
    .expect("valid");
    assert_eq!(
        (args.file, args.text.as_deref()),
        (None, Some("Hello there!"))
    );
    assert_eq!(args.timbre_id, "v-1");
    assert_eq!(args.interrupt_after_ms, Some(-1));
}

#[test]
fn defaults_match_the_python_dh_drive() {
    let args = parse(&argv(&["--task", "t", "--file", "f.wav"])).expect("valid");
    // The connection's defaults are the environment's (connection.rs).
    assert_eq!(args.connection, ConnectionFlags::default());
    assert_eq!(
        (args.encoding, args.text, args.timbre_id.as_str()),
        (None, None, "")
    );
    assert_eq!((args.rate, args.channels, args.chunk_ms), (0, 0, 20));
    assert_eq!(args.policy, ConflictPolicy::Reject);
    assert!(!args.realtime && !args.json);
    assert_eq!(
        (args.cancel_after_ms, args.interrupt_after_ms),
        (None, None)
    );
    assert_eq!(args.mark_every_ms, 0);
}

fn usage(result: Result<impl std::fmt::Debug, Stop>) -> String {
    match result {
        Err(Stop::Usage(message)) => message,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn usage_errors() {
    let drive = |a: &[&str]| usage(parse(&argv(a)));
    assert!(drive(&["--file", "f"]).contains("required: --task"));
    assert_eq!(drive(&["--task", "t"]), "give one of --file or --text");
    assert_eq!(
        drive(&["--task", "t", "--file", "f", "--text", "x"]),
        "give one of --file or --text"
    );
    assert!(drive(&["--task", "t", "--file", "f", "--encoding", "MP3"]).contains("MP3"));
    assert!(drive(&["--task", "t", "--file", "f", "--rate", "x"]).contains("invalid int"));
    assert!(drive(&["--task", "t", "--file", "f", "--bogus"]).contains("unrecognized"));
    assert!(drive(&["--task"]).contains("expected one argument"));
    assert!(drive(&["--task", "t", "--file", "f", "--json=1"]).contains("ignored explicit"));
    assert_eq!(parse(&argv(&["-h"])), Err(Stop::Help));
}

#[test]
fn subcommands_take_the_common_flags_and_their_own() {
    let (stop, spec) = command("stop").expect("a subcommand");
    assert_eq!(*stop, Command::Stop);
    let args = parse_command(
        spec,
        &argv(&[
            "--task",
            "t",
            "--stop-mode",
            "interrupt",
            "--profile=p",
            "--json",
        ]),
    )
    .expect("valid");
    assert_eq!(args.stop_mode, pb::StopMode::Interrupt);
    assert_eq!((args.profile.as_str(), args.json), ("p", true));
    let args = parse_command(spec, &argv(&["--task", "t"])).expect("valid");
    assert_eq!(
        (args.stop_mode, args.connection.addr),
        (pb::StopMode::Finish, None)
    );
    assert!(usage(parse_command(
        spec,
        &argv(&["--task", "t", "--stop-mode", "now"])
    ))
    .contains("invalid choice: 'now' (choose from 'finish', 'interrupt')"));
    assert!(
        usage(parse_command(spec, &argv(&["--task", "t", "--refresh"])))
            .contains("unrecognized arguments: --refresh")
    );
    let (get, spec) = command("get-task").expect("a subcommand");
    assert_eq!(*get, Command::GetTask);
    assert!(
        parse_command(spec, &argv(&["--task", "t", "--refresh"]))
            .expect("valid")
            .refresh
    );
    let (watch, spec) = command("watch-task").expect("a subcommand");
    assert_eq!(*watch, Command::WatchTask);
    assert!(usage(parse_command(spec, &argv(&[]))).contains("required: --task"));
    assert!(command("drive").is_none());
}

#[test]
fn every_command_takes_the_connection_flags() {
    let flags = [
        "--addr",
        "gw:443",
        "--tls",
        "--ca",
        "ca.pem",
        "--cert",
        "c.pem",
        "--key=k.pem",
        "--server-name",
        "gw.example",
        "--api-key-file",
        "key",
    ];
    let expected = ConnectionFlags {
        addr: Some("gw:443".into()),
        tls: Some(true),
        ca: Some("ca.pem".into()),
        cert: Some("c.pem".into()),
        key: Some("k.pem".into()),
        server_name: Some("gw.example".into()),
        api_key_file: Some("key".into()),
        api_key: None,
    };
    let drive = [&["--task", "t", "--file", "f"][..], &flags].concat();
    assert_eq!(parse(&argv(&drive)).expect("valid").connection, expected);
    for (_, spec) in &COMMANDS {
        let command = [&["--task", "t"][..], &flags].concat();
        let args = parse_command(spec, &argv(&command)).expect("valid");
        assert_eq!(args.connection, expected, "{}", spec.prog);
    }
}

#[test]
fn the_key_file_and_the_key_exclude_each_other() {
    let both = [
        "--task",
        "t",
        "--api-key",
        "k",
        "--api-key-file",
        "f",
        "--file",
        "a",
    ];
    assert_eq!(
        usage(parse(&argv(&both))),
        "argument --api-key-file: not allowed with argument --api-key"
    );
    let (_, stop) = command("stop").expect("a subcommand");
    let both = ["--task", "t", "--api-key-file=f", "--api-key", "k"];
    assert_eq!(
        usage(parse_command(stop, &argv(&both))),
        "argument --api-key: not allowed with argument --api-key-file"
    );
    // The same flag twice is no conflict: the last one wins.
    let twice = ["--task", "t", "--api-key", "a", "--api-key", "b"];
    let args = parse_command(stop, &argv(&twice)).expect("valid");
    assert_eq!(args.connection.api_key.as_deref(), Some("b"));
}

/// `dh-drive stop --help` of the Python `dh-drive` (80 columns, no terminal), byte for byte.
const PYTHON_STOP_HELP: &str = "\
usage: dh-drive stop [-h] --task TASK [--profile PROFILE] [--json]
                     [--addr ADDR] [--tls] [--ca CA] [--cert CERT] [--key KEY]
                     [--server-name SERVER_NAME]
                     [--api-key-file API_KEY_FILE | --api-key API_KEY]
                     [--stop-mode {finish,interrupt}]

End the task's active drive (StopDrive).

options:
  -h, --help            show this help message and exit
  --task TASK           the vendor's stream task id
  --profile PROFILE     the credentials profile
  --json                one JSON object per line
  --stop-mode {finish,interrupt}

the gateway (each flag, else its DHGW_* variable):
  --addr ADDR           host:port or unix:/path ($DHGW_ADDRESS, else
                        127.0.0.1:50051)
  --tls                 TLS, verified by the system's roots
  --ca CA               PEM roots that verify the gateway (implies --tls)
  --cert CERT           client certificate (PEM) for mutual TLS (needs --key)
  --key KEY             the client certificate's private key (PEM)
  --server-name SERVER_NAME
                        the name on the gateway's certificate
  --api-key-file API_KEY_FILE
                        read the API key from this file (mode 600)
  --api-key API_KEY     the API key itself ($DHGW_API_KEY; shows in ps)";

#[test]
fn usage_and_help_are_laid_out_as_argparse_does() {
    let (_, stop) = command("stop").expect("a subcommand");
    assert_eq!(stop.help_in(80), PYTHON_STOP_HELP);
    let (_, get_task) = command("get-task").expect("a subcommand");
    assert_eq!(
        get_task.usage_in(80),
        "usage: dh-drive get-task [-h] --task TASK [--profile PROFILE] [--json]\n\
         \x20                        [--addr ADDR] [--tls] [--ca CA] [--cert CERT]\n\
         \x20                        [--key KEY] [--server-name SERVER_NAME]\n\
         \x20                        [--api-key-file API_KEY_FILE | --api-key API_KEY]\n\
         \x20                        [--refresh]"
    );
    let help = get_task.help_in(80);
    assert!(
        help.contains("\n\nHow the task is (GetTask).\n\noptions:\n"),
        "{help}"
    );
    assert!(help.contains("\n  --refresh             ask the vendor now\n\nthe gateway"));
    let help = DRIVE.help_in(80);
    assert!(help.contains(
        "\n  --timbre-id TIMBRE_ID\n                        the vendor's voice for --text\n"
    ));
    assert!(help.contains("\n  --policy {REJECT,PREEMPT,QUEUE}\n  --chunk-ms CHUNK_MS "));
    assert!(help.contains("\n  --json                one JSON object per line\n\nthe gateway"));
    assert!(DRIVE.usage_in(80).starts_with(
        "usage: dh-drive [-h] --task TASK [--file FILE] [--text TEXT]\n                \
         [--timbre-id TIMBRE_ID]\n"
    ));
}

#[test]
fn narrow_terminals_wrap_the_help_as_argparse_does() {
    let (_, stop) = command("stop").expect("a subcommand");
    let help = stop.help_in(50);
    assert!(help.starts_with(
        "usage: dh-drive stop [-h] --task TASK\n                     [--profile PROFILE]\n"
    ));
    assert!(help.contains(
        "\n  --addr ADDR           host:port or unix:/path\n                        \
         ($DHGW_ADDRESS, else\n                        127.0.0.1:50051)\n"
    ));
}

#[test]
fn text_wraps_as_pythons_textwrap_does() {
    use crate::argparse::wrap;
    let drive = "Stream a WAV or raw PCM file through dh-gateway and print its events.";
    assert_eq!(
        wrap(drive, 27),
        [
            "Stream a WAV or raw PCM",
            "file through dh-gateway and",
            "print its events."
        ]
    );
    assert_eq!(
        wrap("the --api-key-file flag of dh-drive", 12),
        ["the --api-", "key-file", "flag of dh-", "drive"]
    );
    assert_eq!(wrap("x--yy ab-cd a-b", 5), ["x--yy", "ab-cd", "a-b"]);
    assert_eq!(
        wrap("read the API key from this file (mode 600)", 11),
        ["read the", "API key", "from this", "file (mode", "600)"]
    );
    assert!(wrap("", 10).is_empty());
}
