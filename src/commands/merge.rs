//! `git agents merge`: integrate done tasks into the base, testing each.

use clap::Args;

use crate::error::{Error, Exit, Result};
use crate::merge::{self, Options, Stop};
use crate::protocol::Context;
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
/// Examples:
///
///   git agents merge --test "cargo test"
///   git agents merge --dry-run
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
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &MergeArgs, ui: &Ui) -> Result<()> {
    let repo = crate::repo::open()?;
    let workdir = crate::repo::workdir(&repo)?;
    let ctx = Context::load(&repo)?;
    let opts = Options {
        test: args.test.clone(),
        squash: args.squash,
        into: args.into.clone(),
        dry_run: args.dry_run,
        force: args.force,
        retries: args.retries.unwrap_or(0),
        cache: !args.no_cache,
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
                Ok(())
            }
            None => Err(Error::usage("no merge to abort")),
        };
    }
    let integration = crate::worktree::root(&repo, &workdir).join("integration");
    let outcome = if args.continue_ {
        let given = merge::Overrides {
            test: args.test.clone(),
            squash: args.squash,
            retries: args.retries,
            no_cache: args.no_cache,
        };
        merge::resume(&ctx, &workdir, &opts, &given, |line| ui.status(line))?
    } else {
        merge::run(&ctx, &workdir, &opts, |line| ui.status(line))?
    };
    if !opts.dry_run {
        // With a shared remote, other machines' pre-push guards read these
        // notes. The merge itself is done: a failure here is a warning.
        if let Err(e) = crate::state::remote::push_notes(&repo) {
            ui.warn_error(&e);
        }
    }
    if args.json {
        ui.json(&outcome);
    } else {
        let mut out = String::new();
        let verb = if outcome.dry_run { "would land" } else { "landed" };
        for l in &outcome.landed {
            let tested = match (&l.test, &l.cached) {
                (None, _) => "untested".to_string(),
                (Some(t), Some(when)) => format!("`{t}` already passed on this tree {when}"),
                (Some(t), None) if outcome.dry_run => format!("to test `{t}`"),
                (Some(t), None) => format!("tested `{t}`"),
            };
            out.push_str(&format!("{verb} {} as {} ({tested})\n", l.task, &l.commit[..7]));
        }
        for r in &outcome.refused {
            out.push_str(&format!("refused {}: {}\n", r.task, r.reason));
        }
        if outcome.landed.is_empty() && outcome.stop.is_none() && outcome.refused.is_empty() {
            out.push_str("nothing to merge: no task is done\n");
        }
        ui.result(&out);
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
    Err(report(stop, &outcome, &integration.display().to_string()))
}

fn report(stop: &Stop, outcome: &merge::Outcome, integration: &str) -> Error {
    let landed: Vec<&str> = outcome.landed.iter().map(|l| l.task.as_str()).collect();
    let landed = if landed.is_empty() {
        "none".to_string()
    } else {
        landed.join(", ")
    };
    let waiting = outcome.waiting.join(", ");
    let target = &outcome.target;
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
            err.detail(format!("conflicted tree: {conflicted_tree}"))
                .detail(format!("reproduce: {reproduce}"))
                .detail(format!("landed in this run: {landed}"))
                .detail(format!("still waiting: {waiting}"))
                .hint(format!(
                    "resolve it in {integration} (the merge is prepared there), `git commit`, then `git agents merge --continue`"
                ))
                .hint("or give this merge up: `git agents merge --abort`")
                .hint(format!("or redo the task on top of the new {target}: `git agents merge --abort && git agents requeue {task}`"))
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
            err.detail(format!("log: {log}"))
                .detail(format!(
                    "landed in this run: {landed}; {target} stays at the last green merge"
                ))
                .detail(format!("still waiting: {waiting}"))
                .hint(format!(
                    "fix it in {integration}, `git commit`, then `git agents merge --continue`"
                ))
                .hint(format!("or `git agents merge --abort` and `git agents requeue {task}`"))
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
