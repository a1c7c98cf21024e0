//! [`ConfigError`]: why a configuration could not be loaded, with the path of the
//! field and the line where the parser found it.

use std::path::PathBuf;

use serde_path_to_error::Segment;

/// Where in the text an error was found (both 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Location {
    /// Line number, from 1.
    pub line: usize,
    /// Column number, from 1.
    pub column: usize,
}

/// Why a configuration could not be loaded. Displays on one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read: `cannot read <path>: <error>`.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong (already part of the message, so not reported as `source`).
        error: std::io::Error,
    },
    /// The text is not valid YAML or not a valid configuration:
    /// `<path>: <message> (line L, column C)`, the path and the location when known.
    #[error("{}", render_invalid(.path.as_deref(), .message, .location.as_ref()))]
    Invalid {
        /// Path of the offending field, like `targets[0].services.appflow.include[1]`;
        /// `None` when the error concerns the whole document (e.g. YAML syntax).
        path: Option<String>,
        /// What is wrong, without path or location.
        message: String,
        /// Where the parser found the error, when it knows.
        location: Option<Location>,
    },
}

fn render_invalid(path: Option<&str>, message: &str, location: Option<&Location>) -> String {
    let mut out = String::new();
    if let Some(path) = path {
        out.push_str(path);
        out.push_str(": ");
    }
    out.push_str(message);
    if let Some(location) = location {
        out.push_str(&format!(
            " (line {}, column {})",
            location.line, location.column
        ));
    }
    out
}

impl ConfigError {
    /// Path of the offending field, when known.
    pub fn field_path(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { path, .. } => path.as_deref(),
            ConfigError::Read { .. } => None,
        }
    }

    /// Where in the text the error was found, when known.
    pub fn location(&self) -> Option<Location> {
        match self {
            ConfigError::Invalid { location, .. } => *location,
            ConfigError::Read { .. } => None,
        }
    }

    /// An error found after deserialization: a path but no location.
    pub(super) fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: Some(path.into()),
            message: message.into(),
            location: None,
        }
    }

    /// Converts a deserialization error, keeping the path of `serde_path_to_error` and
    /// the location of `serde_yaml_ng`, and stripping both from the YAML message (which
    /// embeds its own `path: ` prefix and ` at line L column C`).
    ///
    /// For an unknown key, the path ends with that key (`collection.intervall`). A
    /// trailing key that could not be read as a string (`?`) is dropped.
    pub(super) fn from_yaml(err: serde_path_to_error::Error<serde_yaml_ng::Error>) -> Self {
        let mut segments: Vec<Segment> = err.path().iter().cloned().collect();
        let inner = err.into_inner();
        let location = inner.location().map(|loc| Location {
            line: loc.line(),
            column: loc.column(),
        });
        let mut message = inner.to_string();
        if let Some(loc) = location {
            let at = format!(" at line {} column {}", loc.line, loc.column);
            if let Some(stripped) = message.strip_suffix(&at) {
                message = stripped.to_owned();
            } else {
                message = message.replacen(&at, "", 1);
            }
        }
        // serde_yaml_ng prefixes custom messages with its own path to the value, which
        // is the path we know or one of its ancestors.
        for len in (1..=segments.len()).rev() {
            let prefix = format_path(&segments[..len]);
            if let Some(stripped) = message
                .strip_prefix(prefix.as_str())
                .and_then(|rest| rest.strip_prefix(": "))
            {
                message = stripped.to_owned();
                break;
            }
        }
        while matches!(segments.last(), Some(Segment::Unknown)) {
            segments.pop();
        }
        ConfigError::Invalid {
            path: (!segments.is_empty()).then(|| format_path(&segments)),
            message,
            location,
        }
    }
}

/// Formats path segments as `a.b[0].c`.
fn format_path(segments: &[Segment]) -> String {
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 && !matches!(segment, Segment::Seq { .. }) {
            out.push('.');
        }
        out.push_str(&segment.to_string());
    }
    out
}
