//! `git agents demo`: the whole flow on a throw-away repository, with the
//! built-in scripted agent, so it runs anywhere without an AI.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::error::{Context as _, Error, Result};
use crate::session::Session;
use crate::state::TaskState;
use crate::ui::Ui;

/// Run the whole workflow on a throw-away repository
///
/// Creates a small repository (in a temporary folder, or --dir), writes a
/// plan of six tasks in two waves, records it, spawns three scripted agents
/// (one task fails once and is retried), shows the status, and merges the
/// work into main with a test after each merge. Nothing outside that folder
/// is touched: the agents' worktrees are inside it too (.git/agents/worktrees).
/// A temporary folder is removed at the end (kept, and named, when the demo
/// fails); a --dir folder is kept for you to look around.
///
/// Examples:
///
///   git agents demo
///   git agents demo --json | jq .tasks
///   git agents demo --dir /tmp/agents-demo && cd /tmp/agents-demo && git log --oneline --graph --all
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DemoArgs {
    /// Where to create the demo repository (must not exist or be empty)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print the outcome as JSON (tasks done, failed, retried; the merge; where the repository is)
    #[arg(long)]
    pub json: bool,
}

const FILES: &[(&str, &str)] = &[
    ("README.md", "# calculator\n\nA tiny project for the git-agents demo.\n"),
    ("src/lib.rs", "pub mod ops;\n"),
    ("src/ops/mod.rs", "// operations are added by the agents\n"),
    ("tests/.keep", ""),
    (".gitignore", "/target\n"),
];

/// The plan's `test`: what `merge` runs after each merge.
const MERGE_TEST: &str = "test -f src/lib.rs && ! grep -rq '^<<<<<<<' src tests docs";

/// Where the demo keeps the agents' worktrees: inside its own folder (the
/// default is a sibling `<dir>.agents`, outside it), and inside `.git`, so
/// the demo repository's checkout never sees them as untracked files.
const WORKTREES: &str = ".git/agents/worktrees";

fn plan(agent: &str) -> String {
    let task = |id: &str, title: &str, owns: &str, deps: &str, test: &str, script: &str| {
        format!(
            "[[task]]\nid = \"{id}\"\ntitle = \"{title}\"\nowns = [{owns}]\ndepends_on = [{deps}]\ntest = \"{test}\"\nprompt = '''\n{title}.\n{script}\n'''\n\n"
        )
    };
    let mut out = format!(
        "# The demo plan: six tasks in two waves, run by a scripted agent.\nbase = \"main\"\n# merge runs this after each merge\ntest = \"{MERGE_TEST}\"\n\n[agent]\ncommand = [\"{agent}\", \"scripted-agent\"]\nmax_attempts = 2\nlease = \"10m\"\n\n"
    );
    for (op, sym) in [("add", "+"), ("sub", "-"), ("mul", "*")] {
        out.push_str(&task(
            op,
            &format!("Implement {op}"),
            &format!("\"src/ops/{op}.rs\""),
            "",
            &format!("grep -q 'fn {op}' src/ops/{op}.rs"),
            &format!(
                "agent: write src/ops/{op}.rs pub fn {op}(a: i64, b: i64) -> i64 {{ a {sym} b }}\nagent: commit {op}: implement"
            ),
        ));
    }
    out.push_str(&task(
        "div",
        "Implement div",
        "\"src/ops/div.rs\"",
        "",
        "grep -q 'fn div' src/ops/div.rs",
        "agent: fail-once\nagent: write src/ops/div.rs pub fn div(a: i64, b: i64) -> Option<i64> { a.checked_div(b) }",
    ));
    out.push_str(&task(
        "tests",
        "Test every operation",
        "\"tests/ops.rs\"",
        "\"add\", \"sub\", \"mul\", \"div\"",
        "test -f src/ops/add.rs && test -f src/ops/div.rs && test -f tests/ops.rs",
        "agent: write tests/ops.rs // one test per operation\nagent: commit tests: cover every operation",
    ));
    out.push_str(&task(
        "docs",
        "Document the operations",
        "\"docs/**\"",
        "\"add\", \"sub\", \"mul\", \"div\"",
        "test -s docs/ops.md",
        "agent: write docs/ops.md add, sub, mul and div, with div returning None on zero",
    ));
    out
}

