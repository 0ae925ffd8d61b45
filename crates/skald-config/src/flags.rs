//! Loki's command line, so that a Loki container's arguments run unchanged
//! (`-config.file=/etc/loki/config.yaml -target=all -config.expand-env=true`), beside
//! Skald's own (`--config`, `--data-dir`, `--http-addr`).
//!
//! Parsing follows Go's `flag` package: `-name` and `--name` are the same; a value is
//! given as `-name=value` or `-name value`; a boolean flag alone means true and takes a
//! value only with `=`. Every key of Loki's configuration reference has a flag
//! (`-server.http-listen-port`, `-distributor.ingestion-rate-limit-mb`...): it sets
//! that key, over the config file, as in Loki.

use crate::schema::{KeySchema, Kind};
use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommandLine {
    /// `-config.file` (Loki allows a comma-separated list: the first that exists is used).
    pub config_files: Vec<PathBuf>,
    pub expand_env: bool,
    pub verify_config: bool,
    pub print_config_stderr: bool,
    pub log_config_reverse_order: bool,
    pub version: bool,
    pub help: bool,
    pub list_targets: bool,
    /// `-health`: ask a running server's `/ready` and exit 0 or 1 (Docker health checks).
    pub health: bool,
    pub health_url: Option<String>,
    /// Skald's `--http-addr` (over `server.http_listen_address` and port).
    pub http_addr: Option<String>,
    /// Skald's `--data-dir` (over `common.path_prefix`).
    pub data_dir: Option<PathBuf>,
    /// Config keys set by flags, in command-line order: (path, value as written).
    pub settings: Vec<(String, String)>,
}

/// A command line that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("flag provided but not defined: -{flag}{}", suggestion.as_ref().map(|s| format!(" (did you mean -{s}?)")).unwrap_or_default())]
    Unknown { flag: String, suggestion: Option<String> },
    #[error("flag needs an argument: -{0}")]
    MissingValue(String),
    #[error("invalid boolean value {value:?} for -{flag}")]
    NotBool { flag: String, value: String },
    #[error("unexpected argument {0:?} (flags start with '-')")]
    Positional(String),
}

/// Flags that are not config keys, and whether they are boolean.
const OWN_FLAGS: &[(&str, bool)] = &[
    ("config.file", false),
    ("config", false),
    ("config.expand-env", true),
    ("verify-config", true),
    ("print-config-stderr", true),
    ("log-config-reverse-order", true),
    ("version", true),
    ("help", true),
    ("h", true),
    ("list-targets", true),
    ("health", true),
    ("health.url", false),
    ("http-addr", false),
    ("data-dir", false),
];

/// Parses the arguments after the program (and `server`) name.
pub fn parse(args: &[String], schema: &KeySchema) -> Result<CommandLine, FlagError> {
    let mut line = CommandLine::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        // Compose files pass `""` as an argument (Loki's own production example does).
        if arg.is_empty() {
            continue;
        }
        if arg == "--" {
            if let Some(rest) = args.get(i) {
                return Err(FlagError::Positional(rest.clone()));
            }
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).filter(|f| !f.is_empty()) else {
            return Err(FlagError::Positional(arg.clone()));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag, None),
        };
        let boolean = match OWN_FLAGS.iter().find(|(own, _)| *own == name) {
            Some((_, boolean)) => *boolean,
            None => match schema.flag_path(name) {
                Some(path) => schema.key(path).is_some_and(|k| k.kind == Kind::Bool),
                None => return Err(FlagError::Unknown { flag: name.to_string(), suggestion: suggest(name, schema) }),
            },
        };
        let value = match (inline, boolean) {
            (Some(value), _) => value,
            (None, true) => "true".to_string(),
            (None, false) => {
                let Some(value) = args.get(i) else { return Err(FlagError::MissingValue(name.to_string())) };
                i += 1;
                value.clone()
            }
        };
        let as_bool = || parse_bool(&value).ok_or_else(|| FlagError::NotBool { flag: name.to_string(), value: value.clone() });
        match name {
            "config.file" | "config" => {
                line.config_files = value.split(',').map(str::trim).filter(|p| !p.is_empty()).map(PathBuf::from).collect()
            }
            "config.expand-env" => line.expand_env = as_bool()?,
            "verify-config" => line.verify_config = as_bool()?,
            "print-config-stderr" => line.print_config_stderr = as_bool()?,
            "log-config-reverse-order" => line.log_config_reverse_order = as_bool()?,
            "version" => line.version = as_bool()?,
            "help" | "h" => line.help = as_bool()?,
            "list-targets" => line.list_targets = as_bool()?,
            "health" => line.health = as_bool()?,
            "health.url" => line.health_url = Some(value),
            "http-addr" => line.http_addr = Some(value),
            "data-dir" => line.data_dir = Some(PathBuf::from(value)),
            _ => {
                let path = schema.flag_path(name).expect("checked above").to_string();
                if boolean {
                    as_bool()?;
                }
                line.settings.push((path, value));
            }
        }
    }
    Ok(line)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn suggest(name: &str, schema: &KeySchema) -> Option<String> {
    let limit = (name.len() / 4).max(2);
    schema
        .flags()
        .map(|(flag, _)| flag)
        .chain(OWN_FLAGS.iter().map(|(flag, _)| *flag))
        .map(|flag| (strsim::damerau_levenshtein(name, flag), flag))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, flag)| flag.to_string())
}

