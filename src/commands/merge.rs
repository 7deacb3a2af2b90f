//! `git agents merge`: integrate done tasks into the base, testing each.

use clap::Args;

use crate::error::{Error, Exit, Result};
use crate::merge::{self, Options, Stop};
use crate::protocol::Context;
use crate::session::Session;
use crate::state::Store;
use crate::ui::Ui;

/// Merge finished tasks into the base, testing after each
///
/// Takes the done tasks in dependency order (then plan order) and merges
/// each task branch into the target (the plan's base, or --into): a merge
/// commit, or with --squash one commit `<task>: <title>`. After each merge
/// the test command (--test, else the plan's `test`) runs in an integration
/// worktree; only a green merge lands, and the target moves to it by
/// compare-and-swap (fast-forwarded in your worktree when it is checked out
/// there and clean). The task becomes merged and the commit gets a note on
/// refs/notes/agents (`git log --notes=agents`).
///
/// What lands is the commit each task recorded at `done` (what was
/// checked): a task whose branch moved since, or whose change touches files
/// outside its `owns`, is refused and left done, with the reason, and so
/// are the tasks that depend on it (exit 1 after the rest landed).
///
/// The first conflict stops the run with exit 3, the first red test with
/// exit 4, each with a report naming the task, the files and the next
/// commands. What landed stays landed. The stopped merge waits in the
/// integration worktree: resolve and commit there, then --continue, which
/// tests the resolution and goes on with the options the stopped run had
/// (an option given again overrides, and says so); or --abort.
///
/// With --batch N (or `git config agents.mergeBatch N`) up to N tasks are
/// merged one after another and the test runs once, on the last merge: a
/// green batch lands in one move of the target; a red one is bisected to
/// the first task whose merge turns the test red, the green tasks before it
/// land and the run stops there (exit 4). --batch auto starts at 2,
/// doubles after a green batch, halves after a red one, up to 32. Use it
/// for a slow suite; with a flaky one every red run costs a bisection.
///
/// Examples:
///
///   git agents merge --test "cargo test"
///   git agents merge --test "cargo test" --batch auto
///   git agents merge --dry-run --batch 8
///   git agents merge --squash --into release
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct MergeArgs {
    /// Run this command after each merge; stop when it fails
    #[arg(long)]
    pub test: Option<String>,
    /// Squash each task into one commit
    #[arg(long)]
    pub squash: bool,
    /// The branch to merge into (default: the plan's base)
    #[arg(long)]
    pub into: Option<String>,
    /// Compute every merge in memory and report; move nothing, run no test
    #[arg(long)]
    pub dry_run: bool,
    /// Take over from a merge whose process is gone (killed or crashed)
    #[arg(long)]
    pub force: bool,
    /// Land the stopped task's resolution (committed in the integration worktree) and go on
    #[arg(long = "continue", conflicts_with_all = ["abort", "dry_run", "into"])]
    pub continue_: bool,
    /// Give up the stopped merge; the target stays where it is
    #[arg(long, conflicts_with_all = ["dry_run", "squash", "test"])]
    pub abort: bool,
    /// Re-run a red test up to N times before stopping (flaky suites; default 0)
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// Test even a tree that already passed the same command
    #[arg(long)]
    pub no_cache: bool,
    /// Merge up to N tasks, test once on the last, bisect a red batch (N or auto)
    #[arg(long, value_name = "N|auto", conflicts_with = "abort")]
    pub batch: Option<String>,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &MergeArgs, session: &Session) -> Result<()> {
    merge_and_report(args, session, true)?.1
}

