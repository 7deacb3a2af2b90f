//! `git agents demo`: the whole flow on a throw-away repository.

use crate::common::TestEnv;

#[test]
fn the_demo_runs_the_whole_flow() {
    let env = TestEnv::new();
    let dir = env.root().join("demo");
    let out = env.run(env.root(), &["demo", "--dir", dir.to_str().expect("utf8")]);
    out.success();
    assert!(out.stdout.contains("6 tasks in 2 waves"), "{out}");
    assert!(
        out.stdout
            .contains("6 completed / 6 total (0 in progress, 0 failed, 0 blocked)"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("div: failed, will be retried: agent exited with code 1"),
        "the scripted retry shows: {out}"
    );
    assert_eq!(
        out.stdout.lines().filter(|l| l.starts_with("landed ")).count(),
        6,
        "{out}"
    );
    let merges = env.git(&dir, &["rev-list", "--count", "--first-parent", "--merges", "main"]);
    assert_eq!(merges, "6\n", "every task landed on main");
    let branches = env.git(&dir, &["branch", "--list", "agents/*", "--format=%(refname:short)"]);
    assert_eq!(branches.lines().count(), 6, "{branches}");
    assert!(out.stderr.contains("summary: 6 done, 1 retried, 0 blocked"), "{out}");
    let log = env.run(&dir, &["log", "div"]);
    assert!(log.stdout.contains("agent output: "), "{log}");
    // The folder must be new or empty: nothing of the user's is overwritten.
    let again = env.run(env.root(), &["demo", "--dir", dir.to_str().expect("utf8")]);
    assert_eq!(again.code, 2, "{again}");
    assert!(again.stderr.contains("exists and is not empty"), "{again}");
}

/// On a terminal the live board redraws in place; the retry and the
/// summary must still be there when it ends (through a real pty).
#[test]
fn on_a_terminal_the_demo_shows_its_retry_and_ends_with_a_summary() {
    let env = TestEnv::new();
    let dir = env.root().join("demo");
    let out = env.run_in_terminal(env.root(), &["demo", "--dir", dir.to_str().expect("utf8")], "");
    assert_eq!(out.code, 0, "{out}");
    let shown = out.stdout.replace('\r', "\n");
    assert!(
        shown.contains("div: failed, will be retried: agent exited with code 1"),
        "the retry scrolled above the board: {shown}"
    );
    assert!(shown.contains("div: working (attempt 2)"), "{shown}");
    assert!(shown.contains("summary: 6 done, 1 retried, 0 blocked"), "{shown}");
    assert!(shown.contains("landed docs as"), "{shown}");
}
