//! A parser of flags that behaves (and prints its usage and help) as Python's argparse does
//! for the Python `dh-drive`, so that usage errors and `--help` look alike in every language.

use std::collections::HashMap;

/// How a flag takes its value.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// No value: present or not.
    Switch,
    /// Any string.
    Text,
    /// An integer.
    Int,
    /// One of these.
    Choice(&'static [&'static str]),
}

/// One flag: `--name`, how it takes its value, whether it must be given, its help, and the
/// title of its argument group in the help ("" for the `options:` section).
#[derive(Debug)]
pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub help: &'static str,
    pub group: &'static str,
}

/// An optional flag.
pub const fn flag(name: &'static str, kind: Kind, help: &'static str) -> Flag {
    Flag {
        name,
        kind,
        required: false,
        help,
        group: "",
    }
}

/// A command: its name in messages, what it does, its flags in order, and the sets of flags
/// of which at most one may be given (each listed next to each other in `flags`).
#[derive(Debug)]
pub struct Spec {
    pub prog: &'static str,
    pub description: &'static str,
    pub flags: &'static [Flag],
    pub exclusive: &'static [&'static [&'static str]],
}

/// Why parsing stopped: help asked for (exit 0) or a usage error (exit 2).
#[derive(Debug, PartialEq)]
pub enum Stop {
    Help,
    Usage(String),
}

/// The flags given, by name: the last value of each (a switch's is "").
#[derive(Debug, Default)]
pub struct Given(HashMap<&'static str, String>);

impl Given {
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    pub fn switch(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// An int flag's value (checked when parsed), else `default`.
    pub fn int<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        self.0
            .get(name)
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(default)
    }
}

impl Spec {
    /// Reads `argv` (`--flag value` or `--flag=value`, the last one winning), checking ints,
    /// choices, exclusive flags and the required flags as argparse does.
    pub fn parse(&self, argv: &[String]) -> Result<Given, Stop> {
        let mut given = Given::default();
        let mut rest = argv.iter();
        while let Some(arg) = rest.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name, Some(value)),
                _ => (arg.as_str(), None),
            };
            if matches!(name, "-h" | "--help") {
                return Err(Stop::Help);
            }
            let Some(flag) = self.flags.iter().find(|f| f.name == name) else {
                return Err(Stop::Usage(format!("unrecognized arguments: {arg}")));
            };
            let value = match (flag.kind, inline) {
                (Kind::Switch, Some(value)) => {
                    return Err(Stop::Usage(format!(
                        "argument {name}: ignored explicit argument '{value}'"
                    )))
                }
                (Kind::Switch, None) => String::new(),
                (_, Some(value)) => value.to_owned(),
                (_, None) => match rest.next() {
                    Some(value) if !value.starts_with("--") => value.clone(),
                    _ => {
                        return Err(Stop::Usage(format!(
                            "argument {name}: expected one argument"
                        )))
                    }
                },
            };
            check(flag, &value)?;
            if let Some(other) = self.excluded_by(flag.name, &given) {
                return Err(Stop::Usage(format!(
                    "argument {name}: not allowed with argument {other}"
                )));
            }
            given.0.insert(flag.name, value);
        }
        let missing: Vec<&str> = self
            .flags
            .iter()
            .filter(|f| f.required && !given.switch(f.name))
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            return Err(Stop::Usage(format!(
                "the following arguments are required: {}",
                missing.join(", ")
            )));
        }
        Ok(given)
    }

    /// A flag already given that excludes `name`.
    fn excluded_by(&self, name: &str, given: &Given) -> Option<&'static str> {
        let set = self.exclusive.iter().find(|set| set.contains(&name))?;
        set.iter()
            .copied()
            .find(|other| *other != name && given.switch(other))
    }

    /// The usage, `usage: <prog> [-h] --task TASK [--addr ADDR] ...`, wrapped as argparse does
    /// for the terminal's width (`$COLUMNS`, else 80).
    pub fn usage(&self) -> String {
        self.usage_in(columns())
    }

    /// The usage wrapped for a terminal of `columns`.
    pub fn usage_in(&self, columns: usize) -> String {
        usage(self.prog, &self.usage_parts(), columns.saturating_sub(2))
    }

    /// `[-h]`, then each flag (`--task`, `TASK` for a required one), an exclusive set as one
    /// `[--a A | --b B]`.
    fn usage_parts(&self) -> Vec<String> {
        let mut parts = vec!["[-h]".to_owned()];
        let mut flags = self.flags.iter().peekable();
        while let Some(flag) = flags.next() {
            if flag.required {
                parts.extend(invocation(flag).split(' ').map(str::to_owned));
                continue;
            }
            let mut alternatives = vec![invocation(flag)];
            if let Some(set) = self.exclusive.iter().find(|set| set.contains(&flag.name)) {
                while let Some(next) = flags.next_if(|next| set.contains(&next.name)) {
                    alternatives.push(invocation(next));
                }
            }
            parts.push(format!("[{}]", alternatives.join(" | ")));
        }
        parts
    }

    /// The usage, the description, the `options:` section and each argument group, laid out
    /// and wrapped as argparse does for the terminal's width (`$COLUMNS`, else 80).
    pub fn help(&self) -> String {
        self.help_in(columns())
    }

    /// The help wrapped for a terminal of `columns`.
    pub fn help_in(&self, columns: usize) -> String {
        // argparse leaves two columns free.
        let width = columns.saturating_sub(2);
        let help_row = ("-h, --help".to_owned(), "show this help message and exit");
        let rows = |group: &str| -> Vec<(String, &'static str)> {
            let flags = self.flags.iter().filter(|f| f.group == group);
            flags.map(|f| (invocation(f), f.help)).collect()
        };
        let mut sections = vec![("options", [vec![help_row], rows("")].concat())];
        for flag in self.flags {
            if !flag.group.is_empty() && sections.iter().all(|(title, _)| *title != flag.group) {
                sections.push((flag.group, rows(flag.group)));
            }
        }
        // Help starts two columns after the longest invocation, at most at column 24.
        let longest = sections
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|(invocation, _)| invocation.len() + 2))
            .max()
            .unwrap_or(0);
        let help_at = (longest + 2).min(24.min(width.saturating_sub(20).max(4)));
        let help_width = width.saturating_sub(help_at).max(11);
        let description = wrap(self.description, width.max(11)).join("\n");
        let mut help = format!("{}\n\n{description}", self.usage_in(columns));
        for (title, rows) in sections {
            help += &format!("\n\n{title}:");
            for (invocation, text) in rows {
                help += &format!("\n  {invocation}");
                let lines = wrap(text, help_width);
                let Some((first, others)) = lines.split_first() else {
                    continue;
                };
                if invocation.len() + 2 + 2 <= help_at {
                    help += &" ".repeat(help_at - 2 - invocation.len());
                } else {
                    help += &format!("\n{}", " ".repeat(help_at));
                }
                help += first;
                for line in others {
                    help += &format!("\n{}{line}", " ".repeat(help_at));
                }
            }
        }
        help
    }
}

