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
        out.stderr.contains("div: available (agent exited with code 1"),
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
    let log = env.run(&dir, &["log", "div"]);
    assert!(log.stdout.contains("agent output: "), "{log}");
    // The folder must be new or empty: nothing of the user's is overwritten.
    let again = env.run(env.root(), &["demo", "--dir", dir.to_str().expect("utf8")]);
    assert_eq!(again.code, 2, "{again}");
    assert!(again.stderr.contains("exists and is not empty"), "{again}");
}
