//! `--storage.path DIR`: the collectors' state kept on disk, so that a
//! restart loses no run and counts none twice (metrics.md, "Restarts (v3)").
//!
//! One file per (target, service), `<service>-<16 hex>.json`, the hex being
//! the FNV-1a hash of the target's identity (region, role_arn, labels) and
//! the service. A file (format version 2) is a line of JSON, the header, then
//! the collector's state, `state_bytes` long:
//!
//! ```text
//! {"format_version":2,"service":"appflow",
//!  "target":{"region":"us-east-1","role_arn":null,"labels":{"env":"prod"}},
//!  "shard":"0/3","saved_at":1700000000.5,"state_bytes":3301245,"state_crc32":2774137126}
//! ...the collector's state: JSON, or AppFlow's compact binary ([`pack`])...
//! ```
//!
//! The state is streamed to the file as the collector encodes it, never held
//! whole in memory; the header line, padded with spaces, is then written
//! again in place with the state's length and CRC-32.
//!
//! Version 1 (the first release of `--storage.path`) held the state inside
//! the header, as `"state":{...}` (JSON); it is still read, so an upgrade
//! keeps every state, and rewritten as version 2 at the next save.
//!
//! A save is atomic: a temporary file in DIR, written, fsynced, renamed over
//! the old one, then DIR fsynced; a `kill -9` at any instant leaves the old
//! state or the new one. DIR holds an exclusive lock (`DIR/.lock`, flock)
//! for the life of the process: two exporters never share it.
//!
//! What a collector keeps is a [`Kept`] state: [`Codec`] says how it is
//! written (JSON for a [`Json`] state), [`Keep`] is what the scheduler saves
//! and restores.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::shard::fnv1a;

pub mod pack;

/// The version of the file format this exporter writes. It reads this one
/// and version 1; a file with another is set aside, and its service starts
/// with a baseline.
pub const FORMAT_VERSION: u64 = 2;
/// Version 1: the state inside the header, JSON.
pub const FORMAT_VERSION_1: u64 = 1;

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
    /// The format version it was written in: how the collector reads it.
    pub version: u64,
    pub saved_at: f64,
    /// The collector's state, as [`Codec::encode`] wrote it.
    pub state: Vec<u8>,
    /// Size of the file.
    pub bytes: u64,
}

/// The header of a file: what is checked before the state is used.
#[derive(Serialize, Deserialize)]
struct Header {
    format_version: u64,
    service: String,
    target: TargetIdentity,
    shard: Option<String>,
    saved_at: f64,
    /// Version 2: the length and CRC-32 of the state after the header line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state_crc32: Option<u32>,
    /// Version 1: the state itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct Version {
    format_version: Option<serde_json::Value>,
}

/// A JSON error of the header: at its end, the file is truncated.
fn json_error(e: serde_json::Error) -> String {
    if e.is_eof() {
        format!("truncated: {e}")
    } else {
        format!("not a state file: {e}")
    }
}

