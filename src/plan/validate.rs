//! Turns a parsed plan into a [`Plan`] or the full list of its problems:
//! ids, dependencies and cycles, ownership globs, and file-level
//! independence of tasks that may run at the same time.

use std::collections::{BTreeMap, HashMap};

use super::file::{RawPlan, RawTask};
use super::globs::{self, Matcher, OwnedGlob};
use super::{duration, graph, ids, AgentSettings, Plan, Problem, Task, DEFAULT_LEASE, DEFAULT_MAX_ATTEMPTS};
use crate::error::Result;

/// What validation needs from the repository.
pub trait Workspace {
    /// The branch HEAD points at, for plans that name no base.
    fn current_branch(&self) -> Option<String>;
    /// Tracked paths at the tip of local branch `name`; `None` if there is no such branch.
    fn tracked_files(&self, name: &str) -> Result<Option<Vec<String>>>;
    /// The text of a prompt file, relative to the plan file's folder.
    fn read_prompt(&self, path: &str) -> std::result::Result<String, String>;
}

/// A valid plan and what validation learned about it.
#[derive(Debug)]
pub struct Checked {
    pub plan: Plan,
    pub warnings: Vec<String>,
    /// Wave of each task, 0-based, in plan order.
    pub waves: Vec<usize>,
    /// Tracked files at base each task owns, in plan order.
    pub owned_files: Vec<usize>,
    /// Per task, its globs that match no tracked file at base: files the
    /// task is to create (or a typo, which a warning names).
    pub new_only: Vec<Vec<String>>,
    pub tracked_files: usize,
}

/// At most this many example paths per clash.
const MAX_EXAMPLES: usize = 5;

pub fn validate(source: &str, ws: &dyn Workspace) -> Result<std::result::Result<Checked, Vec<Problem>>> {
    let raw = match super::file::parse(source) {
        Ok(raw) => raw,
        Err(problem) => return Ok(Err(vec![problem])),
    };
    let mut v = Validator {
        source,
        problems: Vec::new(),
        warnings: Vec::new(),
    };
    let checked = v.check(raw, ws)?;
    if v.problems.is_empty() {
        if let Some(mut checked) = checked {
            checked.warnings = v.warnings;
            return Ok(Ok(checked));
        }
    }
    let mut problems = v.problems;
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    Ok(Err(problems))
}

/// The plan's tasks normalized, in plan order.
struct Normalized {
    tasks: Vec<Task>,
    /// Each task's globs; `None` when one of them is invalid.
    globs: Vec<Option<Vec<OwnedGlob>>>,
    /// Indices of the tasks each task depends on.
    deps: Vec<Vec<usize>>,
}

struct Validator<'a> {
    source: &'a str,
    problems: Vec<Problem>,
    warnings: Vec<String>,
}

