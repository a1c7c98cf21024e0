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
#[inline(always)]
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

#[cfg(test)]
mod tests;
