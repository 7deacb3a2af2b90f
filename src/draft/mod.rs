//! `git agents plan --draft GOAL`: a planning agent drafts agents.toml and
//! the validator argues back. The agent runs in a scratch worktree at the
//! base with a planning brief (`brief`); its draft is checked exactly as
//! `git agents plan` checks a plan (`plan::validate` through
//! `plan_workspace`); the problems go back to it in the next round's brief,
//! up to `--rounds`. A valid draft is shown as waves and written to a file,
//! never recorded: recording stays `git agents plan` with its confirmation.

pub mod brief;
mod output;
mod scratch;

use std::path::{Path, PathBuf};

use crate::agent_command::{self, Fill, Template};
use crate::error::{Context, Error, Result};
use crate::plan::validate::{validate, Checked};
use crate::plan::Problem;
use crate::plan_workspace::RepoWorkspace;
use crate::process::{self, Ended, Supervised};
use crate::state::Store;
use crate::ui::Ui;

use scratch::{Scratch, DRAFT_FILE};

/// What `plan --draft` was asked.
pub struct Request<'a> {
    pub goal: &'a str,
    pub agent: Option<&'a str>,
    /// The agent command after `--`, if given.
    pub command: &'a [String],
    /// Where to write the plan (default: agents.toml at the repository root).
    pub write: Option<&'a Path>,
    pub rounds: u32,
    pub force: bool,
    pub json: bool,
}

/// One round: the draft the agent wrote and what the validator said.
pub struct Round {
    pub number: u32,
    pub draft: Option<String>,
    pub problems: Vec<Problem>,
}

/// How many drafts the agent may write when `--rounds` is not given.
pub const DEFAULT_ROUNDS: u32 = 3;

/// The environment variable naming the draft file, beside `{draft_file}`.
pub const DRAFT_ENV: &str = "GIT_AGENTS_DRAFT_FILE";

pub fn run(req: &Request<'_>, store: &Store, ui: &Ui) -> Result<()> {
    let root = crate::repo::workdir(store)?;
    let (target, shown) = match req.write {
        Some(path) => (path.to_path_buf(), path.display().to_string()),
        None => (root.join("agents.toml"), "agents.toml".to_string()),
    };
    check_request(req, &target, &shown)?;
    let template = agent_command::resolve(req.command, req.agent, store.settings().command.clone(), &[])?;
    let base = crate::repo::current_branch(store).ok_or_else(|| {
        Error::usage("HEAD is not on a branch").hint("check out the branch the plan is for, then draft again")
    })?;
    let Some(tip) = crate::repo::branch_tip(store, &base)? else {
        return Err(Error::usage(format!("branch `{base}` has no commit yet"))
            .hint("commit the files the plan is about first; a plan's tasks start from them"));
    };
    let files = crate::repo::tracked_files(store, &base)?.unwrap_or_default();
    let ws = RepoWorkspace {
        repo: store,
        root: &root,
        plan_dir: target.parent().map(Path::to_path_buf).unwrap_or_else(|| root.clone()),
    };
    let drafting = Drafting {
        req,
        store,
        ui,
        template,
        base,
        files,
        ws,
    };
    let (rounds, checked) = {
        let worktrees = crate::worktree::root(store.settings(), &root);
        let scratch = Scratch::create(store, &root, &worktrees, tip)?;
        drafting.rounds(&scratch)?
    };
    let out = output::Output {
        req,
        ui,
        target: &target,
        shown: &shown,
        rounds: &rounds,
    };
    match checked {
        Some(checked) => out.accepted(&checked),
        None => Err(out.refused()),
    }
}

/// Bad input fails before any agent runs.
fn check_request(req: &Request<'_>, target: &Path, shown: &str) -> Result<()> {
    if req.goal.trim().is_empty() {
        return Err(Error::usage("the goal is empty").hint("say what the work is: `git agents plan --draft \"GOAL\"`"));
    }
    if req.rounds == 0 {
        return Err(Error::usage("--rounds must be at least 1").hint("the default is 3"));
    }
    if let Some(folder) = target.parent().filter(|f| !f.as_os_str().is_empty() && !f.is_dir()) {
        return Err(Error::usage(format!("there is no folder {}", folder.display()))
            .hint("create it first, or `--write` to a file in an existing folder; nothing was run or written"));
    }
    if target.exists() && !req.force {
        return Err(Error::usage(format!("{shown} already exists"))
            .hint("write the draft elsewhere with `--write FILE`, or pass `--force` to replace it; nothing was run or written"));
    }
    Ok(())
}

/// What every round of one draft shares.
struct Drafting<'a> {
    req: &'a Request<'a>,
    store: &'a Store,
    ui: &'a Ui,
    template: Template,
    base: String,
    files: Vec<String>,
    ws: RepoWorkspace<'a>,
}

