//! The published state scrapes read: the latest good exposition of every
//! (target, service), the AWS part of the body prepared from them, and
//! readiness. Collections publish here; the HTTP side only reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::exposition::body::Prepared;
use crate::exposition::{self, Exposition};
use crate::sync::{read, write};

/// A (target, service): the target's identity (region, role and labels,
/// stable across reloads) and the service's registry name.
pub type Key = (Arc<str>, &'static str);

#[derive(Default)]
pub struct Store {
    snapshots: RwLock<BTreeMap<Key, Arc<Exposition>>>,
    prepared: RwLock<Arc<Prepared>>,
    /// Bumped by every publish; the last generation prepared, under the lock
    /// that keeps two preparations from running at once. Publishers wait for
    /// it asynchronously: one blocking thread prepares at a time, and the
    /// publishes that arrived meanwhile are covered by the next preparation.
    published: AtomicU64,
    prepared_generation: tokio::sync::Mutex<u64>,
    /// The (target, service)s expected, and those whose first collection ended.
    expected: RwLock<Vec<Key>>,
    attempted: RwLock<std::collections::BTreeSet<Key>>,
}

impl Store {
    /// A store whose readiness waits for the first collection of `expected`.
    pub fn new(expected: Vec<Key>) -> Self {
        Store {
            expected: RwLock::new(expected),
            ..Store::default()
        }
    }

    /// Every expected (target, service) has finished its first collection,
    /// good or bad.
    pub fn ready(&self) -> bool {
        let attempted = read(&self.attempted);
        read(&self.expected).iter().all(|k| attempted.contains(k))
    }

    /// The first collection of `key` ended, good or bad.
    pub fn attempted(&self, key: &Key) {
        write(&self.attempted).insert(key.clone());
    }

    /// The AWS part of the body, as last prepared.
    pub fn current(&self) -> Arc<Prepared> {
        read(&self.prepared).clone()
    }

    /// Stores a collection's series and prepares the body scrapes will get.
    pub async fn publish(self: &Arc<Self>, key: Key, mut snapshot: Exposition) {
        snapshot.finish();
        write(&self.snapshots).insert(key, Arc::new(snapshot));
        self.republish().await;
    }

    /// Forgets a (target, service) removed from the configuration: its
    /// series leave the body.
    pub async fn remove(self: &Arc<Self>, key: &Key) {
        let removed = write(&self.snapshots).remove(key).is_some();
        write(&self.expected).retain(|k| k != key);
        if removed {
            self.republish().await;
        }
    }

    /// Prepares the body again, off the async workers: compressing tens of
    /// megabytes is CPU work.
    async fn republish(self: &Arc<Self>) {
        let generation = self.published.fetch_add(1, Ordering::AcqRel) + 1;
        let mut done = self.prepared_generation.lock().await;
        if *done >= generation {
            return;
        }
        let latest = self.published.load(Ordering::Acquire);
        let store = self.clone();
        match tokio::task::spawn_blocking(move || store.prepare()).await {
            Ok(true) => *done = latest,
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "preparing the exposition failed"),
        }
    }

    /// Prepares the AWS part from the snapshots now stored. The snapshots then
    /// share the body's buffer (see [`exposition::join_shared`]): the samples
    /// are held once, and twice only while the next body is prepared.
    fn prepare(&self) -> bool {
        let snapshots: Vec<(Key, Arc<Exposition>)> = read(&self.snapshots)
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        let parts: Vec<&Exposition> = snapshots.iter().map(|(_, s)| s.as_ref()).collect();
        let joined = exposition::join_shared(&parts, |pieces| {
            let prepared = Prepared::join(pieces)?;
            let deflate = prepared.deflate();
            Ok((prepared, deflate))
        });
        match joined {
            Ok((prepared, shared)) => {
                *write(&self.prepared) = Arc::new(prepared);
                let Some(shared) = shared else {
                    return true;
                };
                let mut stored = write(&self.snapshots);
                for ((key, old), new) in snapshots.iter().zip(shared) {
                    // Unless a publish replaced it meanwhile.
                    if let Some(current) = stored.get_mut(key).filter(|c| Arc::ptr_eq(c, old)) {
                        *current = Arc::new(new);
                    }
                }
                true
            }
            Err(error) => {
                tracing::error!(%error, "cannot prepare the exposition");
                false
            }
        }
    }
}
