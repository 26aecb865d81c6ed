//! The `--json` lines (and their human form): one object per event, the proto's field names,
//! int64 as strings, enums by name, Timestamps in RFC 3339 (the proto3 JSON form).

use dhgateway_client::{pb, DriveError, Event, EventKind};
use serde_json::{Map, Value};

/// The line of `event` with `fields` in order.
pub fn line(event: &str, fields: Vec<(&str, Value)>) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert("event".into(), event.into());
    for (name, value) in fields {
        line.insert(name.into(), value);
    }
    line
}

/// An int64 in the proto3 JSON form: a string.
pub fn int64(n: i64) -> Value {
    Value::String(n.to_string())
}

/// An event as its JSON line: the proto field names, int64 as strings (the proto3 JSON form).
pub fn event_json(event: &Event) -> Map<String, Value> {
    let mut fields: Vec<(&str, Value)> = vec![("drive_id", event.drive_id.clone().into())];
    fields.extend(match &event.kind {
        EventKind::Queued(q) => vec![
            ("reason", q.reason().as_str_name().into()),
            ("ahead", q.ahead.into()),
        ],
        EventKind::Started(s) => vec![
            ("output_sample_rate_hz", s.output_sample_rate_hz.into()),
            ("setup_ms", int64(s.setup_ms)),
            ("output_channels", s.output_channels.into()),
        ],
        EventKind::Progress(p) => vec![
            ("received_ms", int64(p.received_ms)),
            ("sent_ms", int64(p.sent_ms)),
            ("lead_ms", int64(p.lead_ms)),
            ("underruns", p.underruns.into()),
            ("played_ms", int64(p.played_ms)),
        ],
        EventKind::PlaybackStarted(s) => vec![("source", s.source().as_str_name().into())],
        EventKind::MarkPlayed(m) => vec![
            ("name", m.name.clone().into()),
            ("at_ms", int64(m.at_ms)),
            ("source", m.source().as_str_name().into()),
        ],
        EventKind::PlaybackFinished(f) => vec![
            ("played_ms", int64(f.played_ms)),
            ("interrupted", f.interrupted.into()),
            ("source", f.source().as_str_name().into()),
        ],
        EventKind::Completed(c) => vec![
            ("received_ms", int64(c.received_ms)),
            ("sent_ms", int64(c.sent_ms)),
            ("bytes_sent", int64(c.bytes_sent)),
            ("frames_sent", int64(c.frames_sent)),
            ("underruns", c.underruns.into()),
            ("stop_lag_ms", int64(c.stop_lag_ms)),
            ("dropped_ms", int64(c.dropped_ms)),
            ("time_to_first_frame_ms", int64(c.time_to_first_frame_ms)),
            ("time_to_speaking_ms", int64(c.time_to_speaking_ms)),
            ("played_ms", int64(c.played_ms)),
            ("interrupted", c.interrupted.into()),
            ("billed_ms", int64(c.billed_ms)),
        ],
    });
    line(event.name(), fields)
}

/// A failed call's line: the code's name, the ErrorInfo reason and metadata; the RetryInfo
/// delay (`retry_delay_ms`, an int64) and the BadRequest's `field_violations` when present.
pub fn error_json(error: &DriveError) -> Map<String, Value> {
    let mut fields = vec![
        ("code", error.code_name().into()),
        ("reason", error.reason.clone().into()),
        ("message", error.message.clone().into()),
        ("metadata", string_map(&error.metadata)),
    ];
    if let Some(delay) = error.retry_delay {
        let ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
        fields.push(("retry_delay_ms", int64(ms)));
    }
    if !error.field_violations.is_empty() {
        let violations = error.field_violations.iter().map(|v| {
            let pairs = [("field", &v.field), ("description", &v.description)];
            let object: Map<String, Value> = pairs
                .into_iter()
                .map(|(k, text)| (k.to_owned(), text.clone().into()))
                .collect();
            Value::Object(object)
        });
        fields.push(("field_violations", violations.collect()));
    }
    line("error", fields)
}

