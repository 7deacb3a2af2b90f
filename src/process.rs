//! The only module that starts child processes. git itself is used only
//! where gix cannot do the job (pushing, running the user's hooks); this
//! module checks once that the git on PATH is new enough.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The oldest git we support: `merge-tree --write-tree` arrived in 2.38.
pub const MIN_GIT: (u32, u32) = (2, 38);

/// Runs `git` with `args` and returns its stdout; checks the version first.
pub fn git(args: &[&str]) -> Result<String> {
    check_git_version()?;
    let output = duct::cmd("git", args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| Error::failure(format!("cannot run git {}", args.join(" "))).cause(e))?;
    if !output.status.success() {
        return Err(Error::failure(format!("git {} failed", args.join(" ")))
            .cause(String::from_utf8_lossy(&output.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Fails with upgrade advice when git is missing or older than [`MIN_GIT`]; checks once per process.
pub fn check_git_version() -> Result<()> {
    static CHECKED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let outcome = CHECKED.get_or_init(|| {
        let path = which::which("git").map_err(|_| "git is not on PATH".to_string())?;
        let text = duct::cmd(&path, ["--version"])
            .read()
            .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
        match parse_git_version(&text) {
            Some(v) if v >= MIN_GIT => Ok(()),
            Some((major, minor)) => Err(format!("git {major}.{minor} at {} is too old", path.display())),
            None => Err(format!(
                "cannot read the version of git at {}: {text:?}",
                path.display()
            )),
        }
    });
    outcome.clone().map_err(|why| {
        Error::failure(why).hint(format!(
            "git-agents needs git {}.{} or newer on PATH; upgrade git (your package manager or https://git-scm.com)",
            MIN_GIT.0, MIN_GIT.1
        ))
    })
}

/// `git version 2.47.3` (or `git version 2.39.2.windows.1`) → (2, 47).
pub fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("git version ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::parse_git_version;

    #[test]
    fn reads_git_versions() {
        assert_eq!(parse_git_version("git version 2.47.3\n"), Some((2, 47)));
        assert_eq!(parse_git_version("git version 2.39.2.windows.1"), Some((2, 39)));
        assert_eq!(parse_git_version("git version 2.37.1 (Apple Git-137.1)"), Some((2, 37)));
        assert_eq!(parse_git_version("hub version 2.14"), None);
    }
}