/// The outcome of a merge (none for `--abort`) and the command's result:
/// an error for a stop or a refused task. `demo` reports the outcome, and
/// says itself what to run next (`say_next` false).
pub(crate) fn merge_and_report(
    args: &MergeArgs,
    session: &Session,
    say_next: bool,
) -> Result<(Option<merge::Outcome>, Result<()>)> {
    let ui = session.ui;
    let repo = session.repo()?;
    let workdir = crate::repo::workdir(repo)?;
    let ctx = Context::load(repo)?;
    let batch = batch_size(args, repo)?;
    let opts = Options {
        test: args.test.clone(),
        squash: args.squash,
        into: args.into.clone(),
        dry_run: args.dry_run,
        force: args.force,
        retries: args.retries.unwrap_or(0),
        cache: !args.no_cache,
        batch: if args.continue_ { None } else { batch },
    };
    if args.abort {
        return match merge::abort(&ctx, &workdir)? {
            Some(stopped) => {
                ui.result(&format!(
                    "aborted the merge into {} stopped at `{}`; {} stays where it is",
                    stopped.target,
                    stopped.stopped_task.as_deref().unwrap_or("?"),
                    stopped.target
                ));
                Ok((None, Ok(())))
            }
            None => Err(Error::usage("no merge to abort")),
        };
    }
    let integration = crate::layout::integration_worktree(&crate::worktree::root(repo.settings(), &workdir));
    let started = std::time::Instant::now();
    let live = ui.step_line();
    let report_progress = |p: merge::Progress<'_>| match p {
        merge::Progress::Line(text) => live.line(ui, text, false),
        merge::Progress::Now(text) => live.now(text),
        // Results as they land; with --json the JSON at the end is the result.
        merge::Progress::Landed { .. } if args.json => {}
        merge::Progress::Landed { landed, dry_run } => live.line(ui, &landed_line(landed, dry_run), true),
    };
    let outcome = if args.continue_ {
        let given = merge::Overrides {
            test: args.test.clone(),
            squash: args.squash,
            retries: args.retries,
            no_cache: args.no_cache,
            batch: args.batch.as_ref().and(batch),
        };
        merge::resume(&ctx, &workdir, &opts, &given, report_progress)
    } else {
        merge::run(&ctx, &workdir, &opts, report_progress)
    };
    live.finish();
    let outcome = outcome?;
    let result = finish(args, ui, repo, &outcome, &integration, started.elapsed(), say_next);
    Ok((Some(outcome), result))
}

/// `--batch`, else `git config agents.mergeBatch`; none: one task at a time.
fn batch_size(args: &MergeArgs, repo: &Store) -> Result<Option<merge::BatchSize>> {
    if let Some(text) = &args.batch {
        return merge::BatchSize::parse(text).map(Some);
    }
    match &repo.settings().merge_batch {
        Some(text) => merge::BatchSize::parse(text)
            .map(Some)
            .map_err(|e| e.detail("from `git config agents.mergeBatch`")),
        None => Ok(None),
    }
}

/// `landed sub as 67a760f in 0.3s`, with how it was tested when not plainly.
fn landed_line(l: &merge::Landed, dry_run: bool) -> String {
    let verb = if dry_run { "would land" } else { "landed" };
    let tested = match (&l.test, &l.cached) {
        (None, _) => " (untested)".to_string(),
        (Some(_), _) if l.tested_on.is_some() => format!(
            " (not tested alone: its batch {} on {})",
            if dry_run { "is to be tested" } else { "passed" },
            l.tested_on.as_deref().map_or("", |t| &t[..7.min(t.len())])
        ),
        (Some(_), Some(when)) => format!(" (the test already passed on this tree {when})"),
        (Some(t), None) if dry_run => format!(" (to test `{t}`)"),
        (Some(_), None) => String::new(),
    };
    let time = if dry_run {
        String::new()
    } else {
        format!(" in {:.1}s", l.seconds)
    };
    // `[k/N]` is on the progress lines; a result starts with its verb.
    format!(
        "{verb} {} as {}{time}{tested}",
        l.task,
        &l.commit[..7.min(l.commit.len())]
    )
}

/// What to run after this outcome: the way on, then the ways out.
fn next_commands(outcome: &merge::Outcome, integration: &str) -> (Vec<String>, Vec<String>) {
    let target = &outcome.target;
    match &outcome.stop {
        Some(Stop::Conflict { task, .. }) => (
            vec![
                format!("git -C {integration} status"),
                format!("git -C {integration} commit"),
                "git agents merge --continue".into(),
            ],
            vec![
                "git agents merge --abort".into(),
                format!("git agents merge --abort && git agents requeue {task}"),
            ],
        ),
        Some(Stop::TestFailed { task, .. }) => (
            vec![
                format!("git -C {integration} commit"),
                "git agents merge --continue".into(),
            ],
            vec![
                "git agents merge --abort".into(),
                format!("git agents merge --abort && git agents requeue {task}"),
            ],
        ),
        Some(Stop::TargetMoved { .. }) => (vec!["git agents merge".into()], Vec::new()),
        Some(Stop::TargetDirty { worktree, .. }) => (
            vec![format!("git -C {worktree} status"), "git agents merge".into()],
            Vec::new(),
        ),
        None if outcome.dry_run => (vec!["git agents merge".into()], Vec::new()),
        None if !outcome.refused.is_empty() => (
            outcome
                .refused
                .iter()
                .map(|r| format!("git agents log {}", r.task))
                .collect(),
            outcome
                .refused
                .iter()
                .map(|r| format!("git agents requeue {}", r.task))
                .collect(),
        ),
        None if outcome.landed.is_empty() => (vec!["git agents status".into()], Vec::new()),
        None => (
            vec![
                format!("git log --oneline --graph --notes=agents {target}"),
                "git agents clean".into(),
            ],
            Vec::new(),
        ),
    }
}