/// `demo --json`: how the run went and where its repository is.
#[derive(Serialize)]
struct Report {
    /// The demo repository; null once a temporary one is removed.
    repo: Option<String>,
    kept: bool,
    ok: bool,
    tasks: Tally,
    merge: Option<crate::merge::Outcome>,
    /// Why the demo stopped, when it did.
    error: Option<String>,
}

/// The tasks at the end of the run.
#[derive(Serialize, Default)]
struct Tally {
    total: usize,
    /// Done or merged.
    done: usize,
    /// Failed at least once and not done (still available).
    failed: usize,
    blocked: usize,
    /// Done after at least one failed attempt.
    retried: Vec<String>,
}

pub fn run(args: &DemoArgs, session: &Session) -> Result<()> {
    let ui = session.ui;
    // The demo runs git before it has a repository to open.
    crate::process::check_git_version()?;
    let temporary = args.dir.is_none();
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("git-agents-demo-{}", std::process::id())),
    };
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::usage(format!("{} exists and is not empty", dir.display()))
            .hint("pick another folder with `--dir`, or remove that one"));
    }
    let existed = dir.exists();
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .context(|| format!("cannot resolve {}", dir.display()))?;
    // With --json the steps tell their story on stderr; stdout is the JSON.
    let steps = if args.json { ui.results_on_stderr() } else { ui.clone() };
    let mut merge = None;
    let result = play(&dir, &session.with_ui(&steps), &mut merge);
    let tasks = tally(&dir, session);
    let kept = !temporary || result.is_err();
    if !kept {
        // Out of the folder before it goes (the demo entered it).
        let _ = std::env::set_current_dir(std::env::temp_dir());
        let removed = if existed {
            // Only what the demo made: the folder was empty.
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .try_for_each(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    }
                })
        } else {
            std::fs::remove_dir_all(&dir)
        };
        if let Err(e) = removed {
            ui.warn(&format!("cannot remove the demo repository {}: {e}", dir.display()));
        }
    }
    let shown = dir.display().to_string();
    if args.json {
        ui.json(&Report {
            repo: kept.then(|| shown.clone()),
            kept,
            ok: result.is_ok(),
            tasks,
            merge,
            error: result.as_ref().err().map(|e| e.message.clone()),
        });
    } else if result.is_ok() && !kept {
        ui.status(&format!(
            "\nDone. The demo repository was temporary and is removed; to keep one and look around:\n  git agents demo --dir {}",
            std::env::temp_dir().join("agents-demo").display()
        ));
    } else if result.is_ok() {
        ui.status(&format!(
            "\nDone. The demo repository is in {shown}: `cd {shown}` and look around \
             (`git log --oneline --graph --notes=agents main`; `git agents log div` shows the retry)"
        ));
    } else {
        ui.status(&format!(
            "\nThe demo stopped; its repository is kept in {shown} for a look."
        ));
    }
    result
}

/// Every step of the demo in `dir` (new and empty); the merge's outcome
/// goes to `merge` even when the merge stops.
fn play(dir: &std::path::Path, session: &Session, merge: &mut Option<crate::merge::Outcome>) -> Result<()> {
    create_repo(dir, session.ui)?;
    std::env::set_current_dir(dir).context(|| format!("cannot enter {}", dir.display()))?;
    record_plan(session)?;
    spawn_and_show(session)?;
    merge_work(session, merge)
}

