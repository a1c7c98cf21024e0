//! `--storage.path DIR`: the collectors' state kept on disk, so that a
//! restart loses no run and counts none twice (metrics.md, "Restarts (v3)").
//!
//! One file per (target, service), `<service>-<16 hex>.json`, the hex being
//! the FNV-1a hash of the target's identity (region, role_arn, labels) and
//! the service. A file is JSON:
//!
//! ```json
//! {"format_version":1,"service":"appflow",
//!  "target":{"region":"us-east-1","role_arn":null,"labels":{"env":"prod"}},
//!  "shard":"0/3","saved_at":1700000000.5,"state":{...the collector's...}}
//! ```
//!
//! A save is atomic: a temporary file in DIR, written, fsynced, renamed over
//! the old one, then DIR fsynced; a `kill -9` at any instant leaves the old
//! state or the new one. DIR holds an exclusive lock (`DIR/.lock`, flock)
//! for the life of the process: two exporters never share it.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::shard::fnv1a;

/// The version of the file format this exporter writes and reads. A file
/// with another one is set aside, and its service starts with a baseline.
pub const FORMAT_VERSION: u64 = 1;

/// The lock file inside DIR.
const LOCK_FILE: &str = ".lock";
/// Temporary files of saves in progress: `.state-XXXXXX.tmp`; a crash can
/// leave one behind, and the next start removes it.
const TMP_PREFIX: &str = ".state-";
const TMP_SUFFIX: &str = ".tmp";

/// What a target is, for its state: a state saved for another one is not used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetIdentity {
    pub region: String,
    pub role_arn: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// Why DIR cannot be used at start (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("--storage.path {dir}: cannot create the directory: {source}")]
    Create { dir: PathBuf, source: io::Error },
    #[error("--storage.path {dir}: the directory is not writable: {source}")]
    NotWritable { dir: PathBuf, source: io::Error },
    #[error(
        "--storage.path {dir}: the directory is locked by another exporter \
         (two exporters must not share one state directory)"
    )]
    Locked { dir: PathBuf },
    #[error("--storage.path {dir}: cannot lock {lock}: {source}")]
    Lock {
        dir: PathBuf,
        lock: PathBuf,
        source: io::Error,
    },
}

/// DIR, locked for this process.
pub struct Storage {
    dir: PathBuf,
    /// `--shard` as written (`I/N`), or None.
    shard: Option<String>,
    /// Holds the flock until the process ends.
    _lock: File,
}

