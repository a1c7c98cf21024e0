//! Fault injection: misbehaviour the server applies to chosen operations before (or instead of)
//! answering normally, so clients can be tested against throttling, errors and broken transports.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Matches every operation in [`Faults`] calls.
pub const ANY: &str = "*";

/// One kind of misbehaviour. Error variants are rendered in the protocol and with the codes of
/// the service that owns the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error (AppFlow: 429 ThrottlingException).
    Throttle,
    /// Like `Throttle`, plus a `Retry-After: N` header.
    ThrottleRetryAfter(u64),
    /// 500 InternalServerException.
    ServerError,
    /// 403 AccessDeniedException.
    AccessDenied,
    /// 404 ResourceNotFoundException.
    NotFound,
    /// 200 with a body that is not valid JSON.
    Malformed,
    /// 200 whose `Content-Length` says more than is sent, then the connection closes.
    Truncated,
    /// Close the connection without any response.
    Drop,
    /// Wait this long, then answer normally.
    Hang(Duration),
}

/// Parses `Throttle`, `ThrottleRetryAfter:5`, `ServerError`, `AccessDenied`, `NotFound`,
/// `Malformed`, `Truncated`, `Drop` and `Hang:2s` (used by the binary's control endpoint).
impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Fault, String> {
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (s, None),
        };
        let fault = match (name, arg) {
            ("Throttle", None) => Fault::Throttle,
            ("ThrottleRetryAfter", Some(n)) => {
                Fault::ThrottleRetryAfter(n.parse().map_err(|_| format!("bad seconds {n:?}"))?)
            }
            ("ServerError", None) => Fault::ServerError,
            ("AccessDenied", None) => Fault::AccessDenied,
            ("NotFound", None) => Fault::NotFound,
            ("Malformed", None) => Fault::Malformed,
            ("Truncated", None) => Fault::Truncated,
            ("Drop", None) => Fault::Drop,
            ("Hang", Some(d)) => Fault::Hang(parse_duration(d)?),
            _ => return Err(format!("unknown fault {s:?}")),
        };
        Ok(fault)
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::ThrottleRetryAfter(n) => write!(f, "ThrottleRetryAfter:{n}"),
            Fault::Hang(d) => write!(f, "Hang:{}ms", d.as_millis()),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Parses `250ms`, `5s`, `2m`, `1h` or a bare number of seconds (fractions allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let scale = match unit {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("bad duration unit in {s:?}")),
    };
    number
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("bad duration {s:?}"))
}

#[derive(Clone, Debug)]
struct Injected {
    operation: String,
    fault: Fault,
    remaining: u32,
}

/// The faults and latencies currently configured. Counted injections are consumed first (oldest
/// first), then standing `always` faults apply.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    injected: Vec<Injected>,
    always: Vec<(String, Fault)>,
    latency: HashMap<String, Duration>,
}

fn matches(pattern: &str, operation: &str) -> bool {
    pattern == ANY || pattern == operation
}

impl Faults {
    /// Apply `fault` to the next `times` calls of `operation` ("ListFlows", ... or "*" for every operation).
    pub fn inject(&mut self, operation: &str, fault: Fault, times: u32) {
        if times > 0 {
            self.injected.push(Injected {
                operation: operation.to_owned(),
                fault,
                remaining: times,
            });
        }
    }

    /// Apply `fault` to every call of `operation` until cleared.
    pub fn always(&mut self, operation: &str, fault: Fault) {
        self.always.push((operation.to_owned(), fault));
    }

    /// Extra latency added to every call of `operation` ("*" = all). A per-operation latency
    /// replaces the "*" one; `Duration::ZERO` removes the setting.
    pub fn set_latency(&mut self, operation: &str, latency: std::time::Duration) {
        if latency.is_zero() {
            self.latency.remove(operation);
        } else {
            self.latency.insert(operation.to_owned(), latency);
        }
    }

    /// Removes every fault and latency.
    pub fn clear(&mut self) {
        *self = Faults::default();
    }

    /// How many counted injections are still waiting for `operation` (including "*" ones).
    pub fn pending(&self, operation: &str) -> u32 {
        self.injected
            .iter()
            .filter(|i| matches(&i.operation, operation))
            .map(|i| i.remaining)
            .sum()
    }

    /// The fault for one call of `operation`, consuming one counted injection if any applies.
    pub(crate) fn take(&mut self, operation: &str) -> Option<Fault> {
        if let Some(pos) = self
            .injected
            .iter()
            .position(|i| matches(&i.operation, operation))
        {
            let entry = &mut self.injected[pos];
            entry.remaining -= 1;
            let fault = entry.fault.clone();
            if entry.remaining == 0 {
                self.injected.remove(pos);
            }
            return Some(fault);
        }
        self.always
            .iter()
            .find(|(op, _)| matches(op, operation))
            .map(|(_, fault)| fault.clone())
    }

    /// The extra latency for one call of `operation`.
    pub(crate) fn latency(&self, operation: &str) -> Duration {
        self.latency
            .get(operation)
            .or_else(|| self.latency.get(ANY))
            .copied()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_faults_are_consumed_in_order_then_always_applies() {
        let mut faults = Faults::default();
        faults.always("ListFlows", Fault::ServerError);
        faults.inject("ListFlows", Fault::Throttle, 2);
        faults.inject("*", Fault::Drop, 1);
        assert_eq!(faults.pending("ListFlows"), 3);
        assert_eq!(faults.pending("DescribeFlow"), 1);
        assert_eq!(faults.take("DescribeFlow"), Some(Fault::Drop));
        assert_eq!(faults.take("DescribeFlow"), None);
        assert_eq!(faults.take("ListFlows"), Some(Fault::Throttle));
        assert_eq!(faults.take("ListFlows"), Some(Fault::Throttle));
        assert_eq!(faults.take("ListFlows"), Some(Fault::ServerError));
        assert_eq!(faults.take("ListFlows"), Some(Fault::ServerError));
        faults.clear();
        assert_eq!(faults.take("ListFlows"), None);
    }

    #[test]
    fn specific_latency_overrides_wildcard() {
        let mut faults = Faults::default();
        faults.set_latency("*", Duration::from_millis(10));
        faults.set_latency("ListFlows", Duration::from_millis(30));
        assert_eq!(faults.latency("ListFlows"), Duration::from_millis(30));
        assert_eq!(faults.latency("DescribeFlow"), Duration::from_millis(10));
        faults.set_latency("*", Duration::ZERO);
        assert_eq!(faults.latency("DescribeFlow"), Duration::ZERO);
    }

    #[test]
    fn faults_parse_and_display() {
        for text in ["Throttle", "ThrottleRetryAfter:7", "Drop", "Hang:1500ms"] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
        assert_eq!("Hang:2s".parse(), Ok(Fault::Hang(Duration::from_secs(2))));
        assert!("Hang".parse::<Fault>().is_err());
        assert!("Explode".parse::<Fault>().is_err());
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