/// The demo repository in `dir`: its first commit holds the files and the plan.
fn create_repo(dir: &std::path::Path, ui: &Ui) -> Result<()> {
    let exe = std::env::current_exe().context(|| "cannot find the git-agents program".into())?;
    ui.status(&format!("==> creating a demo repository in {}", dir.display()));
    let git = |args: &[&str]| crate::process::git_in(dir, args);
    git(&["init", "-q", "-b", "main"])?;
    git(&["config", "agents.worktreeDir", WORKTREES])?;
    for (path, text) in FILES {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&full, text).context(|| format!("cannot write {}", full.display()))?;
    }
    std::fs::write(dir.join("agents.toml"), plan(&exe.display().to_string()))
        .context(|| "cannot write agents.toml".into())?;
    git(&["add", "-A"])?;
    git(&[
        "-c",
        "user.name=git-agents demo",
        "-c",
        "user.email=demo@git-agents.invalid",
        "commit",
        "-q",
        "-m",
        "calculator skeleton",
    ])?;
    Ok(())
}

fn record_plan(session: &Session) -> Result<()> {
    let ui = session.ui;
    ui.status("\n==> git agents plan --yes");
    super::plan::run(
        &super::plan::PlanArgs {
            file: None,
            yes: true,
            json: false,
            dot: false,
            force: false,
            from: None,
            drafting: Default::default(),
            write: None,
        },
        session,
    )
}

/// Spawns three agents, then shows the status, also when spawn failed.
fn spawn_and_show(session: &Session) -> Result<()> {
    let ui = session.ui;
    ui.status("\n==> git agents spawn 3");
    let spawned = super::spawn::run(
        &super::spawn::SpawnArgs {
            count: 3,
            agent: None,
            name_prefix: "agent-".into(),
            timeout: Some("1m".parse().expect("a duration")),
            grace: "5s".parse().expect("a duration"),
            dry_run: false,
            json: false,
            tmux: false,
            command: Vec::new(),
        },
        session,
    );
    ui.status("\n==> git agents status");
    super::status::run(
        &super::status::StatusArgs {
            json: false,
            markdown: false,
            watch: false,
            interval: "2s".parse().expect("a duration"),
        },
        session,
    )?;
    spawned
}

/// Merges the work; its outcome goes to `merge` even when the merge stops.
fn merge_work(session: &Session, merge: &mut Option<crate::merge::Outcome>) -> Result<()> {
    let ui = session.ui;
    // The test is the plan's, so the command line does not repeat it.
    ui.status("\n==> git agents merge");
    let (outcome, result) = super::merge::merge_and_report(
        &super::merge::MergeArgs {
            test: None,
            squash: false,
            into: None,
            dry_run: false,
            force: false,
            continue_: false,
            abort: false,
            retries: None,
            no_cache: false,
            batch: None,
            json: false,
        },
        session,
        false,
    )?;
    *merge = outcome;
    result
}

/// The tasks' states at the end, read from refs/agents (nothing when the
/// demo stopped before a plan was recorded).
fn tally(dir: &std::path::Path, session: &Session) -> Tally {
    let Ok(repo) = gix::open(dir) else {
        return Tally::default();
    };
    // Read here, not through a remote: the demo's repository has none.
    let repo = crate::state::Store::offline(repo, session.settings());
    let Ok(snap) = crate::state::snapshot(&repo) else {
        return Tally::default();
    };
    let mut tally = Tally {
        total: snap.tasks.len(),
        ..Tally::default()
    };
    for (id, t) in &snap.tasks {
        let failures = crate::state::TaskRecord::read(&repo, t.oid).map_or(0, |r| r.attempts);
        match t.state {
            TaskState::Done | TaskState::Merged => {
                tally.done += 1;
                if failures > 0 {
                    tally.retried.push(id.clone());
                }
            }
            TaskState::Blocked => tally.blocked += 1,
            _ if failures > 0 => tally.failed += 1,
            _ => {}
        }
    }
    tally
}