impl Slot {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and checks the file.
    pub fn load(&self) -> Loaded {
        let file = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded::Missing,
            Err(e) => return Loaded::Bad(format!("cannot read it: {e}")),
        };
        let bytes = file.len() as u64;
        match self.check(file) {
            Ok((version, saved_at, state)) => Loaded::Found(SavedState {
                version,
                saved_at,
                state,
                bytes,
            }),
            Err(why) => Loaded::Bad(why),
        }
    }

    /// The format version, `saved_at` and the state of a file written for this slot.
    fn check(&self, mut file: Vec<u8>) -> Result<(u64, f64, Vec<u8>), String> {
        if file.iter().all(u8::is_ascii_whitespace) {
            return Err("the file is empty".into());
        }
        // Version 2: the header line, then the state; version 1: one line.
        let line = file.iter().position(|b| *b == b'\n').unwrap_or(file.len());
        let head = std::str::from_utf8(&file[..line]).map_err(|e| format!("not UTF-8: {e}"))?;
        let version: Version = serde_json::from_str(head).map_err(json_error)?;
        let version = match version.format_version {
            Some(serde_json::Value::Number(n))
                if n.as_u64() == Some(FORMAT_VERSION) || n.as_u64() == Some(FORMAT_VERSION_1) =>
            {
                n.as_u64().expect("checked")
            }
            Some(other) => {
                return Err(format!(
                    "format_version {other}: this exporter reads format_version \
                     {FORMAT_VERSION_1} and {FORMAT_VERSION}"
                ))
            }
            None => return Err("no format_version: not a state file".into()),
        };
        let header: Header = serde_json::from_str(head).map_err(json_error)?;
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
        if version == FORMAT_VERSION_1 {
            let state = header.state.ok_or("no state")?;
            return Ok((version, header.saved_at, state.get().as_bytes().to_vec()));
        }
        let (Some(length), Some(crc)) = (header.state_bytes, header.state_crc32) else {
            return Err("no state_bytes or state_crc32 in the header".into());
        };
        // The state, in place: no second copy of it.
        file.drain(..(line + 1).min(file.len()));
        let state = file;
        if (state.len() as u64) < length {
            return Err(format!(
                "truncated: the state has {} of its {length} bytes",
                state.len()
            ));
        }
        if state.len() as u64 > length {
            return Err(format!(
                "corrupt: {} bytes after the state's {length}",
                state.len() as u64 - length
            ));
        }
        let actual = crc32fast::hash(&state);
        if actual != crc {
            return Err(format!(
                "corrupt: the state's CRC-32 is {actual}, the header says {crc}"
            ));
        }
        Ok((version, header.saved_at, state))
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

    /// Saves the state `write_state` writes, atomically, straight to the
    /// file: it is never held whole in memory. Returns the size of the file
    /// and how long the disk took to make it durable (fsync, rename, fsync of
    /// DIR).
    pub fn save(
        &self,
        saved_at: f64,
        write_state: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<(u64, Duration)> {
        let mut header = Header {
            format_version: FORMAT_VERSION,
            service: self.service.to_string(),
            target: self.identity.clone(),
            shard: self.storage.shard.clone(),
            saved_at,
            state_bytes: Some(0),
            state_crc32: Some(0),
            state: None,
        };
        // The header is written again once the state's length and CRC-32 are
        // known, over the first one: spaces (JSON allows them after the value)
        // keep room for the 20 and 10 digits they may take beyond these zeros.
        let width = serde_json::to_vec(&header)?.len() + 30;
        let line = |header: &Header| -> io::Result<Vec<u8>> {
            let mut line = serde_json::to_vec(header)?;
            if line.len() > width {
                return Err(io::Error::other("the state header outgrew its room"));
            }
            line.resize(width, b' ');
            line.push(b'\n');
            Ok(line)
        };
        let dir = &self.storage.dir;
        let mut tmp = tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .suffix(TMP_SUFFIX)
            .tempfile_in(dir)?;
        let (length, crc) = {
            let mut out = io::BufWriter::with_capacity(64 * 1024, tmp.as_file_mut());
            out.write_all(&line(&header)?)?;
            let mut checked = Checked {
                out: &mut out,
                bytes: 0,
                crc: crc32fast::Hasher::new(),
            };
            write_state(&mut checked)?;
            let (length, crc) = (checked.bytes, checked.crc.finalize());
            out.flush()?;
            (length, crc)
        };
        header.state_bytes = Some(length);
        header.state_crc32 = Some(crc);
        std::os::unix::fs::FileExt::write_all_at(tmp.as_file(), &line(&header)?, 0)?;
        let syncing = Instant::now();
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        File::open(dir)?.sync_all()?;
        Ok((width as u64 + 1 + length, syncing.elapsed()))
    }
}

/// Passes the state on to the file, counting its bytes and its CRC-32.
struct Checked<'a> {
    out: &'a mut dyn Write,
    bytes: u64,
    crc: crc32fast::Hasher,
}

impl Write for Checked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.crc.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
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

/// How a collector's state is written to its file and read back.
pub trait Codec: Sized {
    /// Writes the state, in format version [`FORMAT_VERSION`], to `out` as it
    /// goes (the file, through a buffer).
    fn encode(&self, out: &mut dyn Write) -> io::Result<()>;
    /// A state written in format `version` ([`FORMAT_VERSION`] or
    /// [`FORMAT_VERSION_1`]); the error says where it went wrong.
    fn decode(state: &[u8], version: u64) -> Result<Self, String>;
}

/// A state saved as JSON, the same in every format version: `impl Json for State {}`.
pub trait Json: Serialize + DeserializeOwned {}

impl<T: Json> Codec for T {
    fn encode(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(out, self).map_err(io::Error::from)
    }

    fn decode(state: &[u8], _version: u64) -> Result<Self, String> {
        from_json(state)
    }
}

/// What a collector keeps across restarts: its state (which this derefs to)
/// and, after a restore, when that state was saved. A resource absent from a
/// state just restored is new if AWS says it was created after
/// [`Kept::resumed`], and otherwise gets a baseline of its own.
#[derive(Default)]
pub struct Kept<S> {
    state: S,
    resumed: Option<f64>,
}

