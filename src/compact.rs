//! Values a remembered flow holds, in less room: optional numbers in the space of the
//! number (an `Option<f64>` or `Option<i64>` takes 16 bytes), execution ids that are UUIDs
//! in their 16 bytes (as text, 36 bytes on the heap behind a 16-byte pointer). At 100
//! targets of 100 flows each is held by the ten thousand. They read, compare and save as
//! what they replace.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};

/// An `Option<f64>` in 8 bytes: NaN is none. AWS's numbers come as JSON, which has no NaN,
/// so no value is lost; a NaN given to [`OptF64::from`] reads back as none.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(from = "Option<f64>", into = "Option<f64>")]
pub struct OptF64(f64);

impl OptF64 {
    pub const NONE: OptF64 = OptF64(f64::NAN);

    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl Default for OptF64 {
    fn default() -> Self {
        OptF64::NONE
    }
}

impl From<Option<f64>> for OptF64 {
    fn from(value: Option<f64>) -> Self {
        OptF64(value.unwrap_or(f64::NAN))
    }
}

impl From<OptF64> for Option<f64> {
    fn from(value: OptF64) -> Self {
        value.get()
    }
}

impl PartialEq for OptF64 {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for OptF64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// An `Option<i64>` in 8 bytes: `i64::MIN` is none. The fields held this way (bytes,
/// records, page sizes, parallel processes) are counts, which AWS never gives as
/// -9,223,372,036,854,775,808; if it did, the value would read back as none.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Option<i64>", into = "Option<i64>")]
pub struct OptI64(i64);

impl OptI64 {
    pub fn get(self) -> Option<i64> {
        (self.0 != i64::MIN).then_some(self.0)
    }
}

impl Default for OptI64 {
    fn default() -> Self {
        OptI64(i64::MIN)
    }
}

impl From<Option<i64>> for OptI64 {
    fn from(value: Option<i64>) -> Self {
        OptI64(value.unwrap_or(i64::MIN))
    }
}

impl From<OptI64> for Option<i64> {
    fn from(value: OptI64) -> Self {
        value.get()
    }
}

impl std::fmt::Debug for OptI64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

/// An execution id: a UUID written as AWS writes them (lowercase, 8-4-4-4-12) as its 16
/// bytes, any other id as its text. Compares, prints and serializes as the text.
#[derive(Clone, PartialEq, Eq)]
pub enum ExecId {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl ExecId {
    pub fn new(text: &str) -> ExecId {
        match uuid_bytes(text) {
            Some(bytes) => ExecId::Uuid(bytes),
            None => ExecId::Text(text.into()),
        }
    }

    /// Calls `f` with the id's text (written on the stack for a UUID).
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            ExecId::Uuid(bytes) => {
                let text = uuid_text(*bytes);
                // Hex digits and dashes only.
                f(std::str::from_utf8(&text).unwrap_or_default())
            }
            ExecId::Text(text) => f(text),
        }
    }
}

/// The 16 bytes of `id` if it is a UUID written as AWS writes them
/// (lowercase, 8-4-4-4-12), so that it reads back as the same text.
pub fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let text = id.as_bytes();
    if text.len() != 36 || [8, 13, 18, 23].iter().any(|&i| text[i] != b'-') {
        return None;
    }
    let mut digits = text.iter().filter(|c| **c != b'-').map(|c| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    });
    let mut bytes = [0u8; 16];
    for byte in &mut bytes {
        *byte = (digits.next()?? << 4) | digits.next()??;
    }
    Some(bytes)
}

/// The text of a UUID's 16 bytes: lowercase, 8-4-4-4-12.
pub fn uuid_text(bytes: [u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'-'; 36];
    let mut at = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            at += 1;
        }
        text[at] = HEX[usize::from(byte >> 4)];
        text[at + 1] = HEX[usize::from(byte & 15)];
        at += 2;
    }
    text
}

/// As the texts compare: two UUIDs' bytes compare as their lowercase hex does.
impl Ord for ExecId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (ExecId::Uuid(a), ExecId::Uuid(b)) => a.cmp(b),
            (ExecId::Text(a), ExecId::Text(b)) => a.cmp(b),
            _ => self.with_text(|a| other.with_text(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for ExecId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for ExecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| fmt::Debug::fmt(text, f))
    }
}

impl fmt::Display for ExecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|text| f.write_str(text))
    }
}

impl From<&str> for ExecId {
    fn from(text: &str) -> ExecId {
        ExecId::new(text)
    }
}

impl Serialize for ExecId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.with_text(|text| s.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for ExecId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ExecId, D::Error> {
        Ok(ExecId::new(&String::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids_read_back_and_order_as_their_text() {
        let ids = [
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
            "run-7",
            "",
            "00000000-0000-0000-0000-00000000000g",
        ];
        for a in ids {
            let id = ExecId::new(a);
            assert_eq!(id.to_string(), a);
            assert_eq!(serde_json::to_string(&id).unwrap(), format!("{a:?}"));
            for b in ids {
                assert_eq!(id.cmp(&ExecId::new(b)), a.cmp(b), "{a} {b}");
            }
        }
        assert!(matches!(ExecId::new(ids[0]), ExecId::Uuid(_)));
        assert!(matches!(ExecId::new(ids[3]), ExecId::Text(_)));
        assert_eq!(std::mem::size_of::<ExecId>(), 24);
    }

    #[test]
    fn read_back_as_the_option_they_hold() {
        for v in [
            None,
            Some(0.0),
            Some(-1.5),
            Some(1.7e9),
            Some(f64::INFINITY),
        ] {
            assert_eq!(OptF64::from(v).get(), v);
        }
        assert_eq!(OptF64::from(Some(f64::NAN)).get(), None);
        assert_eq!(OptF64::default().get(), None);
        for v in [None, Some(0), Some(-1), Some(i64::MAX), Some(i64::MIN + 1)] {
            assert_eq!(OptI64::from(v).get(), v);
        }
        assert_eq!(OptI64::default().get(), None);
        assert_eq!(std::mem::size_of::<OptF64>(), 8);
        assert_eq!(std::mem::size_of::<OptI64>(), 8);
    }

    #[test]
    fn serialize_as_options() {
        assert_eq!(serde_json::to_string(&OptF64::from(None)).unwrap(), "null");
        assert_eq!(
            serde_json::to_string(&OptF64::from(Some(2.5))).unwrap(),
            "2.5"
        );
        assert_eq!(serde_json::to_string(&OptI64::from(Some(7))).unwrap(), "7");
        let back: OptI64 = serde_json::from_str("null").unwrap();
        assert_eq!(back.get(), None);
        let back: OptF64 = serde_json::from_str("3").unwrap();
        assert_eq!(back.get(), Some(3.0));
    }
}