impl Validator<'_> {
    fn problem_at(&mut self, span: std::ops::Range<usize>, message: String, hint: &str) {
        let p = Problem::new(message).hint(hint).at(self.source, span);
        self.problems.push(p);
    }

    fn check(&mut self, raw: RawPlan, ws: &dyn Workspace) -> Result<Option<Checked>> {
        let agent = self.agent(&raw);
        if raw.tasks.is_empty() {
            self.problems.push(
                Problem::new("the plan has no tasks")
                    .hint("add at least one [[task]] table with an id, owns and a prompt (see `git agents init`)"),
            );
        }
        let index = self.ids(&raw);
        let Normalized {
            tasks,
            globs: task_globs,
            deps,
        } = self.tasks(&raw, &index, ws);
        let cycles = self.cycles(&raw, &tasks, &deps);
        let (base, tracked) = self.base(&raw, ws)?;

        let (waves, ancestors) = if cycles.is_empty() {
            graph::waves(&deps)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut owned_files = vec![0; tasks.len()];
        let mut new_only = vec![Vec::new(); tasks.len()];
        if let Some(files) = &tracked {
            if cycles.is_empty() && task_globs.iter().all(Option::is_some) {
                let globs: Vec<Vec<OwnedGlob>> = task_globs.into_iter().map(Option::unwrap_or_default).collect();
                let owners = Owners {
                    raw: &raw,
                    tasks: &tasks,
                    globs: &globs,
                    ancestors: &ancestors,
                };
                (owned_files, new_only) = self.ownership(&owners, files, base.as_deref().unwrap_or(""));
            }
        }

        if !self.problems.is_empty() {
            return Ok(None);
        }
        self.warn_if_sequential(&tasks, &waves);
        let plan = Plan {
            base: base.unwrap_or_default(),
            test: raw.test.clone(),
            agent,
            tasks,
        };
        Ok(Some(Checked {
            plan,
            warnings: Vec::new(),
            waves,
            owned_files,
            new_only,
            tracked_files: tracked.map_or(0, |f| f.len()),
        }))
    }

    /// Normalizes every task, in plan order.
    fn tasks(&mut self, raw: &RawPlan, index: &HashMap<String, usize>, ws: &dyn Workspace) -> Normalized {
        let mut tasks = Vec::new();
        let mut task_globs = Vec::new();
        let mut deps = Vec::new();
        for spanned in &raw.tasks {
            let t = spanned.get_ref();
            let (task, globs) = self.task(t, ws);
            deps.push(self.deps(t, index));
            tasks.push(task);
            task_globs.push(globs);
        }
        Normalized {
            tasks,
            globs: task_globs,
            deps,
        }
    }

    /// The dependency cycles, each reported at the id of its first task.
    fn cycles(&mut self, raw: &RawPlan, tasks: &[Task], deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let cycles = graph::cycles(deps);
        for cycle in &cycles {
            let names: Vec<&str> = cycle.iter().map(|&i| tasks[i].id.as_str()).collect();
            let span = raw.tasks[cycle[0]].get_ref().id.span();
            self.problem_at(
                span,
                format!("dependency cycle: {}", names.join(" -> ")),
                "remove one of these depends_on entries; a cycle can never start",
            );
        }
        cycles
    }

    /// The base branch (the plan's, else HEAD's) and the files tracked at
    /// its tip; `None` for either is a problem already reported.
    fn base(&mut self, raw: &RawPlan, ws: &dyn Workspace) -> Result<(Option<String>, Option<Vec<String>>)> {
        let (base, base_span) = match &raw.base {
            Some(b) => (Some(b.get_ref().clone()), Some(b.span())),
            None => (ws.current_branch(), None),
        };
        let tracked = match &base {
            None => {
                self.problems.push(
                    Problem::new("the plan names no base branch and HEAD is not on a branch")
                        .hint("add `base = \"main\"` (the branch task branches start from and merges land on)"),
                );
                None
            }
            Some(name) => match ws.tracked_files(name)? {
                Some(files) => Some(files),
                None => {
                    let p = Problem::new(format!("base branch `{name}` does not exist")).hint(format!(
                        "create it (`git branch {name}`) or set `base` to an existing local branch"
                    ));
                    self.problems.push(match base_span {
                        Some(span) => p.at(self.source, span),
                        None => p,
                    });
                    None
                }
            },
        };
        Ok((base, tracked))
    }

    fn warn_if_sequential(&mut self, tasks: &[Task], waves: &[usize]) {
        let width = (0..tasks.len())
            .map(|w| waves.iter().filter(|&&x| x == w).count())
            .max()
            .unwrap_or(0);
        if tasks.len() > 1 && width == 1 {
            self.warnings.push(
                "the plan is effectively sequential: every wave holds one task, so only one agent can work at a time"
                    .into(),
            );
        }
    }

    fn agent(&mut self, raw: &RawPlan) -> AgentSettings {
        let mut settings = AgentSettings {
            command: Vec::new(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            lease: DEFAULT_LEASE.into(),
            setup: None,
            copy: Vec::new(),
        };
        let Some(agent) = &raw.agent else { return settings };
        if let Some(command) = &agent.command {
            if command.get_ref().is_empty() || command.get_ref()[0].trim().is_empty() {
                self.problem_at(
                    command.span(),
                    "[agent] command is empty".into(),
                    "give the program and its arguments, e.g. [\"claude\", \"-p\", \"{prompt}\"], or remove the key",
                );
            }
            settings.command = command.get_ref().clone();
        }
        if let Some(n) = &agent.max_attempts {
            match u32::try_from(*n.get_ref()) {
                Ok(v) if (1..=100).contains(&v) => settings.max_attempts = v,
                _ => self.problem_at(
                    n.span(),
                    format!("[agent] max_attempts is {}; it must be between 1 and 100", n.get_ref()),
                    "use 2 (the default) unless tasks are flaky",
                ),
            }
        }
        if let Some(lease) = &agent.lease {
            match duration::parse_positive(lease.get_ref()) {
                Ok(_) => settings.lease = lease.get_ref().clone(),
                Err(why) => self.problem_at(
                    lease.span(),
                    format!("[agent] lease \"{}\" {why}", lease.get_ref()),
                    "write a duration such as \"30m\", \"1h30m\" or \"90s\"",
                ),
            }
        }
        settings.setup = agent.setup.clone();
        for path in &agent.copy {
            match globs::normalize_path(path.get_ref()) {
                Ok(p) => settings.copy.push(p.0),
                Err(why) => self.problem_at(
                    path.span(),
                    format!("[agent] copy path `{}` {why}", path.get_ref()),
                    "copy names files relative to the repository root, such as \".env\"",
                ),
            }
        }
        settings
    }

    /// Checks every id and returns the index of the first task with each id.
    fn ids(&mut self, raw: &RawPlan) -> HashMap<String, usize> {
        let mut index: HashMap<String, usize> = HashMap::new();
        // By folded id: `Auth` and `auth` are one ref file on macOS and Windows.
        let mut folded: HashMap<String, usize> = HashMap::new();
        for (i, spanned) in raw.tasks.iter().enumerate() {
            let id = &spanned.get_ref().id;
            if let Some(why) = ids::id_problem(id.get_ref()) {
                self.problem_at(
                    id.span(),
                    format!("task id {:?} {why}", id.get_ref()),
                    "an id becomes part of ref and branch names: use letters, digits, '-', '_' and '.'",
                );
            }
            // The line of an earlier task's id, for "first on line N".
            let line_of = |first: usize| {
                Problem::new("")
                    .at(self.source, raw.tasks[first].get_ref().id.span())
                    .line
            };
            if let Some(&first) = index.get(id.get_ref()) {
                let first_line = line_of(first);
                self.problem_at(
                    id.span(),
                    format!(
                        "task id `{}` is used twice (first on line {})",
                        id.get_ref(),
                        first_line.unwrap_or(0)
                    ),
                    "give every task its own id",
                );
            } else {
                index.insert(id.get_ref().clone(), i);
                if let Some(&first) = folded.get(&ids::fold(id.get_ref())) {
                    let first_id = raw.tasks[first].get_ref().id.get_ref();
                    let first_line = line_of(first);
                    self.problem_at(
                        id.span(),
                        format!(
                            "task id `{}` differs from `{first_id}` (line {}) only in letter case",
                            id.get_ref(),
                            first_line.unwrap_or(0)
                        ),
                        "ids become branch and ref names, and on a case-insensitive file system (macOS, Windows) both would be one file: rename one of them",
                    );
                } else {
                    folded.insert(ids::fold(id.get_ref()), i);
                }
            }
        }
        index
    }

    /// Normalizes one task; its globs are `None` when one of them is invalid.
    fn task(&mut self, t: &RawTask, ws: &dyn Workspace) -> (Task, Option<Vec<OwnedGlob>>) {
        let id = t.id.get_ref().clone();
        let prompt = match (&t.prompt, &t.prompt_file) {
            (Some(_), Some(file)) => {
                self.problem_at(
                    file.span(),
                    format!("task `{id}` has both prompt and prompt_file"),
                    "keep one of them",
                );
                String::new()
            }
            (Some(text), None) => text.clone(),
            (None, Some(file)) => self.prompt_file(&id, file, ws),
            (None, None) => {
                self.problem_at(
                    t.id.span(),
                    format!("task `{id}` has no prompt"),
                    "add prompt = \"...\" or prompt_file = \"tasks/<id>.md\": it is what the agent is asked to do",
                );
                String::new()
            }
        };
        let mut owns = Vec::new();
        let mut globs = Some(Vec::new());
        match &t.owns {
            None => {
                self.warnings.push(format!(
                    "task `{id}` has no `owns`: it is treated as owning every file, so it conflicts with every task that may run beside it"
                ));
                globs = Some(vec![OwnedGlob("**".into())]);
            }
            Some(list) if list.is_empty() => {
                self.problem_at(
                    t.id.span(),
                    format!("task `{id}` has an empty `owns` list"),
                    "list the paths the task may change, or remove `owns` to let it own everything",
                );
                globs = None;
            }
            Some(list) => {
                for raw in list {
                    match globs::normalize(raw.get_ref()) {
                        Ok(g) => {
                            owns.push(g.0.clone());
                            if let Some(v) = globs.as_mut() {
                                v.push(g);
                            }
                        }
                        Err(why) => {
                            self.problem_at(
                                raw.span(),
                                format!("task `{id}`: owned path `{}` {why}", raw.get_ref()),
                                "owned paths are globs relative to the repository root, such as \"src/auth/**\"",
                            );
                            globs = None;
                        }
                    }
                }
            }
        }
        let mut depends_on: Vec<String> = Vec::new();
        for d in &t.depends_on {
            if !depends_on.contains(d.get_ref()) {
                depends_on.push(d.get_ref().clone());
            }
        }
        let task = Task {
            title: t.title.clone().unwrap_or_else(|| id.clone()),
            id,
            owns,
            depends_on,
            test: t.test.clone(),
            prompt,
        };
        (task, globs)
    }

    fn prompt_file(&mut self, id: &str, file: &toml::Spanned<String>, ws: &dyn Workspace) -> String {
        let path = match globs::normalize_path(file.get_ref()) {
            Ok(p) => p.0,
            Err(why) => {
                self.problem_at(
                    file.span(),
                    format!("task `{id}`: prompt_file `{}` {why}", file.get_ref()),
                    "name a file inside the repository, relative to the plan file",
                );
                return String::new();
            }
        };
        match ws.read_prompt(&path) {
            Ok(text) => text,
            Err(why) => {
                self.problem_at(
                    file.span(),
                    format!("task `{id}`: cannot read prompt_file `{path}`: {why}"),
                    "create the file or fix the path (it is relative to the plan file)",
                );
                String::new()
            }
        }
    }

    /// Indices of the tasks `t` depends on; unknown names become problems.
    fn deps(&mut self, t: &RawTask, index: &HashMap<String, usize>) -> Vec<usize> {
        let mut out = Vec::new();
        for d in &t.depends_on {
            let name = d.get_ref();
            if name == t.id.get_ref() {
                self.problem_at(
                    d.span(),
                    format!("task `{name}` depends on itself"),
                    "remove it from its own depends_on",
                );
                continue;
            }
            match index.get(name) {
                Some(&i) => {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                None => {
                    // Sorted: a tie must not depend on the map's order.
                    let mut known: Vec<&str> = index.keys().map(String::as_str).collect();
                    known.sort_unstable();
                    let hint = match super::spelling::closest(name, known) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => "depends_on lists ids of tasks in this plan".into(),
                    };
                    self.problem_at(
                        d.span(),
                        format!(
                            "task `{}` depends on `{name}`, which is not a task in this plan",
                            t.id.get_ref()
                        ),
                        &hint,
                    );
                }
            }
        }
        out
    }

    /// File-level independence; returns each task's count of owned tracked
    /// files and the globs of each task that match none.
    fn ownership(&mut self, o: &Owners, files: &[String], base: &str) -> (Vec<usize>, Vec<Vec<String>>) {
        let Matches {
            owned,
            glob_hits,
            clashes,
        } = o.matches(files);
        let unmatched = o.unmatched(&glob_hits);
        self.misspelled(o.tasks, &unmatched, files, base);
        self.report_clashes(o, &clashes);
        self.report_new_file_overlaps(o, &clashes);
        (owned, unmatched)
    }

    /// One problem per pair of tasks that may run at the same time and own
    /// tracked files in common.
    fn report_clashes(&mut self, o: &Owners, clashes: &BTreeMap<(usize, usize), Clash>) {
        let (raw, tasks, globs) = (o.raw, o.tasks, o.globs);
        for (&(a, b), clash) in clashes {
            let (ia, ib) = (&tasks[a].id, &tasks[b].id);
            let what = clash.describe(&globs[a], ia, &globs[b], ib);
            self.problem_at(
                raw.tasks[b].get_ref().id.span(),
                format!("tasks `{ia}` and `{ib}` may run at the same time but both own {what}"),
                &format!("narrow `owns` of one of them, or add depends_on = [\"{ia}\"] to `{ib}`"),
            );
        }
    }

    /// Globs that match nothing yet may still name the same new file.
    fn report_new_file_overlaps(&mut self, o: &Owners, clashes: &BTreeMap<(usize, usize), Clash>) {
        let (raw, tasks, globs, ancestors) = (o.raw, o.tasks, o.globs, o.ancestors);
        let overlaps = globs::Overlaps::new(globs);
        for ((a, b), candidates) in globs::candidate_pairs(globs) {
            if clashes.contains_key(&(a, b)) || !graph::concurrent(ancestors, a, b) {
                continue;
            }
            let mut pairs = Vec::new();
            for (x, y) in candidates {
                let (ga, gb) = (&globs[a][x], &globs[b][y]);
                if pairs.len() < MAX_EXAMPLES && overlaps.may_overlap((a, x), (b, y)) {
                    pairs.push(format!("`{}` and `{}`", ga.0, gb.0));
                }
            }
            if !pairs.is_empty() {
                let (ia, ib) = (&tasks[a].id, &tasks[b].id);
                self.problem_at(
                        raw.tasks[b].get_ref().id.span(),
                        format!(
                            "tasks `{ia}` and `{ib}` may run at the same time and their globs may overlap on files that do not exist yet: {}",
                            pairs.join(", ")
                        ),
                        &format!("narrow `owns` of one of them, or add depends_on = [\"{ia}\"] to `{ib}`"),
                    );
            }
        }
    }

    /// One warning line for the globs that match no tracked file and whose
    /// literal folder is missing while a folder of a close name exists
    /// (`scr/` beside `src/`): likely typos. Any other glob that matches
    /// nothing is a task's new files, which the waves table shows as such.
    /// Only folders are compared: a new file is often named like its
    /// neighbours (`mul.rs` beside `mod.rs`), a new folder rarely is.
    fn misspelled(&mut self, tasks: &[Task], unmatched: &[Vec<String>], files: &[String], base: &str) {
        if unmatched.iter().all(Vec::is_empty) {
            return;
        }
        // Every tracked folder, and the folder names inside each ("" is the top).
        let mut folders: HashMap<&str, Vec<&str>> = HashMap::new();
        for path in files {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                let (parent, name, folder) = (&path[..end.saturating_sub(1)], &path[end..end + i], &path[..end + i]);
                if !folders.contains_key(folder) {
                    folders.insert(folder, Vec::new());
                    folders.entry(parent).or_default().push(name);
                }
                end += i + 1;
            }
        }
        let mut suspects = Vec::new();
        for (task, globs) in tasks.iter().zip(unmatched) {
            for glob in globs {
                let literal = globs::literal_prefix(glob);
                // The folders the glob names literally; a wholly literal
                // glob's last part may be a file and is not compared.
                let folder_part = match literal.rfind('/') {
                    Some(i) => &literal[..i],
                    None => continue,
                };
                let mut parent = "";
                for (i, name) in folder_part.split('/').enumerate() {
                    let here = if i == 0 {
                        name.to_string()
                    } else {
                        format!("{parent}/{name}")
                    };
                    if folders.contains_key(here.as_str()) {
                        parent = &folder_part[..here.len()];
                        continue;
                    }
                    let siblings = folders.get(parent).map(Vec::as_slice).unwrap_or_default();
                    if let Some(near) = super::spelling::closest(name, siblings.iter().copied()) {
                        let meant = if parent.is_empty() {
                            near.to_string()
                        } else {
                            format!("{parent}/{near}")
                        };
                        suspects.push(format!(
                            "`{glob}` (task `{}`): no folder `{here}`, did you mean `{meant}`?",
                            task.id
                        ));
                    }
                    break;
                }
            }
        }
        if suspects.is_empty() {
            return;
        }
        let count = suspects.len();
        let more = count.saturating_sub(MAX_EXAMPLES);
        suspects.truncate(MAX_EXAMPLES);
        self.warnings.push(format!(
            "{count} owned glob{} match{} no tracked file at `{base}` and may be misspelled: {}{}; fine if the task creates {}",
            if count == 1 { "" } else { "s" },
            if count == 1 { "es" } else { "" },
            suspects.join("; "),
            if more > 0 { format!("; and {more} more") } else { String::new() },
            if count == 1 { "that folder" } else { "those folders" },
        ));
    }
}

