//! The published state scrapes read: the latest good exposition of every
//! (target, service), the AWS part of the body prepared from them, and
//! readiness. Collections publish here; the HTTP side only reads.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::exposition::body::{Prepared, JOIN_LIMIT};
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
    /// Readiness was logged.
    announced: std::sync::atomic::AtomicBool,
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

    /// (v4) Readiness also waits for the first collection of `key` (a target
    /// discovered at start).
    pub fn expect(&self, key: Key) {
        write(&self.expected).push(key);
    }

    /// The first collection of `key` ended, good or bad. True once: for the
    /// call that made the exporter ready.
    pub fn attempted(&self, key: &Key) -> bool {
        write(&self.attempted).insert(key.clone());
        self.ready() && !self.announced.swap(true, Ordering::AcqRel)
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
        let limit = self.join_limit(parts.len());
        let joined = exposition::join_shared(&parts, |pieces| {
            let prepared = Prepared::join_up_to(pieces, limit)?;
            let deflate = prepared.deflate();
            Ok((prepared, deflate))
        });
        match joined {
            Ok((prepared, shared)) => {
                *write(&self.prepared) = Arc::new(prepared);
                let Some(shared) = shared else {
                    // Prepared again from copies, so that no part (nor the body) keeps
                    // an earlier joined body whole: 4 MiB held until every part that
                    // shares it had collected again.
                    if self.unshare(&snapshots) {
                        return self.prepare();
                    }
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

    /// The size up to which a body of `published` parts is joined into one buffer:
    /// [`JOIN_LIMIT`] once every expected part has published, before that in proportion,
    /// as if the parts still to come were as large as those in. A body that will exceed
    /// the limit is then not joined while the first collections end one by one: joined,
    /// its parts would share a buffer that each keeps whole until it collects again
    /// (measured at 100 targets: 4 MiB held through the first steady collections).
    fn join_limit(&self, published: usize) -> usize {
        let expected = read(&self.expected).len().max(published).max(1);
        (JOIN_LIMIT as u128 * published as u128 / expected as u128) as usize
    }

    /// Gives each stored part that shares a joined body pieces of its own (unless a
    /// publish replaced it meanwhile): whether any did.
    fn unshare(&self, snapshots: &[(Key, Arc<Exposition>)]) -> bool {
        let mut any = false;
        let mut stored = write(&self.snapshots);
        for (key, old) in snapshots {
            let Some(own) = old.unshared() else {
                continue;
            };
            if let Some(current) = stored.get_mut(key).filter(|c| Arc::ptr_eq(c, old)) {
                *current = Arc::new(own);
                any = true;
            }
        }
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Family, Kind};

    static G: Family = Family {
        name: "x_value",
        help: "A value.",
        kind: Kind::Gauge,
        labels: &["flow_name"],
    };

    /// A part of `samples` series whose names do not compress (xorshift digits).
    fn part(seed: u64, samples: usize) -> Exposition {
        let mut e = Exposition::new(&[]);
        let mut x = seed | 1;
        for _ in 0..samples {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            e.sample(
                &G,
                &[("flow_name", &format!("{x:016x}{:016x}", x.rotate_left(29)))],
                1.0,
            );
        }
        e
    }

    fn key(name: &str) -> Key {
        (Arc::from(name), "appflow")
    }

    #[tokio::test]
    async fn parts_stop_sharing_a_joined_body_once_it_grows_beyond_the_join_limit() {
        let store = Arc::new(Store::new(vec![key("a"), key("b")]));
        store.publish(key("a"), part(1, 1_000)).await;
        let shares = |store: &Store| {
            read(&store.snapshots)
                .values()
                .filter(|s| s.unshared().is_some())
                .count()
        };
        assert_eq!(
            shares(&store),
            1,
            "a small body is joined, the part shares it"
        );
        // About 5 MiB of deflate: beyond the join limit, the body is the parts' pieces.
        store.publish(key("b"), part(2, 250_000)).await;
        assert_eq!(shares(&store), 0);
        assert!(store.current().deflate().is_none());
        let mut expected = String::new();
        let snapshots = read(&store.snapshots);
        exposition::render(snapshots.values().map(|s| s.as_ref()), &mut expected);
        assert!(expected.contains("x_value{flow_name="));
    }

    #[tokio::test]
    async fn a_body_is_joined_before_all_parts_are_in_only_if_its_share_fits() {
        let store = Arc::new(Store::new(vec![key("a"), key("b")]));
        // About 3 MiB of deflate from one part of two: as if both were, beyond the limit.
        store.publish(key("a"), part(3, 150_000)).await;
        assert!(store.current().deflate().is_none());
        // Both in, the same 3 MiB and a little more: joined.
        store.publish(key("b"), part(4, 100)).await;
        assert!(store.current().deflate().is_some());
    }
}
