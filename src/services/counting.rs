//! The counting rules every service's collector follows, written once.
//!
//! A counter only counts what changed while the exporter watched: the first
//! collection is a baseline, a resource re-created under the same name starts
//! afresh, and after a restart a resource the restored state does not know is
//! new only if AWS says it was created after the save (otherwise it moved in
//! from another shard, or a filter changed, and gets a baseline of its own).

use crate::state::Kept;

/// A collector's state, with its baseline flag: set by the first successful
/// collection, and saved with the state (until then nothing is counted).
pub(crate) trait Baselined {
    fn baselined(&self) -> bool;
    fn set_baselined(&mut self);
}

/// Whether this collection counts the events of a listed resource: never at
/// the baseline; for a resource the state knows (`known`), always; for one it
/// does not, unless it is absent from a state just restored while AWS says it
/// was created (`created_at`, Unix seconds) before that state was saved, or
/// does not say when.
pub(crate) fn counts<S: Baselined>(state: &Kept<S>, known: bool, created_at: Option<f64>) -> bool {
    state.baselined()
        && (known
            || state
                .resumed()
                .is_none_or(|saved_at| created_at.is_some_and(|created| created > saved_at)))
}

/// The remembered entry of a listed resource, unless the resource was
/// re-created since: its creation time (`created` of the entry) differs from
/// the listing's (`listed`).
pub(crate) fn unless_recreated<T>(
    remembered: Option<T>,
    created: impl FnOnce(&T) -> Option<f64>,
    listed: Option<f64>,
) -> Option<T> {
    remembered.filter(|entry| created(entry) == listed)
}

/// A collection has been applied: the baseline is taken, and the state is no
/// longer just restored.
pub(crate) fn applied<S: Baselined>(state: &mut Kept<S>) {
    state.set_baselined();
    state.applied();
}

/// The 64-bit fingerprint an execution id is remembered by: a resource has at
/// most a few thousand executions in the lookback, so FNV-1a tells them apart
/// in 8 bytes where the id (a UUID) takes 36 plus its allocation.
pub(crate) fn fingerprint(id: &str) -> u64 {
    crate::hash::fnv1a(id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Keep;

    #[derive(Default, serde::Serialize, serde::Deserialize)]
    struct State {
        baselined: bool,
    }

    impl crate::state::Json for State {}

    impl Baselined for State {
        fn baselined(&self) -> bool {
            self.baselined
        }
        fn set_baselined(&mut self) {
            self.baselined = true;
        }
    }

    const SAVED_AT: f64 = 1_000.0;

    fn restored() -> Kept<State> {
        let mut state = Kept::<State>::default();
        state
            .restore(br#"{"baselined":true}"#, 1, SAVED_AT)
            .expect("a valid state");
        state
    }

    #[test]
    fn nothing_counts_at_the_baseline() {
        let mut state = Kept::<State>::default();
        assert!(!counts(&state, true, Some(SAVED_AT + 1.0)));
        assert!(!counts(&state, false, None));
        applied(&mut state);
        assert!(counts(&state, true, None));
        assert!(counts(&state, false, None), "new since the last collection");
    }

    #[test]
    fn after_a_restore_only_what_was_created_after_the_save_counts() {
        let mut state = restored();
        assert!(counts(&state, true, None));
        assert!(counts(&state, false, Some(SAVED_AT + 1.0)));
        assert!(!counts(&state, false, Some(SAVED_AT)));
        assert!(!counts(&state, false, None), "no creation time: a baseline");
        applied(&mut state);
        assert!(counts(&state, false, Some(SAVED_AT - 1.0)));
    }

    #[test]
    fn a_recreated_resource_is_not_known() {
        let created = |c: &Option<f64>| *c;
        assert_eq!(
            unless_recreated(Some(Some(1.0)), created, Some(1.0)),
            Some(Some(1.0))
        );
        assert_eq!(unless_recreated(Some(Some(1.0)), created, Some(2.0)), None);
        assert_eq!(unless_recreated(Some(None), created, None), Some(None));
        assert_eq!(unless_recreated(None, created, None), None);
    }

    #[test]
    fn fingerprint_is_fnv1a_of_the_id() {
        assert_eq!(fingerprint("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(fingerprint("a"), fingerprint("b"));
    }
}