/// What the ownership checks share: the tasks, their globs, and which
/// tasks may run at the same time.
struct Owners<'p> {
    raw: &'p RawPlan,
    tasks: &'p [Task],
    globs: &'p [Vec<OwnedGlob>],
    ancestors: &'p [graph::TaskSet],
}

/// What matching the tracked files against every task's globs found.
struct Matches {
    /// Per task, how many tracked files it owns.
    owned: Vec<usize>,
    /// Per task and glob, whether the glob matches a tracked file.
    glob_hits: Vec<Vec<bool>>,
    /// (a, b) with a < b -> the clash, glob pair by glob pair
    clashes: BTreeMap<(usize, usize), Clash>,
}

impl Owners<'_> {
    fn matches(&self, files: &[String]) -> Matches {
        let (tasks, globs, ancestors) = (self.tasks, self.globs, self.ancestors);
        let matcher = Matcher::new(globs);
        let mut owned = vec![0usize; tasks.len()];
        let mut glob_hits: Vec<Vec<bool>> = globs.iter().map(|g| vec![false; g.len()]).collect();
        let mut clashes: BTreeMap<(usize, usize), Clash> = BTreeMap::new();
        let mut scratch = Vec::new();
        // (task, glob) pairs that match the path, one entry each.
        let mut hits: Vec<(usize, usize)> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        for path in files {
            hits.clear();
            owners.clear();
            matcher.for_each_match(path, &mut scratch, |t, g| {
                glob_hits[t][g] = true;
                if !hits.contains(&(t, g)) {
                    hits.push((t, g));
                }
                if !owners.contains(&t) {
                    owners.push(t);
                }
            });
            for &t in &owners {
                owned[t] += 1;
            }
            for (x, &a) in owners.iter().enumerate() {
                for &b in &owners[x + 1..] {
                    if !graph::concurrent(ancestors, a, b) {
                        continue;
                    }
                    let (a, b) = (a.min(b), a.max(b));
                    let clash = clashes.entry((a, b)).or_default();
                    clash.total += 1;
                    for &(_, ga) in hits.iter().filter(|h| h.0 == a) {
                        for &(_, gb) in hits.iter().filter(|h| h.0 == b) {
                            clash.pairs.entry((ga, gb)).or_default().add(path);
                        }
                    }
                }
            }
        }
        Matches {
            owned,
            glob_hits,
            clashes,
        }
    }

    /// Per task, its globs that match no tracked file (none for a task
    /// without `owns`, which owns everything).
    fn unmatched(&self, glob_hits: &[Vec<bool>]) -> Vec<Vec<String>> {
        let (tasks, globs) = (self.tasks, self.globs);
        glob_hits
            .iter()
            .enumerate()
            .map(|(t, hits)| {
                if tasks[t].owns.is_empty() {
                    return Vec::new();
                }
                hits.iter()
                    .zip(&globs[t])
                    .filter(|(hit, _)| !**hit)
                    .map(|(_, g)| g.0.clone())
                    .collect()
            })
            .collect()
    }
}