/// The terminal's columns as Python's argparse finds them without a terminal: `$COLUMNS`,
/// else 80 (std has no terminal size; a pipe, as in the tests, gets 80 in both).
fn columns() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|columns| columns.trim().parse::<usize>().ok())
        .filter(|columns| *columns > 0)
        .unwrap_or(80)
}

/// `usage: ` and `prog` with the `parts`, wrapped at `width` as argparse does: after the prog
/// when it is short, else under it.
fn usage(prog: &str, parts: &[String], width: usize) -> String {
    const PREFIX: &str = "usage: ";
    let one_line = format!("{PREFIX}{prog} {}", parts.join(" "));
    if one_line.len() <= width {
        return one_line;
    }
    let lines = |parts: &[String], indent: usize, first: Option<usize>| {
        let mut lines: Vec<String> = Vec::new();
        let mut line: Vec<&str> = Vec::new();
        let mut length = first.unwrap_or(indent).saturating_sub(1);
        for part in parts {
            if length + 1 + part.len() > width && !line.is_empty() {
                lines.push(format!("{}{}", " ".repeat(indent), line.join(" ")));
                line.clear();
                length = indent.saturating_sub(1);
            }
            line.push(part);
            length += part.len() + 1;
        }
        if !line.is_empty() {
            lines.push(format!("{}{}", " ".repeat(indent), line.join(" ")));
        }
        if first.is_some() {
            if let Some(line) = lines.first_mut() {
                *line = line[indent..].to_owned();
            }
        }
        lines
    };
    let text = if (PREFIX.len() + prog.len()) as f64 <= 0.75 * width as f64 {
        let with_prog = [vec![prog.to_owned()], parts.to_vec()].concat();
        lines(
            &with_prog,
            PREFIX.len() + prog.len() + 1,
            Some(PREFIX.len()),
        )
        .join("\n")
    } else {
        let mut below = lines(parts, PREFIX.len(), None);
        below.insert(0, prog.to_owned());
        below.join("\n")
    };
    format!("{PREFIX}{text}")
}

/// `text` (its whitespace collapsed) in lines of at most `width`, broken as Python's textwrap
/// does: at spaces, and after a hyphen inside a word (`dh-` `gateway`).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let pieces = hyphenated(word);
        for (index, piece) in pieces.iter().enumerate() {
            let space = if index == 0 && !line.is_empty() {
                " "
            } else {
                ""
            };
            if !line.is_empty() && line.len() + space.len() + piece.len() > width {
                lines.push(std::mem::take(&mut line));
            } else {
                line += space;
            }
            line += piece;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `word` cut after each hyphen that has two letters before it and a letter after it.
fn hyphenated(word: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = word.char_indices().collect();
    let letter = |i: usize| chars.get(i).is_some_and(|(_, c)| c.is_alphabetic());
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, &(at, c)) in chars.iter().enumerate().skip(2) {
        if c == '-' && letter(i - 1) && letter(i - 2) && letter(i + 1) {
            let end = at + 1;
            pieces.push(&word[start..end]);
            start = end;
        }
    }
    pieces.push(&word[start..]);
    pieces
}

/// `--name METAVAR` (`{A,B}` for a choice), or `--name` for a switch.
fn invocation(flag: &Flag) -> String {
    match flag.kind {
        Kind::Switch => flag.name.to_owned(),
        Kind::Choice(choices) => format!("{} {{{}}}", flag.name, choices.join(",")),
        Kind::Text | Kind::Int => {
            let metavar = flag.name.trim_start_matches('-').replace('-', "_");
            format!("{} {}", flag.name, metavar.to_uppercase())
        }
    }
}

fn check(flag: &Flag, value: &str) -> Result<(), Stop> {
    let name = flag.name;
    match flag.kind {
        Kind::Int if value.trim().parse::<i64>().is_err() => Err(Stop::Usage(format!(
            "argument {name}: invalid int value: '{value}'"
        ))),
        Kind::Choice(choices) if !choices.contains(&value) => {
            let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
            Err(Stop::Usage(format!(
                "argument {name}: invalid choice: '{value}' (choose from {})",
                quoted.join(", ")
            )))
        }
        _ => Ok(()),
    }
}