/// The outcome as JSON, with the commands to run next.
#[derive(serde::Serialize)]
struct Report<'a> {
    #[serde(flatten)]
    outcome: &'a merge::Outcome,
    next: Vec<String>,
    /// Other ways out of a stop (give up, redo the task).
    or: Vec<String>,
}

/// Prints the end of a run (the JSON, or the summary) and turns a stop or
/// a refusal into the command's error.
fn finish(
    args: &MergeArgs,
    ui: &Ui,
    repo: &Store,
    outcome: &merge::Outcome,
    integration: &std::path::Path,
    elapsed: std::time::Duration,
    say_next: bool,
) -> Result<()> {
    let opts_dry_run = outcome.dry_run;
    if !opts_dry_run {
        // With a shared remote, other machines' pre-push guards read these
        // notes. The merge itself is done: a failure here is a warning.
        if let Err(e) = repo.backend().push_notes(repo) {
            ui.warn_error(&e);
        }
    }
    let integration = &integration.display().to_string();
    if args.json {
        let (next, or) = next_commands(outcome, integration);
        ui.json(&Report { outcome, next, or });
    } else {
        let mut out = String::new();
        for r in &outcome.refused {
            out.push_str(&format!("refused {}: {}\n", r.task, r.reason));
        }
        if outcome.landed.is_empty() && outcome.stop.is_none() && outcome.refused.is_empty() {
            out.push_str("nothing to merge: no task is done\n");
        }
        if !out.is_empty() {
            ui.result(&out);
        }
        ui.status(&summary(outcome, elapsed, integration, say_next));
    }
    let Some(stop) = &outcome.stop else {
        if outcome.refused.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = outcome.refused.iter().map(|r| r.task.as_str()).collect();
        return Err(Error::failure(format!(
            "{} task(s) not landed: their work is not what was checked: {}",
            ids.len(),
            ids.join(", ")
        ))
        .hint("look with `git agents log TASK`; `git agents requeue TASK` has it done and checked again"));
    };
    Err(report(stop, outcome, integration))
}

/// The last lines of a run: what landed and what stopped, the time per
/// task and in all, and what to run next.
fn summary(outcome: &merge::Outcome, elapsed: std::time::Duration, integration: &str, say_next: bool) -> String {
    let verb = if outcome.dry_run { "would land" } else { "landed" };
    let stopped = match &outcome.stop {
        Some(Stop::Conflict { task, .. }) => format!("stopped at `{task}` (conflict)"),
        Some(Stop::TestFailed { task, .. }) => format!("stopped at `{task}` (test failed)"),
        Some(Stop::TargetMoved { target }) => format!("stopped: {target} moved"),
        Some(Stop::TargetDirty { target, .. }) => format!("stopped: {target} has uncommitted changes"),
        None => "nothing stopped".into(),
    };
    let refused = if outcome.refused.is_empty() {
        String::new()
    } else {
        format!(", {} refused", outcome.refused.len())
    };
    let waiting = match outcome.waiting.len() {
        0 => String::new(),
        n => format!(", {n} still waiting"),
    };
    let mut out = format!(
        "summary: {} {verb}, {stopped}{refused}{waiting}; {:.1}s in all",
        outcome.landed.len(),
        elapsed.as_secs_f64()
    );
    if !outcome.landed.is_empty() && !outcome.dry_run {
        let times: Vec<String> = outcome
            .landed
            .iter()
            .map(|l| format!("{} {:.1}s", l.task, l.seconds))
            .collect();
        out.push_str(&format!("\n  per task: {}", times.join(", ")));
    }
    if let Some(batches) = &outcome.batches {
        out.push_str(&batch_summary(batches, outcome.landed.len()));
    }
    let (next, _) = next_commands(outcome, integration);
    // A stop's error below names the next commands with why; say them once.
    if say_next && outcome.stop.is_none() && !next.is_empty() {
        let shown: Vec<String> = next.iter().map(|c| format!("`{c}`")).collect();
        out.push_str(&format!("\nnext: {}", shown.join(", then ")));
    }
    out
}

/// `batches: 3 (sizes 2, 4, 8); 4 test run(s) for 14 landed task(s)`, the
/// culprit and what passed only on a retry.
fn batch_summary(b: &merge::BatchReport, landed: usize) -> String {
    let sizes: Vec<String> = b.batches.iter().map(|r| r.size.to_string()).collect();
    let mut out = format!(
        "\n  batches: {} (sizes {}); {} test run(s) for {landed} landed task(s)",
        b.batches.len(),
        sizes.join(", "),
        b.test_runs
    );
    if landed > 0 {
        out.push_str(&format!(", {:.2} per task", f64::from(b.test_runs) / landed as f64));
    }
    if let Some(culprit) = &b.culprit {
        out.push_str(&format!("\n  culprit: `{culprit}` (its merge is the first that fails)"));
    }
    for f in &b.flaky {
        out.push_str(&format!("\n  flaky: {f}"));
    }
    out
}

