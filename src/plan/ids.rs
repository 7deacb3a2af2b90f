//! Task ids become one component of a ref name (`refs/agents/tasks/<state>/<id>`
//! and `refs/heads/agents/<id>`), so they follow git's ref-name rules, stricter
//! where a rule would only allow surprises: ids are ASCII. Ids that differ
//! only in case are a clash between two ids, which [`fold`] finds.

/// The longest id we accept, in bytes.
pub const MAX_ID_LEN: usize = 100;

/// Why `id` cannot be a task id, or `None` when it can.
pub fn id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("is empty".into());
    }
    if id.len() > MAX_ID_LEN {
        return Some(format!("is {} bytes long; the limit is {MAX_ID_LEN}", id.len()));
    }
    if let Some(c) = id.chars().find(|c| c.is_control()) {
        return Some(format!("contains the control character U+{:04X}", c as u32));
    }
    if id.contains('/') {
        return Some("contains '/' but must be a single ref-name component".into());
    }
    if id.contains("..") {
        return Some("contains '..'".into());
    }
    if id.contains("@{") {
        return Some("contains '@{'".into());
    }
    if id == "@" {
        return Some("is '@', which git reserves for HEAD".into());
    }
    if let Some(c) = id.chars().find(|c| c.is_whitespace()) {
        return Some(if c == ' ' {
            "contains a space".into()
        } else {
            format!("contains the whitespace character U+{:04X}", c as u32)
        });
    }
    if let Some(c) = id.chars().find(|c| "~^:?*[\\".contains(*c)) {
        return Some(format!("contains '{c}', which git forbids in ref names"));
    }
    // Ids become file names (loose refs, worktree folders, prompt files).
    // macOS stores names in a normalized form, so `café` typed two ways is
    // one file there, and invisible characters (zero-width space, byte
    // order mark) make ids that look alike; ASCII has neither problem.
    if let Some(c) = id.chars().find(|c| !c.is_ascii()) {
        return Some(format!(
            "contains the non-ASCII character U+{:04X} (ids must be ASCII: other characters can look alike, or be stored in more than one way)",
            c as u32
        ));
    }
    if id.starts_with('-') {
        return Some("starts with '-' and would read as a command-line option".into());
    }
    if id.starts_with('.') {
        return Some("starts with '.'".into());
    }
    if id.ends_with('.') {
        return Some("ends with '.'".into());
    }
    if id.ends_with(".lock") {
        return Some("ends with '.lock', which git reserves for lock files".into());
    }
    None
}

/// The form under which two ids name one file on a case-insensitive file
/// system (macOS and Windows by default): ids are ASCII, so ASCII case
/// folding is all of it.
pub fn fold(id: &str) -> String {
    id.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::id_problem;

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["auth", "fix-bug-4767", "api_v2", "a.b", "Auth", "x@y"] {
            assert_eq!(id_problem(id), None, "{id}");
        }
    }

    #[test]
    fn rejects_every_ref_name_trick() {
        let long = "a".repeat(101);
        for id in [
            "",
            "a/b",
            "a..b",
            "-x",
            ".x",
            "x.",
            "x.lock",
            "a b",
            "a\tb",
            "a\u{7}b",
            "a@{b",
            "@",
            "a~1",
            "a^",
            "a:b",
            "a?",
            "a*",
            "a[",
            "a\\b",
            &long,
            "Ünïcode",
            "caf\u{e9}",
            "cafe\u{301}",
            "a\u{200b}b",
            "\u{feff}a",
        ] {
            assert!(id_problem(id).is_some(), "{id:?} should be rejected");
        }
        assert_eq!(id_problem(&"a".repeat(100)), None);
    }
}