impl Storage {
    /// Creates DIR if needed, checks that it is writable, takes its lock and
    /// removes the temporary files a crash left behind.
    pub fn open(dir: &Path, shard: Option<String>) -> Result<Storage, OpenError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenError::Create {
            dir: dir.to_path_buf(),
            source,
        })?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| OpenError::NotWritable {
                dir: dir.to_path_buf(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(OpenError::Locked {
                    dir: dir.to_path_buf(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(OpenError::Lock {
                    dir: dir.to_path_buf(),
                    lock: lock_path,
                    source,
                })
            }
        }
        // The lock file may pre-date a read-only remount: prove a file can be made.
        tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .suffix(TMP_SUFFIX)
            .tempfile_in(dir)
            .map_err(|source| OpenError::NotWritable {
                dir: dir.to_path_buf(),
                source,
            })?;
        let storage = Storage {
            dir: dir.to_path_buf(),
            shard,
            _lock: lock,
        };
        storage.remove_leftovers();
        Ok(storage)
    }

    fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Where the state of `service` in the target `identity` lives.
    pub fn slot(self: &Arc<Self>, identity: TargetIdentity, service: &'static str) -> Slot {
        let path = self.dir.join(file_name(&identity, service));
        Slot {
            storage: self.clone(),
            path,
            identity,
            service,
        }
    }
}

/// `<service>-<16 hex>.json`: FNV-1a of the identity and the service, the
/// same in every build and process.
pub fn file_name(identity: &TargetIdentity, service: &str) -> String {
    let key = serde_json::to_vec(&(identity, service)).expect("an identity serializes");
    format!("{service}-{:016x}.json", fnv1a(&key))
}

/// The file of one (target, service).
#[derive(Clone)]
pub struct Slot {
    storage: Arc<Storage>,
    path: PathBuf,
    identity: TargetIdentity,
    service: &'static str,
}

/// What was found at start.
#[derive(Debug)]
pub enum Loaded {
    /// No file: a first start.
    Missing,
    /// A file for this target, shard and service.
    Found(SavedState),
    /// A file that cannot be used, and why.
    Bad(String),
}

/// A usable saved state.
#[derive(Debug)]
pub struct SavedState {
    pub saved_at: f64,
    /// The collector's state, JSON.
    pub state: Box<RawValue>,
    /// Size of the file.
    pub bytes: u64,
}

/// The head of a file: what is checked before the state is used.
#[derive(Serialize, Deserialize)]
struct Header<S> {
    format_version: u64,
    service: String,
    target: TargetIdentity,
    shard: Option<String>,
    saved_at: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<S>,
}

#[derive(Deserialize)]
struct Version {
    format_version: Option<serde_json::Value>,
}

impl Slot {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and checks the file.
    pub fn load(&self) -> Loaded {
        let text = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Missing,
            Err(e) => return Loaded::Bad(format!("cannot read it: {e}")),
        };
        match self.check(&text) {
            Ok((saved_at, state)) => Loaded::Found(SavedState {
                saved_at,
                state,
                bytes: text.len() as u64,
            }),
            Err(why) => Loaded::Bad(why),
        }
    }

    fn check(&self, text: &[u8]) -> Result<(f64, Box<RawValue>), String> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Err("the file is empty".into());
        }
        let text = std::str::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))?;
        let version: Version =
            serde_json::from_str(text).map_err(|e| format!("not a state file: {e}"))?;
        match version.format_version {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(format!(
                    "format_version {other}: this exporter reads format_version {FORMAT_VERSION}"
                ))
            }
            None => return Err("no format_version: not a state file".into()),
        }
        let header: Header<Box<RawValue>> =
            serde_json::from_str(text).map_err(|e| format!("not a state file: {e}"))?;
        if header.service != self.service {
            return Err(format!(
                "written for service {:?}, not {:?}",
                header.service, self.service
            ));
        }
        if header.target != self.identity {
            return Err(format!(
                "written for another target ({}), this one is {}",
                describe(&header.target),
                describe(&self.identity)
            ));
        }
        if header.shard != self.storage.shard {
            let shard = |s: &Option<String>| s.clone().unwrap_or_else(|| "none".into());
            return Err(format!(
                "written for --shard {}, this exporter runs with --shard {}",
                shard(&header.shard),
                shard(&self.storage.shard)
            ));
        }
        if !header.saved_at.is_finite() {
            return Err("saved_at is not a time".into());
        }
        let state = header.state.ok_or("no state")?;
        Ok((header.saved_at, state))
    }

    /// Logs why the file cannot be used (one ERROR) and renames it aside with
    /// a `.bad` suffix; it is never deleted.
    pub fn set_aside(&self, why: &str) {
        let aside = self.aside_path();
        match std::fs::rename(&self.path, &aside) {
            Ok(()) => tracing::error!(
                file = %self.path.display(),
                kept_as = %aside.display(),
                reason = why,
                "unusable saved state: starting this service with a baseline"
            ),
            Err(e) => tracing::error!(
                file = %self.path.display(),
                reason = why,
                rename_error = %e,
                "unusable saved state, and it cannot be set aside: starting this service with a baseline"
            ),
        }
    }

    /// `<file>.bad`, or `<file>.<n>.bad` when that is taken: an older bad
    /// file is never overwritten.
    fn aside_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let first = self.path.with_file_name(format!("{name}.bad"));
        if !first.exists() {
            return first;
        }
        (1..)
            .map(|n| self.path.with_file_name(format!("{name}.{n}.bad")))
            .find(|p| !p.exists())
            .expect("some name is free")
    }

    /// Saves `state` (the collector's state, JSON) atomically; returns the
    /// size of the file.
    pub fn save(&self, state: &[u8], saved_at: f64) -> io::Result<u64> {
        let header = Header::<()> {
            format_version: FORMAT_VERSION,
            service: self.service.to_string(),
            target: self.identity.clone(),
            shard: self.storage.shard.clone(),
            saved_at,
            state: None,
        };
        let mut head = serde_json::to_vec(&header)?;
        // `{...}` -> `{...,"state":<state>}`.
        head.pop();
        head.extend_from_slice(b",\"state\":");
        let dir = &self.storage.dir;
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .suffix(TMP_SUFFIX)
            .tempfile_in(dir)?;
        {
            let mut out = io::BufWriter::new(tmp.as_file_mut());
            out.write_all(&head)?;
            out.write_all(state)?;
            out.write_all(b"}\n")?;
            out.flush()?;
        }
        tmp.as_file().sync_all()?;
        let bytes = tmp.as_file().metadata()?.len();
        tmp.persist(&self.path).map_err(|e| e.error)?;
        File::open(dir)?.sync_all()?;
        Ok(bytes)
    }
}

