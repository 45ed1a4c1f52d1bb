//! runc-compatible logging: `--log FILE`, `--log-format text|json`, `--debug`.
//!
//! containerd reads the last `"level":"error"` line of the JSON log to tell the user why a
//! runtime call failed, so the shape is logrus's: `{"level":"…","msg":"…","time":"RFC3339"}`.
//! Errors always reach stderr as well. Nothing is formatted unless it will be written.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("unable to open log file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid log format {0:?}: expected text or json")]
    Format(String),
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

struct Logger {
    file: Option<File>,
    json: bool,
    debug: bool,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once, at start-up. The log file is created even when nothing is logged:
/// containerd fails with "unable to retrieve OCI runtime error" when it is missing.
pub fn init(path: Option<&str>, format: &str, debug: bool) -> Result<(), LogError> {
    let json = match format {
        "text" | "" => false,
        "json" => true,
        other => return Err(LogError::Format(other.to_string())),
    };
    let file = match path {
        None | Some("") | Some("/dev/stderr") => None,
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .open(p)
                .map_err(|source| LogError::Open {
                    path: p.to_string(),
                    source,
                })?,
        ),
    };
    let _ = LOGGER.set(Logger { file, json, debug });
    Ok(())
}

pub fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.debug)
}

/// Writes one record. Errors also go to stderr when the log is a file, as runc does.
pub fn log(level: Level, msg: &str) {
    let Some(logger) = LOGGER.get() else {
        if level >= Level::Warn {
            eprintln!("{}", format_line(level, msg, false));
        }
        return;
    };
    if level == Level::Debug && !logger.debug {
        return;
    }
    let line = format_line(level, msg, logger.json);
    match &logger.file {
        Some(f) => {
            let mut f = f;
            let _ = f.write_all(line.as_bytes());
            let _ = f.write_all(b"\n");
            // runc: with a log file, stderr gets the bare message (what a user reads).
            if level == Level::Error {
                eprintln!("{msg}");
            }
        }
        None => eprintln!("{line}"),
    }
}

pub fn debug(msg: impl FnOnce() -> String) {
    if debug_enabled() {
        log(Level::Debug, &msg());
    }
}

/// Per-phase timings for `--debug`: where a command's milliseconds go. Without `--debug`
/// it holds nothing and `mark` is a branch.
///
/// `HAKO_TEST_CRASH_AFTER=PHASE` (a prefix of a phase name) makes hako SIGKILL itself right
/// after that phase: the crash-injection tests use it to prove a create killed anywhere
/// leaves nothing `delete` cannot remove.
pub struct Phases {
    last: Option<std::time::Instant>,
    crash_after: Option<String>,
}

impl Phases {
    pub fn start() -> Phases {
        Phases {
            last: debug_enabled().then(std::time::Instant::now),
            crash_after: std::env::var("HAKO_TEST_CRASH_AFTER").ok(),
        }
    }

    /// Logs the time since the previous mark (or the start) under `phase`.
    pub fn mark(&mut self, phase: &str) {
        if let Some(c) = &self.crash_after
            && phase.starts_with(c.as_str())
        {
            // SAFETY: raise(2) on ourselves; SIGKILL cannot be caught, hako ends here.
            unsafe { libc::raise(libc::SIGKILL) };
        }
        if let Some(last) = self.last {
            let now = std::time::Instant::now();
            log(
                Level::Debug,
                &format!("phase {phase}: {:.3} ms", (now - last).as_secs_f64() * 1e3),
            );
            self.last = Some(now);
        }
    }
}

pub fn warn(msg: &str) {
    log(Level::Warn, msg);
}

pub fn error(msg: &str) {
    log(Level::Error, msg);
}

fn format_line(level: Level, msg: &str, json: bool) -> String {
    let time = rfc3339_now();
    if json {
        let mut s = String::with_capacity(msg.len() + 64);
        s.push_str("{\"level\":\"");
        s.push_str(level.name());
        s.push_str("\",\"msg\":");
        s.push_str(&serde_json::Value::from(msg).to_string());
        s.push_str(",\"time\":\"");
        s.push_str(&time);
        s.push_str("\"}");
        s
    } else {
        format!(
            "time=\"{time}\" level={} msg={}",
            level.name(),
            serde_json::Value::from(msg)
        )
    }
}

/// The current UTC time in RFC 3339 with nanoseconds, like Go's time.RFC3339Nano.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let frac = if nanos == 0 {
        String::new()
    } else {
        let s = format!(".{nanos:09}");
        s.trim_end_matches('0').to_string()
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339(1_764_063_296, 120_000_000),
            "2025-11-25T09:34:56.12Z"
        );
    }

    #[test]
    fn json_line_is_logrus_shaped() {
        let line = format_line(Level::Error, "container \"x\" does not exist", true);
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid json");
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container \"x\" does not exist");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
}
