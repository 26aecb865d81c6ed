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
    assert_eq!(args.addr, "127.0.0.1:1");
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
    assert_eq!(args.api_key.as_deref(), Some("k"));
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
    assert_eq!(args.addr, "127.0.0.1:50051");
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
    assert_eq!((args.api_key, args.mark_every_ms), (None, 0));
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
        (args.stop_mode, args.addr.as_str()),
        (pb::StopMode::Finish, "127.0.0.1:50051")
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
fn usage_and_help_are_laid_out_as_argparse_does() {
    let (_, get_task) = command("get-task").expect("a subcommand");
    assert_eq!(
        get_task.usage(),
        "usage: dh-drive get-task [-h] [--addr ADDR] --task TASK [--profile PROFILE] \
         [--api-key API_KEY] [--json] [--refresh]"
    );
    let help = get_task.help();
    assert!(
        help.contains("\n\nHow the task is (GetTask).\n\noptions:\n"),
        "{help}"
    );
    assert!(help.contains("\n  -h, --help         show this help message and exit\n"));
    assert!(
        help.ends_with("\n  --refresh          ask the vendor now"),
        "{help}"
    );
    let help = DRIVE.help();
    assert!(
        help.contains("\n  --addr ADDR           gateway host:port\n"),
        "{help}"
    );
    assert!(help.contains(
        "\n  --timbre-id TIMBRE_ID\n                        the vendor's voice for --text\n"
    ));
    assert!(help.contains("\n  --policy {REJECT,PREEMPT,QUEUE}\n  --chunk-ms CHUNK_MS "));
    assert!(DRIVE
        .usage()
        .contains(" --task TASK [--file FILE] [--text TEXT] [--timbre-id TIMBRE_ID] [--encoding"));
}
