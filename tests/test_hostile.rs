//! Hostile and outsized input: terminal escape sequences in task content,
//! a 1 MiB prompt, thousands of tasks. Each is handled or refused clearly;
//! nothing panics. (Ref-name and path tricks in ids and globs are invalid
//! plan fixtures: fixtures/plans/invalid/id-*.toml, owns-*.toml.)

use crate::common::{TestEnv, BIN};
use crate::test_concurrency::plan_with;

#[test]
fn escape_sequences_in_task_content_are_shown_not_obeyed() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let plan = r#"
[[task]]
id = "evil"
title = "retitle \u001b]0;pwned\u0007 and clear \u001b[2J"
owns = ["docs/**"]
prompt = "\u001b[8mhidden\u001b[0m"
"#;
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    let out = env.run(&repo, &["plan", "--yes"]);
    out.success();
    assert!(
        !out.stdout.contains('\u{1b}') && !out.stderr.contains('\u{1b}'),
        "{out}"
    );
    assert!(out.stdout.contains("retitle ^[]0;pwned^G and clear ^[[2J"), "{out}");
    env.run(&repo, &["claim", "evil", "--agent", "a"]).success();
    env.run(
        &repo,
        &[
            "fail",
            "evil",
            "--agent",
            "a",
            "--reason",
            "\u{1b}[31mred\u{1b}[0m\rover",
        ],
    )
    .success();
    for args in [&["status"][..], &["log", "evil"]] {
        let out = env.run(&repo, args);
        out.success();
        assert!(!out.stdout.contains(['\u{1b}', '\r', '\u{7}']), "{args:?}: {out}");
    }
    let log = env.run(&repo, &["log", "evil"]).stdout;
    assert!(log.contains("^[[31mred^[[0m^Mover"), "{log}");
    // Scripts get the exact text, escaped the JSON way.
    let json = env.run(&repo, &["status", "--json"]).stdout;
    assert!(json.contains(r"\u001b[31mred"), "{json}");
}

#[test]
fn a_one_mebibyte_prompt_goes_by_file_and_is_refused_as_an_argument() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let mut prompt = String::from("agent: write docs/big.md done\n");
    while prompt.len() < 1 << 20 {
        prompt.push_str("All work and no play makes a long prompt.\n");
    }
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n[[task]]\nid = \"big\"\nowns = [\"docs/**\"]\nprompt = '''\n{prompt}'''\n"
    );
    std::fs::write(repo.join("agents.toml"), plan).expect("plan");
    env.git(&repo, &["update-index", "--refresh"]);
    env.run(&repo, &["plan", "--yes", "-q"]).success();

    // As an argument it cannot work: the task is blocked, saying why and what to do.
    let out = env.run(
        &repo,
        &["spawn", "1", "--", "sh", "-c", "echo \"$1\"", "agent", "{prompt}"],
    );
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("1 task(s) blocked: big"), "{out}");
    let status = env.run(&repo, &["status"]);
    assert!(status.stdout.contains("blocked"), "{status}");
    let log = env.run(&repo, &["log", "big"]).stdout;
    assert!(log.contains("more than one argument may hold (128 KiB)"), "{log}");
    assert!(log.contains("{brief_file}"), "{log}");

    // Through the brief file it works.
    env.run(&repo, &["requeue", "big", "-q"]).success();
    let out = env.run(&repo, &["spawn", "1", "-q"]);
    out.success();
    assert!(env.run(&repo, &["status"]).stdout.starts_with("1 completed / 1 total"));
    assert_eq!(env.git(&repo, &["show", "agents/big:docs/big.md"]), "done\n");
}

#[test]
fn three_thousand_tasks_are_planned_listed_and_claimed() {
    let env = TestEnv::new();
    let repo = env.planned_repo(&plan_with(3000));
    let out = env.run(&repo, &["claim", "--next", "--agent", "a"]);
    assert_eq!(out.stdout, "t000\n", "{out}");
    env.run(&repo, &["done", "t000", "--agent", "a"]).success();
    let status = env.run(&repo, &["status"]);
    status.success();
    assert!(status.stdout.starts_with("1 completed / 3000 total"), "{status}");
    assert_eq!(status.stdout.lines().filter(|l| l.contains("available")).count(), 2999);
}