fn describe(t: &TargetIdentity) -> String {
    let mut s = format!("region {}", t.region);
    if let Some(role) = &t.role_arn {
        s.push_str(&format!(", role_arn {role}"));
    }
    if !t.labels.is_empty() {
        let labels: Vec<String> = t.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push_str(&format!(", labels {}", labels.join(",")));
    }
    s
}

/// A collector's state as JSON.
pub fn to_json<T: Serialize>(state: &T) -> Result<Vec<u8>, String> {
    serde_json::to_vec(state).map_err(|e| e.to_string())
}

/// A collector's state from JSON; the error says where it went wrong.
pub fn from_json<T: serde::de::DeserializeOwned>(state: &str) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_str(state);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| format!("state.{}: {}", e.path(), e.inner()))?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// `#[serde(with = "crate::state::pairs")]`: a map whose keys are not strings
/// (tuples), as a JSON array of `[key, value]`.
pub mod pairs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<'a, M, K, V, S>(map: &'a M, serializer: S) -> Result<S::Ok, S::Error>
    where
        &'a M: IntoIterator<Item = (&'a K, &'a V)>,
        K: Serialize + 'a,
        V: Serialize + 'a,
        S: Serializer,
    {
        serializer.collect_seq(map)
    }

    pub fn deserialize<'de, M, K, V, D>(deserializer: D) -> Result<M, D::Error>
    where
        M: FromIterator<(K, V)>,
        K: Deserialize<'de>,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        let pairs = Vec::<(K, V)>::deserialize(deserializer)?;
        Ok(pairs.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> TargetIdentity {
        TargetIdentity {
            region: "us-east-1".into(),
            role_arn: None,
            labels: [("env".to_string(), "prod".to_string())].into(),
        }
    }

    fn storage(dir: &Path, shard: Option<&str>) -> Arc<Storage> {
        Arc::new(Storage::open(dir, shard.map(str::to_string)).unwrap())
    }

    #[test]
    fn file_names_are_stable_and_distinct() {
        let a = file_name(&identity(), "appflow");
        assert_eq!(a, file_name(&identity(), "appflow"));
        assert!(a.starts_with("appflow-") && a.ends_with(".json") && a.len() == 8 + 16 + 5);
        assert_ne!(
            a,
            file_name(&identity(), "transfer").replace("transfer", "appflow")
        );
        let mut other = identity();
        other.labels.insert("env".into(), "dev".into());
        assert_ne!(a, file_name(&other, "appflow"));
        other = identity();
        other.role_arn = Some("arn:aws:iam::1:role/r".into());
        assert_ne!(a, file_name(&other, "appflow"));
        // Pinned: a change of the name would orphan every saved state.
        assert_eq!(
            file_name(
                &TargetIdentity {
                    region: "us-east-1".into(),
                    role_arn: None,
                    labels: BTreeMap::new()
                },
                "appflow"
            ),
            "appflow-902ff354ba0f3902.json"
        );
    }

    #[test]
    fn a_saved_state_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let slot = storage(dir.path(), Some("0/2")).slot(identity(), "appflow");
        assert!(matches!(slot.load(), Loaded::Missing));
        let bytes = slot
            .save(br#"{"baselined":true,"n":[1,2]}"#, 1234.5)
            .unwrap();
        let text = std::fs::read_to_string(slot.path()).unwrap();
        assert_eq!(bytes, text.len() as u64);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["format_version"], 1);
        assert_eq!(value["service"], "appflow");
        assert_eq!(value["shard"], "0/2");
        assert_eq!(value["target"]["labels"]["env"], "prod");
        assert_eq!(value["state"]["n"][1], 2);
        match slot.load() {
            Loaded::Found(saved) => {
                assert_eq!(saved.saved_at, 1234.5);
                assert_eq!(saved.state.get(), r#"{"baselined":true,"n":[1,2]}"#);
                assert_eq!(saved.bytes, bytes);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_save_replaces_the_old_state_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let slot = storage(dir.path(), None).slot(identity(), "transfer");
        slot.save(b"{\"v\":1}", 1.0).unwrap();
        slot.save(b"{\"v\":2}", 2.0).unwrap();
        let Loaded::Found(saved) = slot.load() else {
            panic!()
        };
        assert_eq!((saved.saved_at, saved.state.get()), (2.0, "{\"v\":2}"));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![".lock".to_string(), file_name(&identity(), "transfer")]
        );
    }

    #[test]
    fn leftover_temporary_files_are_removed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".state-abc.tmp"), "half").unwrap();
        std::fs::write(dir.path().join("keep.json.bad"), "bad").unwrap();
        let _storage = storage(dir.path(), None);
        assert!(!dir.path().join(".state-abc.tmp").exists());
        assert!(dir.path().join("keep.json.bad").exists());
    }

    fn bad(slot: &Slot) -> String {
        match slot.load() {
            Loaded::Bad(why) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unusable_files_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let store = storage(dir.path(), None);
        let slot = store.slot(identity(), "appflow");
        slot.save(b"{\"v\":1}", 1.0).unwrap();
        let good = std::fs::read_to_string(slot.path()).unwrap();

        std::fs::write(slot.path(), "").unwrap();
        assert!(bad(&slot).contains("empty"));
        std::fs::write(slot.path(), &good[..good.len() / 2]).unwrap();
        assert!(bad(&slot).contains("EOF"), "{}", bad(&slot));
        std::fs::write(slot.path(), b"\xff\xfe garbage").unwrap();
        assert!(bad(&slot).contains("UTF-8"));
        std::fs::write(slot.path(), "[1,2,3]").unwrap();
        assert!(bad(&slot).contains("not a state file"));
        std::fs::write(
            slot.path(),
            good.replace("\"format_version\":1", "\"format_version\":9"),
        )
        .unwrap();
        assert!(bad(&slot).contains("format_version 9"), "{}", bad(&slot));
        std::fs::write(slot.path(), good.replace("us-east-1", "eu-west-1")).unwrap();
        assert!(bad(&slot).contains("another target"), "{}", bad(&slot));
        std::fs::write(
            slot.path(),
            good.replace("\"shard\":null", "\"shard\":\"1/2\""),
        )
        .unwrap();
        assert!(bad(&slot).contains("--shard 1/2"), "{}", bad(&slot));
        std::fs::write(slot.path(), good.replace("\"appflow\"", "\"transfer\"")).unwrap();
        assert!(bad(&slot).contains("service"), "{}", bad(&slot));
    }

    #[test]
    fn a_bad_file_is_set_aside_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let slot = storage(dir.path(), None).slot(identity(), "appflow");
        std::fs::write(slot.path(), "first").unwrap();
        slot.set_aside("test");
        std::fs::write(slot.path(), "second").unwrap();
        slot.set_aside("test");
        assert!(!slot.path().exists());
        let name = file_name(&identity(), "appflow");
        let read = |n: String| std::fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(read(format!("{name}.bad")), "first");
        assert_eq!(read(format!("{name}.1.bad")), "second");
    }

    #[test]
    fn the_directory_is_locked_created_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let first = Storage::open(&nested, None).unwrap();
        assert!(matches!(
            Storage::open(&nested, None),
            Err(OpenError::Locked { .. })
        ));
        drop(first);
        Storage::open(&nested, None).expect("the lock goes with its holder");
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let error = Storage::open(&file.join("sub"), None).err().unwrap();
        assert!(matches!(error, OpenError::Create { .. }), "{error}");
    }

    #[test]
    fn json_errors_name_the_path() {
        #[derive(Deserialize, Debug)]
        struct S {
            #[allow(dead_code)]
            a: Vec<u64>,
        }
        let error = from_json::<S>(r#"{"a":[1,"x"]}"#).unwrap_err();
        assert!(error.starts_with("state.a[1]"), "{error}");
    }
}
