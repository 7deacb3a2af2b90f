//! `git agents demo`: the whole flow on a throw-away repository.

use crate::common::TestEnv;

/// What the demo printed, with what varies from run to run taken out: the
/// order in which agents finish their tasks (only the retry's two lines are
/// kept of the agents' events), which agent took which task, times, commit
/// ids, and on a terminal the live lines (spinners) and screen control.
fn steady(text: &str) -> String {
    let mut out = String::new();
    for line in text.split(['\n', '\r']) {
        let line = strip_escapes(line);
        let spinner = line.chars().any(|c| ('\u{2800}'..='\u{28ff}').contains(&c));
        let event = line.starts_with("agent-") && !line.contains("will be retried") && !line.contains("(attempt 2)");
        if spinner || event || (line.is_empty() && out.ends_with("\n\n")) {
            continue;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `line` without CSI sequences (`ESC [ … letter`).
fn strip_escapes(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

macro_rules! assert_steady_snapshot {
    ($value:expr, @$snapshot:literal) => {
        insta::with_settings!({filters => vec![
            (r"agent-\d", "agent-N"),
            (r"\d+\.\ds", "[T]"),
            (r"\d+\.\dx", "[N]x"),
            (r"\b[0-9a-f]{7}\b", "[COMMIT]"),
            (r"(?m)^  per task: .*\(2 attempts\).*$", "  per task: [the spawn's, in the order they ended]"),
        ]}, {
            insta::assert_snapshot!($value, @$snapshot);
        });
    };
}

#[test]
fn the_demo_runs_the_whole_flow() {
    let env = TestEnv::new();
    let dir = env.root().join("demo");
    let out = env.run(env.root(), &["demo", "--dir", dir.to_str().expect("utf8")]);
    out.success();
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
    // Nothing outside the folder: the worktrees are inside it, no `demo.agents` beside it.
    let beside: Vec<_> = std::fs::read_dir(env.root())
        .expect("root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!beside.iter().any(|n| n.starts_with("demo.")), "{beside:?}");
    let worktrees = env.git(&dir, &["worktree", "list", "--porcelain"]);
    for line in worktrees.lines().filter_map(|l| l.strip_prefix("worktree ")) {
        assert!(std::path::Path::new(line).starts_with(&dir), "{worktrees}");
    }
    assert_eq!(
        env.git(&dir, &["status", "--porcelain"]),
        "",
        "the checkout sees none of it"
    );
    // A task with dependencies starts from one commit: the base, then each
    // dependency's head, as parents.
    let record = env.git(&dir, &["show", "refs/agents/tasks/merged/docs:task.toml"]);
    let start = record
        .lines()
        .find_map(|l| l.strip_prefix("start = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("start recorded");
    assert_eq!(
        env.git(&dir, &["log", "-1", "--format=%s", start]),
        "start docs: on main with agents/add, agents/sub, agents/mul, agents/div\n"
    );
    let parents = env.git(&dir, &["log", "-1", "--format=%P", start]);
    let heads: Vec<String> = ["add", "sub", "mul", "div"]
        .iter()
        .map(|t| {
            let record = env.git(&dir, &["show", &format!("refs/agents/tasks/merged/{t}:task.toml")]);
            record
                .lines()
                .find_map(|l| l.strip_prefix("head = \""))
                .and_then(|l| l.strip_suffix('"'))
                .expect("head")
                .to_string()
        })
        .collect();
    let parents: Vec<&str> = parents.split_whitespace().collect();
    assert_eq!(parents.len(), 5, "{parents:?}");
    assert_eq!(parents[1..], heads.iter().map(String::as_str).collect::<Vec<_>>()[..]);
    assert_eq!(
        env.git(&dir, &["rev-list", "--count", &format!("{start}..agents/docs")]),
        "1\n",
        "docs made one commit of its own"
    );
    assert_steady_snapshot!(steady(&out.to_string()), @"
    6 tasks in 2 waves, base `main` (6 tracked files)

    wave 1
      add    new files  Implement add
      sub    new files  Implement sub
      mul    new files  Implement mul
      div    new files  Implement div

    wave 2
      tests  new files  Test every operation  after add, sub, mul, div
      docs   new files  Document the operations  after add, sub, mul, div

    4 tasks can run at once; the longest dependency chain has 2 tasks
    6 completed / 6 total (0 in progress, 0 failed, 0 blocked)
    6 completed / 6 total (0 in progress, 0 failed, 0 blocked)

      agent-N  idle
      agent-N  idle
      agent-N  idle

      add    done  agent-N  agents/add    +1
      sub    done  agent-N  agents/sub    +1
      mul    done  agent-N  agents/mul    +1
      div    done  agent-N  agents/div    +1
      tests  done  agent-N  agents/tests  +1
      docs   done  agent-N  agents/docs   +1
    landed add as [COMMIT] in [T]
    landed sub as [COMMIT] in [T]
    landed mul as [COMMIT] in [T]
    landed div as [COMMIT] in [T]
    landed tests as [COMMIT] in [T]
    landed docs as [COMMIT] in [T]
    ------- stderr -------
    ==> creating a demo repository in [ROOT]/demo

    ==> git agents plan --yes
    recorded plan [COMMIT] in refs/agents/plan: 6 added, 0 changed, 0 dropped

    ==> git agents spawn 3
    agent-N: div: failed, will be retried: agent exited with code 1: error: failing the first attempt, as scripted
    agent-N: div: working (attempt 2)
    summary: 6 done, 1 retried, 0 blocked; agent time [T] in [T] of wall time ([N]x in parallel)
      per task: [the spawn's, in the order they ended]
    next: `git agents merge` lands the done tasks, testing each with the plan's test

    ==> git agents status

    ==> git agents merge
    testing each merge with `test -f src/lib.rs && ! grep -rq '^<<<<<<<' src tests docs`
    [1/6] add: merging agents/add into main
    [1/6] add: testing
    [2/6] sub: merging agents/sub into main
    [2/6] sub: testing
    [3/6] mul: merging agents/mul into main
    [3/6] mul: testing
    [4/6] div: merging agents/div into main
    [4/6] div: testing
    [5/6] tests: merging agents/tests into main
    [5/6] tests: testing
    [6/6] docs: merging agents/docs into main
    [6/6] docs: testing
    summary: 6 landed, nothing stopped; [T] in all
      per task: add [T], sub [T], mul [T], div [T], tests [T], docs [T]

    Done. The demo repository is in [ROOT]/demo: `cd [ROOT]/demo` and look around (`git log --oneline --graph --notes=agents main`; `git agents log div` shows the retry)
    [exit status: 0]
    ");
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
    assert_steady_snapshot!(steady(&out.to_string()), @"
    ==> creating a demo repository in [ROOT]/demo

    ==> git agents plan --yes
    6 tasks in 2 waves, base `main` (6 tracked files)

    wave 1
      add    new files  Implement add
      sub    new files  Implement sub
      mul    new files  Implement mul
      div    new files  Implement div

    wave 2
      tests  new files  Test every operation  after add, sub, mul, div
      docs   new files  Document the operations  after add, sub, mul, div

    4 tasks can run at once; the longest dependency chain has 2 tasks
    recorded plan [COMMIT] in refs/agents/plan: 6 added, 0 changed, 0 dropped

    ==> git agents spawn 3
    agent-N: div: failed, will be retried: agent exited with code 1: error: failing the first attempt, as scripted
    agent-N: div: working (attempt 2)
    summary: 6 done, 1 retried, 0 blocked; agent time [T] in [T] of wall time ([N]x in parallel)
      per task: [the spawn's, in the order they ended]
    next: `git agents merge` lands the done tasks, testing each with the plan's test
    6 completed / 6 total (0 in progress, 0 failed, 0 blocked)

    ==> git agents status
    6 completed / 6 total (0 in progress, 0 failed, 0 blocked)

      agent-N  idle
      agent-N  idle
      agent-N  idle

      add    done  agent-N  agents/add    +1
      sub    done  agent-N  agents/sub    +1
      mul    done  agent-N  agents/mul    +1
      div    done  agent-N  agents/div    +1
      tests  done  agent-N  agents/tests  +1
      docs   done  agent-N  agents/docs   +1

    ==> git agents merge
    testing each merge with `test -f src/lib.rs && ! grep -rq '^<<<<<<<' src tests docs`
    landed add as [COMMIT] in [T]
    landed sub as [COMMIT] in [T]
    landed mul as [COMMIT] in [T]
    landed div as [COMMIT] in [T]
    landed tests as [COMMIT] in [T]
    landed docs as [COMMIT] in [T]
    summary: 6 landed, nothing stopped; [T] in all
      per task: add [T], sub [T], mul [T], div [T], tests [T], docs [T]

    Done. The demo repository is in [ROOT]/demo: `cd [ROOT]/demo` and look around (`git log --oneline --graph --notes=agents main`; `git agents log div` shows the retry)
    [exit status: 0]
    ");
}

/// Without --dir the demo's repository is temporary: nothing of it is left.
#[test]
fn a_temporary_demo_leaves_nothing_behind() {
    let env = TestEnv::new();
    let tmp = env.root().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    let out = env.run_with(env.root(), &["demo"], &[("TMPDIR", tmp.to_str().expect("utf8"))]);
    out.success();
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(
        out.stderr.contains("The demo repository was temporary and is removed"),
        "{out}"
    );
}

/// `demo --json`: stdout is one JSON document with the outcome.
#[test]
fn demo_json_reports_the_outcome() {
    let env = TestEnv::new();
    let dir = env.root().join("demo");
    let out = env.run(env.root(), &["demo", "--json", "--dir", dir.to_str().expect("utf8")]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("stdout is only the JSON");
    assert_eq!(json["ok"], true, "{out}");
    assert_eq!(json["kept"], true, "{out}");
    assert_eq!(json["repo"], dir.canonicalize().expect("dir").display().to_string());
    assert_eq!(json["tasks"]["total"], 6, "{out}");
    assert_eq!(json["tasks"]["done"], 6, "{out}");
    assert_eq!(json["tasks"]["failed"], 0, "{out}");
    assert_eq!(json["tasks"]["blocked"], 0, "{out}");
    assert_eq!(json["tasks"]["retried"], serde_json::json!(["div"]), "{out}");
    assert_eq!(json["merge"]["landed"].as_array().map(Vec::len), Some(6), "{out}");
    assert_eq!(json["merge"]["stop"], serde_json::Value::Null, "{out}");
    // The story still goes to stderr.
    assert!(out.stderr.contains("landed docs as "), "{out}");
}
