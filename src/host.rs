//! This machine's name as claims, the merge lock and spawn's name locks
//! record it: the one place that says which host a pid belongs to, below
//! both `protocol` (which stamps claims) and `state` (which judges them).

/// The host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else
/// `localhost`), so a pid recorded here is never judged on another machine.
pub fn name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