fn report(stop: &Stop, outcome: &merge::Outcome, integration: &str) -> Error {
    let run = Stopped::new(outcome, integration);
    let (landed, target) = (&run.landed, run.target);
    match stop {
        Stop::Conflict {
            task,
            agent,
            branch,
            base,
            target: target_commit,
            task_head,
            paths,
            conflicted_tree,
            reproduce,
        } => {
            let mut err = Error::new(
                Exit::Conflict,
                format!("merge stopped: task `{task}` conflicts with {target}"),
            )
            .detail(format!(
                "task: {task} (agent {}, branch {branch})",
                agent.as_deref().unwrap_or("?")
            ))
            .detail(format!(
                "commits: base {}, {target} {}, task {}",
                base.as_deref().map_or("none", |b| &b[..7]),
                &target_commit[..7],
                &task_head[..7]
            ));
            for p in paths {
                err = err.detail(format!(
                    "conflict ({}): {}  [stages {}]",
                    p.kind,
                    p.path,
                    p.stages.join(" ")
                ));
            }
            run.after_conflict(err, task, conflicted_tree, reproduce)
        }
        Stop::TestFailed {
            task,
            command,
            exit,
            tree,
            tail,
            log,
        } => {
            let mut err = Error::new(
                Exit::TestsFailed,
                format!("merge stopped: `{command}` failed after merging `{task}`"),
            )
            .detail(format!("exit: {exit}; tested tree {}", &tree[..7.min(tree.len())]));
            for line in tail.lines() {
                err = err.detail(format!("| {line}"));
            }
            run.after_test_failure(err, task, log)
        }
        Stop::TargetMoved { target } => Error::failure(format!("{target} moved since merge started; rerun"))
            .detail(format!("landed in this run: {landed}"))
            .hint("run `git agents merge` again: it starts from the new tip"),
        Stop::TargetDirty { target, worktree } => Error::failure(format!(
            "{target} is checked out in {worktree} with uncommitted changes; it was not moved"
        ))
        .detail(format!("landed in this run: {landed}"))
        .hint("commit or stash those changes, then run `git agents merge` again"),
    }
}

/// What a stopped run has to say besides what stopped it: what it landed,
/// what still waits, and where to go on.
struct Stopped<'a> {
    landed: String,
    waiting: String,
    target: &'a str,
    integration: &'a str,
}

impl<'a> Stopped<'a> {
    fn new(outcome: &'a merge::Outcome, integration: &'a str) -> Self {
        let landed: Vec<&str> = outcome.landed.iter().map(|l| l.task.as_str()).collect();
        let landed = if landed.is_empty() {
            "none".to_string()
        } else {
            landed.join(", ")
        };
        let waiting = outcome.waiting.join(", ");
        Stopped {
            landed,
            waiting,
            target: &outcome.target,
            integration,
        }
    }

    /// The end of a conflict's report: where the conflict is, what landed
    /// and waits, and the three ways on.
    fn after_conflict(&self, err: Error, task: &str, conflicted_tree: &str, reproduce: &str) -> Error {
        err.detail(format!("conflicted tree: {conflicted_tree}"))
            .detail(format!("reproduce: {reproduce}"))
            .detail(format!("landed in this run: {}", self.landed))
            .detail(format!("still waiting: {}", self.waiting))
            .hint(format!(
                "resolve it in {} (the merge is prepared there), `git commit`, then `git agents merge --continue`",
                self.integration
            ))
            .hint("or give this merge up: `git agents merge --abort`")
            .hint(format!(
                "or redo the task on top of the new {}: `git agents merge --abort && git agents requeue {task}`",
                self.target
            ))
    }

    /// The end of a failed test's report: its log, what landed and waits,
    /// and the ways on.
    fn after_test_failure(&self, err: Error, task: &str, log: &str) -> Error {
        err.detail(format!("log: {log}"))
            .detail(format!(
                "landed in this run: {}; {} stays at the last green merge",
                self.landed, self.target
            ))
            .detail(format!("still waiting: {}", self.waiting))
            .hint(format!(
                "fix it in {}, `git commit`, then `git agents merge --continue`",
                self.integration
            ))
            .hint(format!("or `git agents merge --abort` and `git agents requeue {task}`"))
    }
}
