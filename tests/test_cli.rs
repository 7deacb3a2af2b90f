//! The command line as a whole: help, unbuilt commands, and finding the
//! repository from subfolders, linked worktrees, GIT_DIR and bare repos.

use crate::common::TestEnv;

#[test]
fn help_lists_the_whole_command_surface() {
    let env = TestEnv::new();
    let out = env.run(env.root(), &["--help"]);
    out.success();
    for cmd in [
        "init",
        "plan",
        "spawn",
        "claim",
        "done",
        "fail",
        "release",
        "heartbeat",
        "status",
        "log",
        "merge",
        "requeue",
        "unlock",
        "hook",
        "clean",
        "demo",
    ] {
        assert!(
            out.stdout.contains(&format!("\n  {cmd} ")),
            "{cmd} missing from help:\n{}",
            out.stdout
        );
    }
    insta::assert_snapshot!(out);
}

/// The subcommands the top-level help lists, `help` aside.
fn listed_commands(help: &str) -> Vec<String> {
    help.split("Commands:\n")
        .nth(1)
        .expect("a command list")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn every_subcommand_teaches_by_example() {
    let env = TestEnv::new();
    let help = env.run(env.root(), &["--help"]);
    let commands = listed_commands(&help.stdout);
    assert!(commands.len() > 15, "{commands:?}");
    for cmd in &commands {
        let out = env.run(env.root(), &[cmd.as_str(), "--help"]);
        out.success();
        let examples: Vec<&str> = out
            .stdout
            .split("\nExamples:\n\n")
            .nth(1)
            .unwrap_or_default()
            .lines()
            .take_while(|l| l.starts_with("  "))
            .collect();
        assert!(
            examples.iter().any(|l| l.contains("git agents ")),
            "`git agents {cmd} --help` has no example section, one example per line:\n{out}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    let out = env.run(env.root(), &["frobnicate"]);
    assert_eq!(out.code, 2, "{out}");
    let out = env.run(env.root(), &["plan", "--json", "--dot"]);
    assert_eq!(out.code, 2, "{out}");
}

#[test]
fn outside_a_repository() {
    let env = TestEnv::new();
    let out = env.run(env.root(), &["plan"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with("error: not inside a git repository\n"), "{out}");
    assert!(out.stderr.contains("hint: run git agents inside a repository"), "{out}");
}

#[test]
fn works_from_a_subfolder() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(crate::common::fixture("valid/two-waves.toml"), repo.join("agents.toml")).expect("copy");
    env.run(&repo.join("src/auth"), &["plan", "--yes"]).success();
    assert!(env.refs(&repo).contains("refs/agents/plan "));
}

#[test]
fn works_inside_a_linked_worktree_and_writes_shared_refs() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let wt = env.root().join("wt");
    env.git(
        &repo,
        &["worktree", "add", "-q", "-b", "side", wt.to_str().expect("utf8")],
    );
    std::fs::copy(crate::common::fixture("valid/two-waves.toml"), wt.join("agents.toml")).expect("copy");
    env.run(&wt, &["plan", "--yes"]).success();
    // The refs live in the common git dir, visible from the main worktree.
    let refs = env.refs(&repo);
    assert!(refs.contains("refs/agents/tasks/available/auth "), "{refs}");
}

#[test]
fn honours_git_dir() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::copy(crate::common::fixture("valid/two-waves.toml"), repo.join("agents.toml")).expect("copy");
    let git_dir = repo.join(".git");
    let work_tree = repo.to_str().expect("utf8");
    let out = env.run_with(
        env.root(),
        &["plan", "--yes", repo.join("agents.toml").to_str().expect("utf8")],
        &[
            ("GIT_DIR", git_dir.to_str().expect("utf8")),
            ("GIT_WORK_TREE", work_tree),
        ],
    );
    out.success();
    assert!(env.refs(&repo).contains("refs/agents/plan "));
}

#[test]
fn refuses_a_bare_repository() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let bare = env.root().join("bare.git");
    env.git(
        env.root(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.to_str().expect("utf8"),
            bare.to_str().expect("utf8"),
        ],
    );
    let out = env.run(&bare, &["plan"]);
    insta::assert_snapshot!(out, @r"
    ------- stderr -------
    error: this command needs a worktree, but the repository is bare
    hint: run it from a clone with a worktree, or add one with `git worktree add <path>`
    [exit status: 2]
    ");
}

#[test]
fn refuses_reftable_with_a_way_out() {
    let env = TestEnv::new();
    let path = env.root().join("rt");
    std::fs::create_dir_all(&path).expect("mkdir");
    env.git(&path, &["init", "-q", "--ref-format=reftable", "-b", "main"]);
    let out = env.run(&path, &["plan"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("reftable"), "{out}");
}

#[test]
fn global_options_are_listed_once_at_the_top_and_still_work_everywhere() {
    let env = TestEnv::new();
    let top = env.run(env.root(), &["--help"]);
    assert!(
        top.stdout.contains("--remote <NAME>") && top.stdout.contains("-q, --quiet"),
        "{top}"
    );
    let commands = listed_commands(&top.stdout);
    let mut helps = commands.iter().map(|c| vec![c.as_str()]).collect::<Vec<_>>();
    helps.push(vec!["hook", "install"]);
    for cmd in helps {
        for flag in ["--help", "-h"] {
            let args: Vec<&str> = cmd.iter().copied().chain([flag]).collect();
            let out = env.run(env.root(), &args);
            out.success();
            assert!(
                !out.stdout.contains("--remote <NAME>") && !out.stdout.contains("-q, --quiet"),
                "`git agents {}` repeats the global options:\n{out}",
                args.join(" ")
            );
            assert!(
                out.stdout
                    .contains("Global options: -q/--quiet, --remote NAME (see `git agents --help`)"),
                "`git agents {}` does not point at them:\n{out}",
                args.join(" ")
            );
        }
    }
    // Still accepted after a subcommand, and still acted on.
    let repo = env.basic_repo();
    let out = env.run(&repo, &["status", "--remote", "nosuch"]);
    assert_ne!(out.code, 0, "{out}");
    assert!(out.stderr.contains("nosuch"), "the remote was used: {out}");
    let out = env.run(&repo, &["hook", "install", "-q", "--remote", "nosuch"]);
    assert!(!out.stderr.contains("unexpected argument"), "{out}");
}
