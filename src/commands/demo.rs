//! `git agents demo`: the whole flow on a throw-away repository, with the
//! built-in scripted agent, so it runs anywhere without an AI.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Context as _, Error, Result};
use crate::ui::Ui;

/// Run the whole workflow on a throw-away repository
///
/// Creates a small repository (in a temporary folder, or --dir), writes a
/// plan of six tasks in two waves, records it, spawns three scripted agents
/// (one task fails once and is retried), shows the status, and merges the
/// work into main with a test after each merge. Nothing outside that folder
/// is touched.
///
/// Examples:
///
///   git agents demo
///   git agents demo --dir /tmp/agents-demo && cd /tmp/agents-demo && git log --oneline --graph --all
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DemoArgs {
    /// Where to create the demo repository (must not exist or be empty)
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

const FILES: &[(&str, &str)] = &[
    ("README.md", "# calculator\n\nA tiny project for the git-agents demo.\n"),
    ("src/lib.rs", "pub mod ops;\n"),
    ("src/ops/mod.rs", "// operations are added by the agents\n"),
    ("tests/.keep", ""),
    (".gitignore", "/target\n"),
];

fn plan(agent: &str) -> String {
    let task = |id: &str, title: &str, owns: &str, deps: &str, test: &str, script: &str| {
        format!(
            "[[task]]\nid = \"{id}\"\ntitle = \"{title}\"\nowns = [{owns}]\ndepends_on = [{deps}]\ntest = \"{test}\"\nprompt = '''\n{title}.\n{script}\n'''\n\n"
        )
    };
    let mut out = format!(
        "# The demo plan: six tasks in two waves, run by a scripted agent.\nbase = \"main\"\n\n[agent]\ncommand = [\"{agent}\", \"scripted-agent\"]\nmax_attempts = 2\nlease = \"10m\"\n\n"
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

pub fn run(args: &DemoArgs, ui: &Ui) -> Result<()> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("git-agents-demo-{}", std::process::id())),
    };
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::usage(format!("{} exists and is not empty", dir.display()))
            .hint("pick another folder with `--dir`, or remove that one"));
    }
    std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .context(|| format!("cannot resolve {}", dir.display()))?;
    let exe = std::env::current_exe().context(|| "cannot find the git-agents program".into())?;

    ui.status(&format!("==> creating a demo repository in {}", dir.display()));
    let git = |args: &[&str]| crate::process::git_in(&dir, args);
    git(&["init", "-q", "-b", "main"])?;
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
    std::env::set_current_dir(&dir).context(|| format!("cannot enter {}", dir.display()))?;

    ui.status("\n==> git agents plan --yes");
    super::plan::run(
        &super::plan::PlanArgs {
            file: None,
            yes: true,
            json: false,
            dot: false,
            force: false,
            from: None,
            write: None,
        },
        ui,
    )?;
    ui.status("\n==> git agents spawn 3");
    let spawned = super::spawn::run(
        &super::spawn::SpawnArgs {
            count: 3,
            agent: None,
            name_prefix: "agent-".into(),
            timeout: Some("1m".into()),
            grace: "5s".into(),
            dry_run: false,
            command: Vec::new(),
        },
        ui,
    );
    ui.status("\n==> git agents status");
    super::status::run(
        &super::status::StatusArgs {
            json: false,
            markdown: false,
            watch: false,
            interval: "2s".into(),
        },
        ui,
    )?;
    spawned?;
    let test = "test -f src/lib.rs && ! grep -rq '^<<<<<<<' src tests docs";
    ui.status(&format!("\n==> git agents merge --test \"{test}\""));
    super::merge::run(
        &super::merge::MergeArgs {
            test: Some(test.into()),
            squash: false,
            into: None,
            dry_run: false,
            force: false,
            continue_: false,
            abort: false,
            retries: None,
            no_cache: false,
            json: false,
        },
        ui,
    )?;
    ui.status(&format!(
        "\nDone. Look around:\n  cd {}\n  git log --oneline --graph --notes=agents main\n  git agents log div",
        dir.display()
    ));
    Ok(())
}
