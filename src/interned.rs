//! Text that many flows repeat (statuses, connector, trigger and workflow types): one copy
//! per distinct value in the process, shared by every flow, target and collection that
//! holds it. At 100 targets of 100 flows a string of its own per flow and field was some
//! 40,000 allocations of 32 bytes or more, held twice while a listing was being applied.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};

/// The table holds at most this many values; beyond it (text that does not repeat, which
/// none of the interned fields should be) a value gets a copy of its own, so the table
/// cannot grow without bound.
const TABLE_LIMIT: usize = 4096;

static TABLE: LazyLock<Mutex<HashSet<Interned>>> = LazyLock::new(Default::default);

/// A shared, immutable string: compares, hashes, orders, prints and serializes as its text.
/// A thin pointer (8 bytes, and 8 as an `Option`), where an `Arc<str>` takes 16: a flow
/// holds up to seven of them.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interned(Arc<Box<str>>);

impl Interned {
    pub fn new(text: &str) -> Interned {
        Interned::in_table(&TABLE, text)
    }

    fn in_table(table: &Mutex<HashSet<Interned>>, text: &str) -> Interned {
        let mut table = crate::sync::lock(table);
        if let Some(found) = table.get(text) {
            return found.clone();
        }
        let value = Interned(Arc::new(Box::from(text)));
        if table.len() < TABLE_LIMIT {
            table.insert(value.clone());
        }
        value
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Interned {
    fn default() -> Interned {
        Interned::new("")
    }
}

impl Deref for Interned {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Interned {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Interned {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Interned {
    fn from(text: &str) -> Interned {
        Interned::new(text)
    }
}

impl From<String> for Interned {
    fn from(text: String) -> Interned {
        Interned::new(&text)
    }
}

impl From<&String> for Interned {
    fn from(text: &String) -> Interned {
        Interned::new(text)
    }
}

impl PartialEq<str> for Interned {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Interned {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Interned {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Interned {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Interned, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Interned;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Interned, E> {
                Ok(Interned::new(text))
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// Text held by the hundred thousand (an execution status in every remembered execution) as
/// one byte: an index into a process-wide table of up to [`CODES`] values, given out in the
/// order first met. Statuses are a handful; should an endpoint send more distinct values than
/// that, the later ones share the last code and read back as [`OVERFLOW`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Code(u8);

/// How many distinct values codes can tell apart (code 0 is "none").
const CODES: usize = 255;

/// What every value beyond the first [`CODES`] - 1 reads back as.
pub const OVERFLOW: &str = "UNKNOWN";

/// Codes' texts: slot `i` holds the text of code `i + 1`; slots are filled in order, once.
struct CodeTable {
    slots: [OnceLock<Interned>; CODES],
    adding: Mutex<()>,
}

static CODE_TABLE: CodeTable = CodeTable::new();

impl CodeTable {
    const fn new() -> CodeTable {
        CodeTable {
            slots: [const { OnceLock::new() }; CODES],
            adding: Mutex::new(()),
        }
    }

    fn code(&self, text: Option<&str>) -> Code {
        let Some(text) = text else {
            return Code(0);
        };
        if let Some(code) = self.find(text) {
            return code;
        }
        let _adding = crate::sync::lock(&self.adding);
        if let Some(code) = self.find(text) {
            return code;
        }
        match self.slots.iter().position(|s| s.get().is_none()) {
            Some(i) if i < CODES - 1 => {
                let _ = self.slots[i].set(Interned::new(text));
                Code(i as u8 + 1)
            }
            _ => {
                let _ = self.slots[CODES - 1].set(Interned::new(OVERFLOW));
                Code(CODES as u8)
            }
        }
    }

    fn find(&self, text: &str) -> Option<Code> {
        self.slots
            .iter()
            .map_while(OnceLock::get)
            .position(|v| v.as_str() == text)
            .map(|i| Code(i as u8 + 1))
    }

    fn text(&self, code: Code) -> Option<&str> {
        let i = usize::from(code.0.checked_sub(1)?);
        self.slots[i].get().map(Interned::as_str)
    }
}

impl Code {
    pub fn new(text: Option<&str>) -> Code {
        CODE_TABLE.code(text)
    }

    pub fn as_str(self) -> Option<&'static str> {
        CODE_TABLE.text(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_allocation() {
        let a = Interned::new("Salesforce");
        let b = Interned::from(String::from("Salesforce"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "Salesforce");
        assert_eq!(format!("{a} {a:?}"), "Salesforce \"Salesforce\"");
        assert_eq!(std::mem::size_of::<Option<Interned>>(), 8);
    }

    #[test]
    fn serializes_as_its_text() {
        let a = Interned::new("Scheduled");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"Scheduled\"");
        let back: Interned = serde_json::from_str(&json).unwrap();
        assert!(Arc::ptr_eq(&a.0, &back.0));
        assert!(serde_json::from_str::<Interned>("3").is_err());
    }

    #[test]
    fn codes_read_back_their_text() {
        let a = Code::new(Some("SUCCEEDED"));
        assert_eq!(a, Code::new(Some("SUCCEEDED")));
        assert_ne!(a, Code::new(Some("FAILED")));
        assert_eq!(a.as_str(), Some("SUCCEEDED"));
        assert_eq!(Code::new(None), Code::default());
        assert_eq!(Code::new(None).as_str(), None);
        assert_eq!(std::mem::size_of::<Code>(), 1);
    }

    #[test]
    fn codes_beyond_the_table_read_back_as_overflow() {
        let table = CodeTable::new();
        for i in 0..CODES + 5 {
            let text = format!("code-bound-{i}");
            let code = table.code(Some(&text));
            let expected = if i < CODES - 1 {
                text.as_str()
            } else {
                OVERFLOW
            };
            assert_eq!(table.text(code), Some(expected));
        }
        assert_eq!(table.code(Some("code-bound-0")), Code(1));
    }

    #[test]
    fn the_table_is_bounded() {
        let table = Mutex::default();
        for i in 0..TABLE_LIMIT + 10 {
            let _ = Interned::in_table(&table, &format!("interned-bound-{i}"));
        }
        assert_eq!(crate::sync::lock(&table).len(), TABLE_LIMIT);
        let late = format!("interned-bound-{}", TABLE_LIMIT + 5);
        assert_eq!(Interned::in_table(&table, &late), late.as_str());
    }
}
