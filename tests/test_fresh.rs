//! A fresh machine: no git config, no identity. The README's first command
//! (`git agents demo`, after the install) must work there, and say once
//! which identity it used.

use crate::common::TestEnv;

#[test]
fn the_demo_runs_with_no_git_identity_at_all() {
    let mut env = TestEnv::new();
    env.identity = false;
    let dir = env.root().join("demo");
    let out = env.run(env.root(), &["demo", "--dir", &dir.display().to_string()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("landed docs as"), "{out}");
    let warnings = out.stderr.matches("no git identity is configured").count();
    assert_eq!(warnings, 1, "said once: {out}");
    // The work is there, made by the fallback identity.
    let author = env.git(&dir, &["log", "-1", "--format=%an <%ae>", "agents/docs"]);
    assert_eq!(author, "git-agents <git-agents@localhost>\n");
    let status = env.run(&dir, &["status"]);
    assert!(status.stdout.starts_with("6 completed / 6 total"), "{status}");
}

#[test]
fn a_configured_identity_is_used_and_nothing_is_said() {
    let env = TestEnv::new();
    let dir = env.root().join("demo");
    let out = env.run(env.root(), &["demo", "--dir", &dir.display().to_string()]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stderr.contains("no git identity"), "{out}");
}

#[test]
fn a_committer_alone_is_also_the_author() {
    let mut env = TestEnv::new();
    env.identity = false;
    let dir = env.root().join("demo");
    let me = [
        ("GIT_COMMITTER_NAME", "Only Me"),
        ("GIT_COMMITTER_EMAIL", "me@example.com"),
    ];
    let out = env.run_with(env.root(), &["demo", "--dir", &dir.display().to_string()], &me);
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stderr.contains("no git identity"), "{out}");
    let merge = env.git(&dir, &["log", "-1", "--format=%cn", "main"]);
    assert_eq!(merge, "Only Me\n");
}
