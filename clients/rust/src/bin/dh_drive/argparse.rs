//! A parser of flags that behaves (and prints its usage and help) as Python's argparse does
//! for the Python `dh-drive`, so that usage errors look alike in every language.

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

/// One flag: `--name`, how it takes its value, whether it must be given, its help.
#[derive(Debug)]
pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
    pub help: &'static str,
}

/// An optional flag.
pub const fn flag(name: &'static str, kind: Kind, help: &'static str) -> Flag {
    Flag {
        name,
        kind,
        required: false,
        help,
    }
}

/// A command: its name in messages, what it does, and its flags in order.
#[derive(Debug)]
pub struct Spec {
    pub prog: &'static str,
    pub description: &'static str,
    pub flags: &'static [Flag],
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
    /// choices and the required flags as argparse does.
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

    /// The one-line usage: `usage: <prog> [-h] --task TASK [--addr ADDR] ...`.
    pub fn usage(&self) -> String {
        let mut usage = format!("usage: {} [-h]", self.prog);
        for flag in self.flags {
            let invocation = invocation(flag);
            if flag.required {
                usage += &format!(" {invocation}");
            } else {
                usage += &format!(" [{invocation}]");
            }
        }
        usage
    }

    /// The usage, the description and each flag with its help, laid out as argparse does.
    pub fn help(&self) -> String {
        let mut rows = vec![("-h, --help".to_owned(), "show this help message and exit")];
        rows.extend(self.flags.iter().map(|f| (invocation(f), f.help)));
        // Help starts two columns after the longest invocation, at most at column 24.
        let longest = rows.iter().map(|(i, _)| i.len() + 2).max().unwrap_or(0);
        let help_at = (longest + 2).min(24);
        let mut help = format!("{}\n\n{}\n\noptions:", self.usage(), self.description);
        for (invocation, text) in rows {
            help += &format!("\n  {invocation}");
            if text.is_empty() {
                continue;
            }
            if invocation.len() + 2 + 2 <= help_at {
                help += &" ".repeat(help_at - 2 - invocation.len());
            } else {
                help += &format!("\n{}", " ".repeat(help_at));
            }
            help += text;
        }
        help
    }
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
