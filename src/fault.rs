//! Test-only fault injection: a panic in the middle of a service's apply,
//! where its state is half changed. Nothing outside tests.

#[cfg(test)]
use std::cell::Cell;

#[cfg(test)]
thread_local! {
    static ARMED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// A point in the middle of `service`'s apply: in tests, panics there once
/// after [`arm`] on this thread; in other builds, nothing.
#[track_caller]
pub fn point(service: &'static str) {
    #[cfg(test)]
    if ARMED.with(|armed| armed.get()) == Some(service) {
        ARMED.with(|armed| armed.set(None));
        panic!("injected panic in the middle of {service}'s apply");
    }
    #[cfg(not(test))]
    let _ = service;
}

/// The next [`point`] of `service` on this thread panics.
#[cfg(test)]
pub fn arm(service: &'static str) {
    ARMED.with(|armed| armed.set(Some(service)));
}

/// Debug builds: `AWS_FLOW_EXPORTER_FAULTS` lists task kinds (`unit`,
/// `save`, `sighup`, `web-config`, `renderer`), comma-separated; each panics
/// once at its trip point (what the supervision test runs). Release builds
/// read nothing.
#[track_caller]
pub fn trip(task: &'static str) {
    #[cfg(debug_assertions)]
    {
        use std::sync::{Mutex, OnceLock};
        static ARMED: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
        let armed = ARMED.get_or_init(|| {
            let listed = std::env::var("AWS_FLOW_EXPORTER_FAULTS").unwrap_or_default();
            Mutex::new(listed.split(',').map(str::to_string).collect())
        });
        let mut armed = crate::sync::lock(armed);
        if let Some(i) = armed.iter().position(|t| t == task) {
            armed.remove(i);
            drop(armed);
            panic!("injected panic in the {task} task");
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = task;
}

#[cfg(test)]
mod tests;