/// A `map<string, string>` as a JSON object, its keys sorted (as protojson prints it).
fn string_map(map: &std::collections::HashMap<String, String>) -> Value {
    let mut pairs: Vec<(&String, &String)> = map.iter().collect();
    pairs.sort();
    let object: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    object.into()
}

/// StopDrive's answer as the `stopped` line.
pub fn stopped_json(response: &pb::StopDriveResponse) -> Map<String, Value> {
    line(
        "stopped",
        vec![
            ("drive_id", response.drive_id.clone().into()),
            ("played_ms", int64(response.played_ms)),
            ("interrupted", response.interrupted.into()),
        ],
    )
}

/// A `TaskInfo` as the `task` line: every field in the proto's order, an unset message left
/// out.
pub fn task_json(info: &pb::TaskInfo) -> Map<String, Value> {
    let mut fields: Vec<(&str, Value)> = vec![
        ("task_id", info.task_id.clone().into()),
        ("profile", info.profile.clone().into()),
        ("status", info.status().as_str_name().into()),
        ("status_source", info.status_source().as_str_name().into()),
    ];
    push_time(&mut fields, "status_time", info.status_time.as_ref());
    fields.extend([
        ("fail_reason", info.fail_reason.clone().into()),
        ("room_id", info.room_id.clone().into()),
        ("stream_id", info.stream_id.clone().into()),
    ]);
    push_time(&mut fields, "create_time", info.create_time.as_ref());
    fields.extend([
        ("speaking", info.speaking.into()),
        ("speaking_drive_id", info.speaking_drive_id.clone().into()),
    ]);
    if let Some(drive) = &info.active_drive {
        fields.push(("active_drive", drive_json(drive)));
    }
    fields.push(("queued_drives", info.queued_drives.into()));
    push_time(
        &mut fields,
        "last_driven_time",
        info.last_driven_time.as_ref(),
    );
    push_time(&mut fields, "idle_deadline", info.idle_deadline.as_ref());
    line("task", fields)
}

fn drive_json(drive: &pb::DriveInfo) -> Value {
    let mut fields: Vec<(&str, Value)> = vec![
        ("task_id", drive.task_id.clone().into()),
        ("drive_id", drive.drive_id.clone().into()),
        ("state", drive.state().as_str_name().into()),
    ];
    push_time(&mut fields, "started_time", drive.started_time.as_ref());
    fields.extend([
        ("sent_ms", int64(drive.sent_ms)),
        ("labels", string_map(&drive.labels)),
        ("profile", drive.profile.clone().into()),
        ("replica", drive.replica.clone().into()),
        ("billed_ms", int64(drive.billed_ms)),
    ]);
    let object: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    object.into()
}

fn push_time<'a>(
    fields: &mut Vec<(&'a str, Value)>,
    name: &'a str,
    time: Option<&prost_types::Timestamp>,
) {
    if let Some(time) = time {
        fields.push((name, rfc3339(time).into()));
    }
}