/// The text of `-help`.
pub fn usage() -> String {
    "Usage: skald [server] [flags]\n\
     \n\
     Runs the server. Loki's flags work as they do for Loki, so a Loki container's\n\
     arguments run unchanged: replace the `loki` binary with `skald`.\n\
     \n\
     \x20 -config.file=FILE          YAML configuration with Loki's keys (a comma-separated\n\
     \x20                            list: the first file that exists is read); also --config\n\
     \x20 -config.expand-env=true    expand ${VAR} and ${VAR:-default} in the file\n\
     \x20 -target=ROLES              all (default), read, write, backend, or a list of roles\n\
     \x20 -verify-config             check the configuration and exit\n\
     \x20 -print-config-stderr       print the effective configuration to stderr\n\
     \x20 -log-config-reverse-order  log the effective configuration at start\n\
     \x20 -list-targets              list the roles and exit\n\
     \x20 -version                   print the version and exit\n\
     \x20 -health [-health.url=URL]  ask a running server's /ready (exit 0 when ready)\n\
     \x20 -log.level, -log.format, -server.http-listen-port, ... and every other flag of\n\
     \x20 Loki's configuration reference: set that key over the file\n\
     \x20 --http-addr=HOST:PORT      Skald: the HTTP address (over server.http_listen_*)\n\
     \x20 --data-dir=DIR             Skald: the data directory (over common.path_prefix)\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(list: &[&str]) -> Result<CommandLine, FlagError> {
        parse(&args(list), KeySchema::get())
    }

    #[test]
    fn a_loki_container_command_line() {
        let line = run(&["-config.file=/etc/loki/config.yaml", "-target=all", "-config.expand-env=true", "-log.level", "debug"]).unwrap();
        assert_eq!(line.config_files, vec![PathBuf::from("/etc/loki/config.yaml")]);
        assert!(line.expand_env);
        assert_eq!(line.settings, vec![("target".into(), "all".into()), ("server.log_level".into(), "debug".into())]);
        let line =
            run(&["--config.file", "a.yaml,b.yaml", "-verify-config", "-server.http-listen-port=3200", "-print-config-stderr"]).unwrap();
        assert_eq!(line.config_files.len(), 2);
        assert!(line.verify_config && line.print_config_stderr);
        assert_eq!(line.settings, vec![("server.http_listen_port".into(), "3200".into())]);
    }

    #[test]
    fn skalds_own_flags_mix_in() {
        let line = run(&["--config", "c.yaml", "--data-dir", "/d", "--http-addr=127.0.0.1:1", "-auth.enabled=false"]).unwrap();
        assert_eq!(line.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(line.http_addr.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(line.settings, vec![("auth_enabled".into(), "false".into())]);
    }

    #[test]
    fn mistakes() {
        assert_eq!(
            run(&["-config.fil=x"]).unwrap_err().to_string(),
            "flag provided but not defined: -config.fil (did you mean -config.file?)"
        );
        assert_eq!(run(&["-target"]), Err(FlagError::MissingValue("target".into())));
        assert!(matches!(run(&["-verify-config=maybe"]), Err(FlagError::NotBool { .. })));
        assert!(matches!(run(&["-auth.enabled=yes"]), Err(FlagError::NotBool { .. })));
        assert_eq!(run(&["config.yaml"]), Err(FlagError::Positional("config.yaml".into())));
        assert_eq!(run(&["-target=all", "-config.file=/etc/loki/loki.yaml", ""]).unwrap().config_files.len(), 1);
    }
}
