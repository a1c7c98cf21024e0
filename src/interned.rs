//! Text that many flows repeat (statuses, connector, trigger and workflow types): one copy
//! per distinct value in the process, shared by every flow, target and collection that
//! holds it. At 100 targets of 100 flows a string of its own per flow and field was some
//! 40,000 allocations of 32 bytes or more, held twice while a listing was being applied.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex};

/// The table holds at most this many values; beyond it (text that does not repeat, which
/// none of the interned fields should be) a value gets a copy of its own, so the table
/// cannot grow without bound.
const TABLE_LIMIT: usize = 4096;

static TABLE: LazyLock<Mutex<HashSet<Arc<str>>>> = LazyLock::new(Default::default);

/// A shared, immutable string: compares, hashes, orders, prints and serializes as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interned(Arc<str>);

impl Interned {
    pub fn new(text: &str) -> Interned {
        let mut table = crate::sync::lock(&TABLE);
        if let Some(found) = table.get(text) {
            return Interned(found.clone());
        }
        let value: Arc<str> = Arc::from(text);
        if table.len() < TABLE_LIMIT {
            table.insert(value.clone());
        }
        Interned(value)
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
        &*self.0 == other
    }
}

impl PartialEq<&str> for Interned {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Debug for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
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
    fn the_table_is_bounded() {
        for i in 0..TABLE_LIMIT + 10 {
            let _ = Interned::new(&format!("interned-bound-{i}"));
        }
        assert!(crate::sync::lock(&TABLE).len() <= TABLE_LIMIT);
        let late = format!("interned-bound-{}", TABLE_LIMIT + 5);
        assert_eq!(Interned::new(&late), late.as_str());
    }
}