impl<S> Kept<S> {
    /// `saved_at` of a restored state, until the first collection after the
    /// restore has been applied ([`Kept::applied`]).
    pub fn resumed(&self) -> Option<f64> {
        self.resumed
    }

    /// A collection has been applied: the state is no longer just restored.
    pub fn applied(&mut self) {
        self.resumed = None;
    }
}

impl<S> Deref for Kept<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.state
    }
}

impl<S> DerefMut for Kept<S> {
    fn deref_mut(&mut self) -> &mut S {
        &mut self.state
    }
}

/// What the scheduler saves after every successful collection and restores
/// before the first, whatever the collector (`Collector::kept`).
pub trait Keep: Send {
    /// Writes the state to save to `out`: what the collector needs to go on
    /// counting, and every counter.
    fn save(&self, out: &mut dyn Write) -> io::Result<()>;

    /// Takes back a state saved in format `version` at `saved_at` (Unix
    /// seconds). All or nothing: on error the state is as it was, and the
    /// collector starts with a baseline. After a restore the first collection
    /// is not a baseline.
    fn restore(&mut self, state: &[u8], version: u64, saved_at: f64) -> Result<(), String>;

    /// The state [`Keep::save`] writes, in memory (what a reload hands over).
    fn saved(&self) -> io::Result<Vec<u8>> {
        let mut state = Vec::new();
        self.save(&mut state)?;
        Ok(state)
    }

    /// The state as it is before a collection, to go back to if the
    /// collection panics halfway through applying what it fetched.
    fn checkpoint(&self) -> io::Result<Checkpoint>;

    /// Goes back to `checkpoint`: the state, and whether it was just restored.
    fn rollback(&mut self, checkpoint: &Checkpoint) -> Result<(), String>;
}

/// A collector's state as it was before a collection (see [`Keep::checkpoint`]).
pub struct Checkpoint {
    state: Vec<u8>,
    resumed: Option<f64>,
}

impl<S: Codec + Send> Keep for Kept<S> {
    fn save(&self, out: &mut dyn Write) -> io::Result<()> {
        self.state.encode(out)
    }

    fn restore(&mut self, state: &[u8], version: u64, saved_at: f64) -> Result<(), String> {
        self.state = S::decode(state, version)?;
        self.resumed = Some(saved_at);
        Ok(())
    }

    fn checkpoint(&self) -> io::Result<Checkpoint> {
        Ok(Checkpoint {
            state: self.saved()?,
            resumed: self.resumed,
        })
    }

    fn rollback(&mut self, checkpoint: &Checkpoint) -> Result<(), String> {
        self.state = S::decode(&checkpoint.state, FORMAT_VERSION)?;
        self.resumed = checkpoint.resumed;
        Ok(())
    }
}

