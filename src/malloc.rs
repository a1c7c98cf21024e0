//! How glibc's allocator is set up and asked to give memory back. The exporter holds many
//! small, long-lived allocations (a flow's state, its execution ids) made among a
//! collection's short-lived ones; glibc's defaults leave room between them that the process
//! keeps. Measured at 100 targets (`SCALE_ONLY=targets SCALE_TARGETS=100 cargo bench --bench
//! scale`, see docs/performance.md):
//!
//! - one arena for every thread: the peak 26 MiB lower;
//! - no fast bins (`M_MXFAST` 0), so that small freed chunks merge at once: about 0.7 MiB;
//! - no per-thread caches (`glibc.malloc.tcache_count=0`): about 2.4 MiB, and 3.6 MiB with
//!   the fast bins off as well. Collection times were unchanged.
//!
//! The thread caches can only be set by the `GLIBC_TUNABLES` environment variable, read when
//! the process starts: so, unless it is set already (a user's own choice is kept as it is),
//! [`configure`] sets it and executes the binary again, once, in the same process.
//!
//! Built with the `mimalloc` feature, mimalloc is the allocator and none of this applies.

/// What `GLIBC_TUNABLES` is set to when the user has not set it.
#[cfg_attr(feature = "mimalloc", allow(dead_code))]
pub const TUNABLES: &str = "glibc.malloc.tcache_count=0";

/// Sets the allocator up; to be called before any thread starts. May replace the process
/// image with the same binary and arguments (see the module's documentation); if that
/// fails, the exporter goes on with glibc's thread caches.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
pub fn configure() {
    use libc::{mallopt, M_ARENA_MAX, M_MXFAST};
    let tunables = std::env::var("GLIBC_TUNABLES").ok();
    if tunables.is_none() {
        reexecute_with_tunables();
    }
    let tunables = tunables.unwrap_or_default();
    // SAFETY: mallopt only changes a setting of the allocator; it takes no pointers.
    unsafe {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none()
            && !tunables.contains("glibc.malloc.arena_max")
        {
            mallopt(M_ARENA_MAX, 1);
        }
        if !tunables.contains("glibc.malloc.mxfast") {
            mallopt(M_MXFAST, 0);
        }
    }
}

/// Executes this binary again with [`TUNABLES`]; returns only if that failed.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
fn reexecute_with_tunables() {
    use std::os::unix::process::CommandExt;
    let mut args = std::env::args_os();
    let Some(arg0) = args.next() else {
        return;
    };
    tracing::info!(
        tunables = TUNABLES,
        "GLIBC_TUNABLES is not set: setting it and executing again, once, with the same \
         arguments and process id (set GLIBC_TUNABLES yourself to start once)"
    );
    let error = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", TUNABLES)
        .exec();
    tracing::debug!(%error, "cannot execute again with GLIBC_TUNABLES; thread caches stay on");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc"))))]
pub fn configure() {}

/// Hands the memory freed after a collection back to the system. A
/// collection of 10,000 flows allocates tens of megabytes for a moment (the
/// fetched records, the new exposition); glibc keeps such freed memory in its
/// heaps, so the resident set would stay at the peak between collections.
/// Off the async workers: trimming walks the heap and can take milliseconds.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
pub async fn release_free_memory() {
    // SAFETY: glibc's malloc_trim only releases free pages; it takes no pointers.
    let trim = || unsafe {
        libc::malloc_trim(0);
    };
    if tokio::task::spawn_blocking(trim).await.is_err() {
        tracing::debug!("malloc_trim did not run");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc"))))]
pub async fn release_free_memory() {}