impl Drafting<'_> {
    /// Runs rounds until a draft is valid or `--rounds` are used up.
    fn rounds(&self, scratch: &Scratch) -> Result<(Vec<Round>, Option<Checked>)> {
        let mut rounds: Vec<Round> = Vec::new();
        for number in 1..=self.req.rounds {
            let (round, checked) = self.round(scratch, number, rounds.last())?;
            output::round_line(self.ui, &round, self.req.rounds);
            rounds.push(round);
            if checked.is_some() {
                return Ok((rounds, checked));
            }
        }
        Ok((rounds, None))
    }

    /// One round: the brief, the agent, the draft it wrote, the verdict.
    fn round(&self, scratch: &Scratch, number: u32, previous: Option<&Round>) -> Result<(Round, Option<Checked>)> {
        let draft_path = scratch.draft_file();
        let draft_str = draft_path.display().to_string();
        // A draft left by the last round must not pass for this round's.
        let _ = std::fs::remove_file(&draft_path);
        let problems: Vec<String> = previous.map(|p| output::problem_lines(&p.problems)).unwrap_or_default();
        let text = brief::render(&brief::Facts {
            goal: self.req.goal,
            base: &self.base,
            files: &self.files,
            draft_file: &draft_str,
            round: number,
            rounds: self.req.rounds,
            previous: previous.map(|p| brief::Previous {
                draft: p.draft.as_deref().unwrap_or(""),
                problems: &problems,
            }),
        });
        self.run_agent(scratch, number, &text)?;
        let Some(draft) = std::fs::read_to_string(&draft_path).ok() else {
            let problem = Problem::new(format!("the agent wrote no draft to {DRAFT_FILE}"))
                .hint(format!("write the plan to {draft_str} (also in ${DRAFT_ENV})"));
            return Ok((
                Round {
                    number,
                    draft: None,
                    problems: vec![problem],
                },
                None,
            ));
        };
        let (checked, problems) = match validate(&draft, &self.ws)? {
            Ok(checked) => (Some(checked), Vec::new()),
            Err(problems) => (None, problems),
        };
        let round = Round {
            number,
            draft: Some(draft),
            problems,
        };
        Ok((round, checked))
    }

    /// Runs the agent once with `brief` in the scratch worktree; an agent
    /// that fails ends the draft (its log says why).
    fn run_agent(&self, scratch: &Scratch, number: u32, brief: &str) -> Result<()> {
        // Absolute: the agent runs in the scratch worktree.
        let common = self.store.common_dir();
        let common = &common
            .canonicalize()
            .context(|| format!("cannot find {}", common.display()))?;
        let briefs = crate::layout::briefs(common);
        std::fs::create_dir_all(&briefs).context(|| format!("cannot create {}", briefs.display()))?;
        let brief_file = briefs.join(format!("draft-{number}.md"));
        std::fs::write(&brief_file, brief).context(|| format!("cannot write {}", brief_file.display()))?;
        let log = crate::layout::log_dir(self.store)?.join(format!("draft.{number}.log"));
        let _ = std::fs::remove_file(&log);
        let (brief_file, draft_file) = (
            brief_file.display().to_string(),
            scratch.draft_file().display().to_string(),
        );
        let (worktree, git_dir) = (
            scratch.dir.display().to_string(),
            crate::worktree::git_dir(&scratch.dir)?.display().to_string(),
        );
        let argv = self.template.fill_with(
            &Fill {
                brief,
                brief_file: &brief_file,
                prompt: self.req.goal,
                task: "draft",
                worktree: &worktree,
                branch: "",
                git_dir: &git_dir,
                git_common_dir: &common.display().to_string(),
            },
            &[("{draft_file}", &draft_file)],
        );
        let mut env: Vec<(String, String)> = [
            (DRAFT_ENV, draft_file.clone()),
            ("GIT_AGENTS_BRIEF_FILE", brief_file.clone()),
            ("GIT_AGENTS_PROMPT_FILE", brief_file),
            ("GIT_AGENTS_WORKTREE", worktree),
            ("GIT_AGENTS_ATTEMPT", number.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(crate::worktree::identity_env(self.store));
        env.extend(self.template.env.iter().cloned());
        self.ui.status(&format!(
            "round {number}: `{}` is drafting the plan (output in {})",
            argv[0],
            log.display()
        ));
        let child = Supervised {
            argv: &argv,
            dir: &scratch.dir,
            env: &env,
            log: &log,
            timeout: None,
            grace: process::DEFAULT_GRACE,
        };
        let never = std::sync::atomic::AtomicBool::new(false);
        match process::supervise(&child, &never, || true)? {
            Ended::Exited(0) => Ok(()),
            ended => Err(agent_failed(number, &ended, &log)),
        }
    }
}

fn agent_failed(number: u32, ended: &Ended, log: &PathBuf) -> Error {
    let how = match ended {
        Ended::Exited(code) => format!("exit code {code}"),
        Ended::TimedOut => "timed out".into(),
        Ended::Cancelled => "stopped".into(),
    };
    let output = std::fs::read_to_string(log).unwrap_or_default();
    Error::failure(format!("the planning agent failed in round {number} ({how})"))
        .detail(crate::failure_reason::from_output(&output))
        .hint(format!(
            "see its output in {}; nothing was written or recorded",
            log.display()
        ))
}