/// A collector's state from JSON; the error says where it went wrong.
pub fn from_json<T: DeserializeOwned>(state: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(state);
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

    fn found(slot: &Slot) -> SavedState {
        match slot.load() {
            Loaded::Found(saved) => saved,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_saved_state_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let slot = storage(dir.path(), Some("0/2")).slot(identity(), "appflow");
        assert!(matches!(slot.load(), Loaded::Missing));
        let state = b"{\"baselined\":true,\"n\":[1,2]}\n\x00\xff binary too";
        let (bytes, _) = slot.save(1234.5, |out| out.write_all(state)).unwrap();
        let file = std::fs::read(slot.path()).unwrap();
        assert_eq!(bytes, file.len() as u64);
        let line = file.iter().position(|b| *b == b'\n').unwrap();
        let value: serde_json::Value = serde_json::from_slice(&file[..line]).unwrap();
        assert!(
            file[..line].ends_with(b" "),
            "room kept for the length and CRC"
        );
        assert_eq!(value["format_version"], 2);
        assert_eq!(value["service"], "appflow");
        assert_eq!(value["shard"], "0/2");
        assert_eq!(value["target"]["labels"]["env"], "prod");
        assert_eq!(value["state_bytes"], state.len());
        assert_eq!(value["state_crc32"], crc32fast::hash(state));
        assert_eq!(&file[line + 1..], state);
        let saved = found(&slot);
        assert_eq!(saved.version, 2);
        assert_eq!(saved.saved_at, 1234.5);
        assert_eq!(saved.state, state);
        assert_eq!(saved.bytes, bytes);
    }

    /// A file the first release wrote (format version 1, the state inline).
    const VERSION_1: &str = concat!(
        r#"{"format_version":1,"service":"appflow","#,
        r#""target":{"region":"us-east-1","role_arn":null,"labels":{"env":"prod"}},"#,
        r#""shard":null,"saved_at":1234.5,"state":{"baselined":true,"n":[1,2]}}"#,
        "\n"
    );

    #[test]
    fn a_version_1_file_loads_with_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let slot = storage(dir.path(), None).slot(identity(), "appflow");
        std::fs::write(slot.path(), VERSION_1).unwrap();
        let saved = found(&slot);
        assert_eq!(saved.version, 1);
        assert_eq!(saved.saved_at, 1234.5);
        assert_eq!(saved.state, br#"{"baselined":true,"n":[1,2]}"#);
        // The next save writes version 2.
        slot.save(2.0, |out| out.write_all(b"{}")).unwrap();
        assert_eq!(found(&slot).version, 2);
    }

    #[test]
    fn a_save_replaces_the_old_state_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let slot = storage(dir.path(), None).slot(identity(), "transfer");
        slot.save(1.0, |out| out.write_all(b"{\"v\":1}")).unwrap();
        slot.save(2.0, |out| out.write_all(b"{\"v\":2}")).unwrap();
        let saved = found(&slot);
        assert_eq!((saved.saved_at, &saved.state[..]), (2.0, &b"{\"v\":2}"[..]));
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

    /// `file` with `from` replaced by `to` in its header line.
    fn edit_header(file: &[u8], from: &str, to: &str) -> Vec<u8> {
        let line = file.iter().position(|b| *b == b'\n').unwrap();
        let head = std::str::from_utf8(&file[..line]).unwrap();
        assert!(head.contains(from), "{head}");
        let mut edited = head.replacen(from, to, 1).into_bytes();
        edited.extend_from_slice(&file[line..]);
        edited
    }

    #[test]
    fn unusable_files_say_why() {
        let dir = tempfile::tempdir().unwrap();
        let store = storage(dir.path(), None);
        let slot = store.slot(identity(), "appflow");
        slot.save(1.0, |out| out.write_all(b"\x01\x02 a binary state \xff"))
            .unwrap();
        let good = std::fs::read(slot.path()).unwrap();
        let spoil = |bytes: &[u8]| std::fs::write(slot.path(), bytes).unwrap();

        spoil(b"");
        assert!(bad(&slot).contains("empty"));
        for cut in [10, good.len() - 30, good.len() - 3] {
            spoil(&good[..cut]);
            assert!(bad(&slot).starts_with("truncated"), "{cut}: {}", bad(&slot));
        }
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        spoil(&flipped);
        assert!(bad(&slot).contains("CRC-32"), "{}", bad(&slot));
        spoil(&[&good[..], b"x"].concat());
        assert!(bad(&slot).contains("1 bytes after"), "{}", bad(&slot));
        spoil(b"\xff\xfe garbage");
        assert!(bad(&slot).contains("UTF-8"));
        spoil(b"[1,2,3]");
        assert!(bad(&slot).contains("not a state file"));
        spoil(&edit_header(
            &good,
            "\"format_version\":2",
            "\"format_version\":9",
        ));
        assert!(bad(&slot).contains("format_version 9"), "{}", bad(&slot));
        spoil(&edit_header(&good, "us-east-1", "eu-west-1"));
        assert!(bad(&slot).contains("another target"), "{}", bad(&slot));
        spoil(&edit_header(&good, "\"shard\":null", "\"shard\":\"1/2\""));
        assert!(bad(&slot).contains("--shard 1/2"), "{}", bad(&slot));
        spoil(&edit_header(&good, "\"appflow\"", "\"transfer\""));
        assert!(bad(&slot).contains("service"), "{}", bad(&slot));
        spoil(&edit_header(&good, ",\"state_crc32\"", ",\"x\""));
        assert!(bad(&slot).contains("state_crc32"), "{}", bad(&slot));
        // Version 1 files are checked the same way.
        spoil(&VERSION_1.as_bytes()[..VERSION_1.len() / 2]);
        assert!(bad(&slot).contains("EOF"), "{}", bad(&slot));
        spoil(VERSION_1.replace("us-east-1", "eu-west-1").as_bytes());
        assert!(bad(&slot).contains("another target"), "{}", bad(&slot));
        spoil(
            VERSION_1
                .replace(",\"state\":{\"baselined\":true,\"n\":[1,2]}", "")
                .as_bytes(),
        );
        assert!(bad(&slot).contains("no state"), "{}", bad(&slot));
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
        let error = from_json::<S>(br#"{"a":[1,"x"]}"#).unwrap_err();
        assert!(error.starts_with("state.a[1]"), "{error}");
    }
}