/// A Timestamp in RFC 3339, UTC, with 0, 3, 6 or 9 fractional digits (as protojson prints it).
fn rfc3339(time: &prost_types::Timestamp) -> String {
    let (days, second) = (
        time.seconds.div_euclid(86_400),
        time.seconds.rem_euclid(86_400),
    );
    // Howard Hinnant's civil_from_days: the proleptic Gregorian date of a day since 1970.
    let z = days + 719_468;
    let (era, day_of_era) = (z.div_euclid(146_097), z.rem_euclid(146_097));
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let nanos = time.nanos.clamp(0, 999_999_999);
    let fraction = if nanos == 0 {
        String::new()
    } else if nanos % 1_000_000 == 0 {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos % 1000 == 0 {
        format!(".{:06}", nanos / 1000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}{fraction}Z",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

/// Prints `line`: as JSON with `as_json`, else as `<name> key=value...`.
pub fn show(line: &Map<String, Value>, as_json: bool) {
    if as_json {
        println!("{}", Value::Object(line.clone()));
        return;
    }
    let rest: Vec<String> = line
        .iter()
        .filter(|(k, _)| *k != "event")
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect();
    let event = line.get("event").and_then(Value::as_str).unwrap_or("");
    println!("{:<10} {}", said(event), rest.join(" "));
}

/// The human name of an event: the avatar's playback as `speaking` / `mark` / `finished`.
pub fn said(event: &str) -> &str {
    match event {
        "playback_started" => "speaking",
        "mark_played" => "mark",
        "playback_finished" => "finished",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_print_with_proto_field_names_in_order() {
        let event = Event::from_proto(pb::DriveEvent {
            drive_id: "d-1".into(),
            time: None,
            event: Some(EventKind::Completed(pb::Completed {
                received_ms: 3000,
                sent_ms: 3000,
                bytes_sent: 96_000,
                frames_sent: 75,
                underruns: 0,
                stop_lag_ms: 12,
                dropped_ms: 40,
                time_to_first_frame_ms: 5,
                time_to_speaking_ms: 9,
                played_ms: 2960,
                interrupted: true,
                billed_ms: 2960,
            })),
        })
        .expect("known");
        assert_eq!(
            Value::Object(event_json(&event)).to_string(),
            r#"{"event":"completed","drive_id":"d-1","received_ms":"3000","sent_ms":"3000","bytes_sent":"96000","frames_sent":"75","underruns":0,"stop_lag_ms":"12","dropped_ms":"40","time_to_first_frame_ms":"5","time_to_speaking_ms":"9","played_ms":"2960","interrupted":true,"billed_ms":"2960"}"#
        );
        let queued = Event::from_proto(pb::DriveEvent {
            drive_id: String::new(),
            time: None,
            event: Some(EventKind::Queued(pb::Queued {
                reason: pb::queued::Reason::TaskBusy.into(),
                ahead: 1,
            })),
        })
        .expect("known");
        assert_eq!(
            Value::Object(event_json(&queued)).to_string(),
            r#"{"event":"queued","drive_id":"","reason":"REASON_TASK_BUSY","ahead":1}"#
        );
    }

    fn printed(kind: EventKind) -> String {
        let event = Event::from_proto(pb::DriveEvent {
            drive_id: "d-1".into(),
            time: None,
            event: Some(kind),
        })
        .expect("known");
        Value::Object(event_json(&event)).to_string()
    }

    #[test]
    fn playback_events_print_like_the_python_dh_drive() {
        let estimated = pb::PlaybackSource::Estimated.into();
        assert_eq!(
            printed(EventKind::PlaybackStarted(pb::PlaybackStarted {
                source: estimated
            })),
            r#"{"event":"playback_started","drive_id":"d-1","source":"PLAYBACK_SOURCE_ESTIMATED"}"#
        );
        assert_eq!(
            printed(EventKind::MarkPlayed(pb::MarkPlayed {
                name: "m500".into(),
                at_ms: 500,
                source: estimated,
            })),
            r#"{"event":"mark_played","drive_id":"d-1","name":"m500","at_ms":"500","source":"PLAYBACK_SOURCE_ESTIMATED"}"#
        );
        assert_eq!(
            printed(EventKind::PlaybackFinished(pb::PlaybackFinished {
                played_ms: 3858,
                interrupted: true,
                source: pb::PlaybackSource::Vendor.into(),
            })),
            r#"{"event":"playback_finished","drive_id":"d-1","played_ms":"3858","interrupted":true,"source":"PLAYBACK_SOURCE_VENDOR"}"#
        );
        assert!(printed(EventKind::Progress(pb::Progress {
            played_ms: 120,
            ..pb::Progress::default()
        }))
        .ends_with(r#""underruns":0,"played_ms":"120"}"#));
        let said_as: Vec<&str> = [
            "playback_started",
            "mark_played",
            "playback_finished",
            "started",
        ]
        .into_iter()
        .map(said)
        .collect();
        assert_eq!(said_as, ["speaking", "mark", "finished", "started"]);
    }

    #[test]
    fn errors_print_code_name_reason_and_metadata() {
        let error = DriveError {
            code: dhgateway_client::Code::AlreadyExists,
            message: "busy".into(),
            reason: "TASK_BUSY".into(),
            domain: "dhgateway".into(),
            metadata: [("holder_drive_id".to_owned(), "d-1".to_owned())].into(),
            retry_delay: None,
            field_violations: Vec::new(),
        };
        assert_eq!(
            Value::Object(error_json(&error)).to_string(),
            r#"{"event":"error","code":"ALREADY_EXISTS","reason":"TASK_BUSY","message":"busy","metadata":{"holder_drive_id":"d-1"}}"#
        );
    }

    #[test]
    fn errors_print_the_retry_delay_and_the_field_violations_when_present() {
        let error = DriveError {
            code: dhgateway_client::Code::Unavailable,
            message: "m".into(),
            reason: "DRAINING".into(),
            domain: "dhgateway".into(),
            metadata: std::collections::HashMap::new(),
            retry_delay: Some(std::time::Duration::from_millis(500)),
            field_violations: vec![dhgateway_client::FieldViolation {
                field: "config.input.sample_rate_hz".into(),
                description: "use 8000 to 48000".into(),
            }],
        };
        assert_eq!(
            Value::Object(error_json(&error)).to_string(),
            concat!(
                r#"{"event":"error","code":"UNAVAILABLE","reason":"DRAINING","message":"m","#,
                r#""metadata":{},"retry_delay_ms":"500","field_violations":[{"field":"#,
                r#""config.input.sample_rate_hz","description":"use 8000 to 48000"}]}"#
            )
        );
    }

    #[test]
    fn timestamps_print_in_rfc_3339_with_protojson_s_fraction_digits() {
        let at = |seconds, nanos| rfc3339(&prost_types::Timestamp { seconds, nanos });
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_796_678_089, 123_000_000), "2026-12-07T21:14:49.123Z");
        assert_eq!(at(951_782_400, 5_000), "2000-02-29T00:00:00.000005Z");
        assert_eq!(at(4_107_542_399, 1), "2100-02-28T23:59:59.000000001Z");
        assert_eq!(at(-1, 0), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn a_task_prints_every_field_in_order_and_leaves_unset_messages_out() {
        let info = pb::TaskInfo {
            task_id: "t".into(),
            status: pb::TaskStatus::Streaming.into(),
            queued_drives: 1,
            last_driven_time: Some(prost_types::Timestamp {
                seconds: 0,
                nanos: 0,
            }),
            active_drive: Some(pb::DriveInfo {
                drive_id: "d".into(),
                sent_ms: 40,
                billed_ms: 40,
                labels: [
                    ("b".to_owned(), "2".to_owned()),
                    ("a".to_owned(), "1".to_owned()),
                ]
                .into(),
                ..pb::DriveInfo::default()
            }),
            ..pb::TaskInfo::default()
        };
        assert_eq!(
            Value::Object(task_json(&info)).to_string(),
            concat!(
                r#"{"event":"task","task_id":"t","profile":"","status":"TASK_STATUS_STREAMING","#,
                r#""status_source":"TASK_STATUS_SOURCE_UNSPECIFIED","fail_reason":"","room_id":"","#,
                r#""stream_id":"","speaking":false,"speaking_drive_id":"","active_drive":{"#,
                r#""task_id":"","drive_id":"d","state":"DRIVE_STATE_UNSPECIFIED","sent_ms":"40","#,
                r#""labels":{"a":"1","b":"2"},"profile":"","replica":"","billed_ms":"40"},"#,
                r#""queued_drives":1,"#,
                r#""last_driven_time":"1970-01-01T00:00:00Z"}"#
            )
        );
        let stopped = pb::StopDriveResponse {
            drive_id: "d".into(),
            played_ms: 1200,
            interrupted: true,
        };
        assert_eq!(
            Value::Object(stopped_json(&stopped)).to_string(),
            r#"{"event":"stopped","drive_id":"d","played_ms":"1200","interrupted":true}"#
        );
    }
}