/// Two tasks' shared tracked files, per pair of their globs.
#[derive(Default)]
struct Clash {
    /// Files both tasks own.
    total: usize,
    /// (glob of the first task, glob of the second) -> the files both match.
    pairs: BTreeMap<(usize, usize), Shared>,
}

/// Files two globs share: how many, and the shallowest (then shortest) few as examples
/// (the first in path order all come from one deep folder, which says
/// less about the clash than `src/x/mod.rs` does).
#[derive(Default)]
struct Shared {
    count: usize,
    examples: Vec<String>,
}

/// Examples per pair of globs.
const SHARED_EXAMPLES: usize = 3;
/// Pairs of globs named per clash.
const SHARED_PAIRS: usize = 3;

impl Shared {
    fn add(&mut self, path: &str) {
        self.count += 1;
        let key = |p: &str| (p.bytes().filter(|&b| b == b'/').count(), p.len());
        let new = (key(path), path);
        let at = self
            .examples
            .binary_search_by(|e| (key(e), e.as_str()).cmp(&new))
            .unwrap_or_else(|i| i);
        if at < SHARED_EXAMPLES {
            self.examples.insert(at, path.to_string());
            self.examples.truncate(SHARED_EXAMPLES);
        }
    }
}

impl Clash {
    /// What both tasks own: the pairs of globs that clash, each with its
    /// count and examples, the largest first.
    fn describe(&self, a: &[OwnedGlob], ia: &str, b: &[OwnedGlob], ib: &str) -> String {
        let mut pairs: Vec<(&(usize, usize), &Shared)> = self.pairs.iter().collect();
        pairs.sort_by_key(|(_, shared)| std::cmp::Reverse(shared.count));
        let globs = |&(x, y): &(usize, usize)| format!("`{}` of `{ia}` and `{}` of `{ib}`", a[x].0, b[y].0);
        if self.total == 1 {
            let path = pairs
                .first()
                .and_then(|(_, s)| s.examples.first())
                .cloned()
                .unwrap_or_default();
            let names: Vec<String> = pairs.iter().map(|(p, _)| globs(p)).collect();
            return format!("{path}: {}", names.join("; "));
        }
        let mut parts: Vec<String> = pairs
            .iter()
            .take(SHARED_PAIRS)
            .map(|(p, shared)| {
                let more = shared.count - shared.examples.len();
                format!(
                    "{} share {}: {}{}",
                    globs(p),
                    shared.count,
                    shared.examples.join(", "),
                    if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        if pairs.len() > SHARED_PAIRS {
            parts.push(format!("and {} more pairs of globs", pairs.len() - SHARED_PAIRS));
        }
        format!("{} tracked files: {}", self.total, parts.join("; "))
    }
}
