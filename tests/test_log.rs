//! `git agents log`: one task's history, or every task's as one timeline,
//! narrowed by --since and --agent.

use crate::common::TestEnv;
use crate::test_concurrency::plan_with;

/// Runs `args` with the clock at `secs` (seconds since the epoch).
fn at(env: &TestEnv, repo: &std::path::Path, secs: &str, args: &[&str]) {
    env.run_with(repo, args, &[("GIT_AGENTS_NOW", secs)]).success();
}

#[test]
fn the_whole_run_reads_as_one_timeline() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(3));
    let at = |secs: &str, args: &[&str]| at(&env, &repo, secs, args);
    at("1767225600", &["claim", "t001", "--agent", "bob"]);
    at("1767225660", &["claim", "t000", "--agent", "ann"]);
    at("1767229200", &["done", "t000", "--agent", "ann"]);
    at(
        "1767232800",
        &["fail", "t001", "--agent", "bob", "--reason", "tests red"],
    );

    let log = |args: &[&str]| env.run_with(&repo, args, &[("GIT_AGENTS_NOW", "1767232800")]);
    insta::assert_snapshot!(log(&["log"]), @"
    2026-01-01 00:00:00 +0000  t001  claimed    by bob
    2026-01-01 00:01:00 +0000  t000  claimed    by ann
    2026-01-01 01:00:00 +0000  t000  done       by ann
    2026-01-01 02:00:00 +0000  t001  available  failed by bob: tests red
    [exit status: 0]
    ");
    insta::assert_snapshot!(log(&["log", "--agent", "bob"]), @"
    2026-01-01 00:00:00 +0000  t001  claimed    by bob
    2026-01-01 02:00:00 +0000  t001  available  failed by bob: tests red
    [exit status: 0]
    ");
    insta::assert_snapshot!(log(&["log", "--since", "90m"]), @"
    2026-01-01 01:00:00 +0000  t000  done       by ann
    2026-01-01 02:00:00 +0000  t001  available  failed by bob: tests red
    [exit status: 0]
    ");
    // One task's history: each line says its state once, with who and why.
    insta::assert_snapshot!(log(&["log", "t001"]), @"
    (plan)                     available  added to the plan
    2026-01-01 00:00:00 +0000  claimed    by bob
    2026-01-01 02:00:00 +0000  available  failed by bob: tests red
    [exit status: 0]
    ");
    let json: serde_json::Value = serde_json::from_str(&log(&["log", "--json"]).stdout).expect("json");
    let tasks: Vec<&str> = json
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["task"].as_str())
        .collect();
    assert_eq!(tasks, ["t001", "t000", "t000", "t001"]);
    let bad = log(&["log", "--since", "yesterday"]);
    assert_eq!(bad.code, 2, "{bad}");
}

#[test]
fn status_as_a_markdown_report() {
    let env = TestEnv::new();
    let plan = format!("[agent]\nmax_attempts = 1\n\n{}", plan_with(4));
    let repo = env.planned_repo(&plan);
    let at = |secs: &str, args: &[&str]| at(&env, &repo, secs, args);
    at("1767225600", &["claim", "t000", "--agent", "ann"]);
    at("1767225600", &["claim", "t001", "--agent", "bob"]);
    at("1767229200", &["done", "t000", "--agent", "ann"]);
    at(
        "1767229200",
        &["fail", "t001", "--agent", "bob", "--reason", "tests | red"],
    );
    at("1767229200", &["claim", "t002", "--agent", "bob"]);
    let out = env.run_with(&repo, &["status", "--markdown"], &[("GIT_AGENTS_NOW", "1767232800")]);
    insta::assert_snapshot!(out, @r#"
    # Agent run status

    **1 completed / 4 total (1 in progress, 0 failed, 1 blocked)** as of 2026-01-01 02:00:00 +0000

    ## Overview

    | state | tasks |
    |---|---:|
    | merged | 0 |
    | done, not merged | 1 |
    | in progress | 1 |
    | available | 1 |
    | blocked | 1 |

    ## Agents

    | agent | working on | claimed | lease |
    |---|---|---|---|
    | ann | idle |  |  |
    | bob | t002 | 1h ago | **stale**, expired 30m ago |

    ## Tasks

    | task | state | agent | branch | commits | attempts |
    |---|---|---|---|---:|---:|
    | t000 | done | ann | `agents/t000` |  | 1 |
    | t001 | **blocked** |  |  |  | 1 |
    | t002 | claimed (**stale**) | bob | `agents/t002` |  | 1 |
    | t003 | available |  |  |  | 0 |

    ## Blocked

    - **t001** after 1 attempt(s): tests \| red

    ## Next steps

    - fix the cause of each blocked task (`git agents log TASK`), then `git agents requeue TASK`
    - free the stale claims: `git agents unlock --stale`
    - merge the done tasks into main: `git agents merge --test "…"`
    - wait for the 1 task(s) in progress
    [exit status: 0]
    "#);
}

#[test]
fn status_watch_redraws_until_q_and_reports_per_interval_into_a_pipe() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(2));
    env.run(&repo, &["claim", "t000", "--agent", "ann"]).success();
    // Into a pipe: one plain report per interval, until interrupted.
    let watch = env
        .command(crate::common::BIN, &repo)
        .args(["status", "--watch", "--interval", "1s"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("watch");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    #[allow(unsafe_code)]
    // SAFETY: kill(2) on the child we started; no memory is involved.
    unsafe {
        libc::kill(watch.id() as libc::pid_t, libc::SIGINT);
    }
    let out = watch.wait_with_output().expect("wait");
    assert!(out.status.success(), "Ctrl-C ends it cleanly");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.matches("--- ").count() >= 2, "{text}");
    assert!(text.contains("now working:\n  ann  t000  "), "{text}");
    assert!(!text.contains('\u{1b}'), "no screen control into a pipe: {text}");
    // On a terminal: redrawn in place, and q quits.
    let out = env.run_in_terminal(&repo, &["status", "--watch"], "q");
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("\u{1b}[H\u{1b}[2J0 completed / 2 total (1 in progress"),
        "{out}"
    );
    assert!(out.stdout.contains("q or Ctrl-C quits"), "{out}");
}
