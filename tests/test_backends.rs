//! The lock protocol's scenarios run once per state backend: `local` (this
//! clone's refs are the truth) and `remote` (a shared bare remote is, each
//! clone's refs/agents its mirror), asserting the refs of the truth, and
//! with a remote also the mirror and a second clone after every step.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{write_files, Output, TestEnv, BASIC_FILES, BIN, T0};

/// The lease, in seconds, as the plan sets it.
const LEASE: i64 = 600;

const PLAN: &str = r#"
[agent]
max_attempts = 2
lease = "10m"

[[task]]
id = "auth"
owns = ["src/auth/**"]
prompt = "Build auth."

[[task]]
id = "billing"
owns = ["src/billing/**"]
prompt = "Build billing."

[[task]]
id = "docs"
owns = ["docs/**"]
prompt = "Write the docs."

[[task]]
id = "ops"
owns = ["ops/**"]
prompt = "Set up ops."

[[task]]
id = "api"
owns = ["src/api/**"]
depends_on = ["auth"]
prompt = "Build the API."
"#;

/// Tasks ready right after the plan is recorded, in plan order.
const READY: [&str; 4] = ["auth", "billing", "docs", "ops"];

/// Where the state lives for a scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    Local,
    Remote,
}

/// A recorded plan on one backend: the repository commands run in, and with
/// a remote the bare remote (the truth) and a second clone (another machine).
pub struct Setup {
    env: TestEnv,
    /// Where commands run: the repository, or the first clone of the remote.
    repo: PathBuf,
    /// The shared bare remote (remote backend only).
    bare: Option<PathBuf>,
    /// A second clone that only reads (remote backend only).
    other: Option<PathBuf>,
    /// `GIT_AGENTS_NOW` of the next command; every command moves it on by a
    /// second, so no two transitions share a time.
    clock: Cell<i64>,
}

impl Setup {
    pub fn new(backend: Backend) -> Self {
        let env = TestEnv::new();
        let mut files = BASIC_FILES.to_vec();
        files.push(("agents.toml", PLAN));
        let (repo, bare, other) = match backend {
            Backend::Local => (env.repo("repo", &files), None, None),
            Backend::Remote => {
                env.repo("src", &files);
                env.git(env.root(), &["clone", "-q", "--bare", "src", "shared.git"]);
                let clone = |name: &str| {
                    env.git(env.root(), &["clone", "-q", "shared.git", name]);
                    let path = env.root().join(name);
                    env.git(&path, &["config", "agents.remote", "origin"]);
                    path
                };
                let (a, b) = (clone("machine-a"), clone("machine-b"));
                (a, Some(env.root().join("shared.git")), Some(b))
            }
        };
        let setup = Setup {
            env,
            repo,
            bare,
            other,
            clock: Cell::new(T0),
        };
        setup.run(&["plan", "--yes", "-q"]).success();
        setup
    }

    /// Runs `git-agents args` in the repository at the clock, then checks
    /// that the local mirror is the remote's.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let out = self.run_in(&self.repo, args, vars);
        self.assert_mirror(&self.repo);
        out
    }

    fn run_in(&self, cwd: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let now = self.now().to_string();
        let mut all = vec![("GIT_AGENTS_NOW", now.as_str())];
        all.extend_from_slice(vars);
        let out = self.env.run_with(cwd, args, &all);
        self.clock.set(self.now() + 1);
        out
    }

    pub fn now(&self) -> i64 {
        self.clock.get()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.set(self.now() + seconds);
    }

    /// Where the state is the truth: the repository, or the bare remote.
    pub fn truth(&self) -> &Path {
        self.bare.as_deref().unwrap_or(&self.repo)
    }

    /// The clones commands may run in: one repository, or both machines.
    pub fn clones(&self) -> Vec<PathBuf> {
        std::iter::once(self.repo.clone()).chain(self.other.clone()).collect()
    }

    /// refs/agents/* of `dir` with their values, backups left out (they stay local).
    pub fn state_refs(&self, dir: &Path) -> String {
        self.env
            .git(
                dir,
                &["for-each-ref", "--format=%(refname) %(objectname)", "refs/agents/"],
            )
            .lines()
            .filter(|l| !l.starts_with("refs/agents/backup/"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Every ref of every repository of the setup: what a refusal must leave as it was.
    pub fn all_refs(&self) -> String {
        let mut all = self.env.refs(&self.repo);
        if let Some(bare) = &self.bare {
            all.push_str("-- remote --\n");
            all.push_str(&self.env.refs(bare));
        }
        all
    }

    /// With a remote, `clone`'s refs/agents mirror the remote's exactly.
    #[track_caller]
    pub fn assert_mirror(&self, clone: &Path) {
        if let Some(bare) = &self.bare {
            assert_eq!(
                self.state_refs(clone),
                self.state_refs(bare),
                "the mirror in {} differs from the remote",
                clone.display()
            );
        }
    }

    /// With a remote, a second clone sees every task in the state the remote
    /// holds, and then mirrors it.
    #[track_caller]
    pub fn assert_seen_elsewhere(&self) {
        let Some(other) = &self.other else {
            return;
        };
        let out = self.run_in(other, &["status", "--json"], &[]);
        out.success();
        let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("status json");
        for task in json["tasks"].as_array().expect("tasks") {
            let id = task["id"].as_str().expect("id");
            assert_eq!(task["state"], self.state_of(id), "{id} seen from the second clone");
        }
        self.assert_mirror(other);
    }

    /// The task refs of the truth: id → (state, oid).
    pub fn tasks(&self) -> BTreeMap<String, (String, String)> {
        let listing = self.env.git(
            self.truth(),
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/agents/tasks/",
            ],
        );
        let mut tasks = BTreeMap::new();
        for line in listing.lines() {
            let (name, oid) = line.split_once(' ').expect("ref line");
            let rest = name.strip_prefix("refs/agents/tasks/").expect("task ref");
            let (state, id) = rest.split_once('/').expect("state/id");
            let old = tasks.insert(id.to_string(), (state.to_string(), oid.to_string()));
            assert!(old.is_none(), "{id} is under two states:\n{listing}");
        }
        tasks
    }

    /// The task's state in the truth: the namespace of its one ref.
    #[track_caller]
    pub fn state_of(&self, id: &str) -> String {
        self.tasks()
            .remove(id)
            .unwrap_or_else(|| panic!("{id} has no state ref"))
            .0
    }

    pub fn oid_of(&self, id: &str) -> String {
        self.tasks()
            .remove(id)
            .unwrap_or_else(|| panic!("{id} has no state ref"))
            .1
    }

    /// task.toml of the task's ref in the truth.
    pub fn record(&self, id: &str) -> toml::Table {
        let name = format!("refs/agents/tasks/{}/{id}:task.toml", self.state_of(id));
        let text = self.env.git(self.truth(), &["cat-file", "-p", &name]);
        toml::from_str(&text).expect("task.toml")
    }

    /// Subjects of the task's history in the truth, oldest first.
    pub fn history(&self, id: &str) -> Vec<String> {
        let name = format!("refs/agents/tasks/{}/{id}", self.state_of(id));
        let log = self.env.git(self.truth(), &["log", "--reverse", "--format=%s", &name]);
        log.lines().map(String::from).collect()
    }

    /// Commits `path` on a new branch `branch` off main and returns its head.
    pub fn commit_on(&self, branch: &str, path: &str) -> String {
        let env = &self.env;
        env.git(&self.repo, &["switch", "-q", "-c", branch, "main"]);
        write_files(&self.repo, &[(path, "work\n")]);
        env.git(&self.repo, &["add", path]);
        env.git(&self.repo, &["commit", "-q", "-m", &format!("work on {path}")]);
        env.git(&self.repo, &["switch", "-q", "main"]);
        env.git(&self.repo, &["rev-parse", branch]).trim().to_string()
    }
}

fn int(record: &toml::Table, key: &str) -> Option<i64> {
    record.get(key).and_then(toml::Value::as_integer)
}

fn text<'a>(record: &'a toml::Table, key: &str) -> Option<&'a str> {
    record.get(key).and_then(toml::Value::as_str)
}

/// Each scenario becomes a module with one test per backend, so the test
/// names say the backend: `claim_next_is_exactly_once::local`, `::remote`.
macro_rules! both {
    ($($scenario:ident),+ $(,)?) => {$(
        mod $scenario {
            #[test]
            fn local() {
                super::$scenario(&super::Setup::new(super::Backend::Local));
            }

            #[test]
            fn remote() {
                super::$scenario(&super::Setup::new(super::Backend::Remote));
            }
        }
    )+};
}

both!(
    claim_next_is_exactly_once,
    done_moves_the_claim_to_done_and_records_the_head,
    failing_twice_blocks,
    release_puts_the_task_back,
    requeue_takes_a_blocked_task_only,
    unlock_stale_frees_gone_holders_then_expired_leases,
    heartbeat_moves_the_lease,
    a_verdict_by_another_agent_writes_nothing,
    status_counts_agree_with_the_refs,
    a_plan_changing_a_claimed_task_is_refused,
);

/// `claim --next` until nothing is ready, as `agent` in `repo`; the ids it got.
fn claim_until_none(vars: &[(String, String)], repo: &Path, agent: &str, start: &std::sync::Barrier) -> Vec<String> {
    start.wait();
    let mut got = Vec::new();
    for _ in 0..=READY.len() {
        let out = Command::new(BIN)
            .args(["claim", "--next", "--agent", agent])
            .current_dir(repo)
            .env_clear()
            .envs(vars.iter().cloned())
            .output()
            .expect("run claim");
        match out.status.code() {
            Some(0) => got.push(String::from_utf8_lossy(&out.stdout).trim().to_string()),
            Some(5) => return got,
            _ => panic!("{agent}: claim failed: {}", String::from_utf8_lossy(&out.stderr)),
        }
    }
    panic!("{agent} claimed more than the {} ready tasks: {got:?}", READY.len())
}

fn claim_next_is_exactly_once(s: &Setup) {
    let mut vars = s.env.vars();
    vars.push(("GIT_AGENTS_NOW".into(), s.now().to_string()));
    // With a remote, each claimer on its own machine.
    let clones = s.clones();
    let places = [(&clones[0], "agent-a"), (&clones[clones.len() - 1], "agent-b")];
    let start = std::sync::Barrier::new(places.len());
    let got: Vec<(&str, Vec<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = places
            .iter()
            .map(|&(repo, agent)| {
                let (vars, start) = (&vars, &start);
                scope.spawn(move || (agent, claim_until_none(vars, repo, agent, start)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("claimer")).collect()
    });
    s.advance(1);
    let mut all: Vec<&str> = got.iter().flat_map(|(_, ids)| ids.iter().map(String::as_str)).collect();
    all.sort_unstable();
    let mut ready = READY.to_vec();
    ready.sort_unstable();
    assert_eq!(all, ready, "each ready task claimed exactly once: {got:?}");
    for (agent, ids) in &got {
        for id in ids {
            assert_eq!(s.state_of(id), "claimed");
            assert_eq!(text(&s.record(id), "agent"), Some(*agent), "{id}");
            let claims = s.history(id).iter().filter(|m| m.starts_with("claim ")).count();
            assert_eq!(claims, 1, "{id}: {:?}", s.history(id));
        }
    }
    assert_eq!(s.state_of("api"), "available", "api waits for auth");
    // Each claimer's last read saw every claim: both mirrors are the remote.
    for clone in &clones {
        s.assert_mirror(clone);
    }
    s.assert_seen_elsewhere();
}

fn done_moves_the_claim_to_done_and_records_the_head(s: &Setup) {
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    assert_eq!(s.state_of("auth"), "claimed");
    let claimed = s.oid_of("auth");
    let head = s.commit_on("agents/auth", "src/auth/login.rs");
    let out = s.run(&["done", "auth", "--agent", "a1"]);
    out.success();
    assert_eq!(s.state_of("auth"), "done", "{out}");
    let record = s.record("auth");
    assert_eq!(text(&record, "head"), Some(head.as_str()));
    assert_eq!(text(&record, "branch"), Some("agents/auth"));
    assert_eq!(
        s.env
            .git(s.truth(), &["rev-parse", &format!("{}^", s.oid_of("auth"))])
            .trim(),
        claimed,
        "the done link follows the claim link"
    );
    assert_eq!(s.history("auth").len(), 3, "{:?}", s.history("auth"));
    if let Some(bare) = &s.bare {
        assert_eq!(
            s.env.git(bare, &["rev-parse", "refs/heads/agents/auth"]).trim(),
            head,
            "the branch travelled with the verdict"
        );
    }
    let out = s.run(&["claim", "api", "--agent", "a1"]);
    assert_eq!(out.stdout, "api\n", "api is ready once auth is done: {out}");
    s.assert_seen_elsewhere();
}

fn failing_twice_blocks(s: &Setup) {
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    s.run(&["fail", "auth", "--agent", "a1", "--reason", "red once"])
        .success();
    assert_eq!(s.state_of("auth"), "available");
    let record = s.record("auth");
    assert_eq!(int(&record, "attempts"), Some(1));
    assert_eq!(text(&record, "last_failure"), Some("red once"));
    assert_eq!(text(&record, "agent"), None, "the holder is forgotten");
    s.assert_seen_elsewhere();

    s.run(&["claim", "auth", "--agent", "a1"]).success();
    let out = s.run(&["fail", "auth", "--agent", "a1", "--reason", "red twice"]);
    assert!(out.stdout.contains("auth blocked"), "{out}");
    assert_eq!(s.state_of("auth"), "blocked");
    let record = s.record("auth");
    assert_eq!(int(&record, "attempts"), Some(2));
    assert_eq!(text(&record, "last_failure"), Some("red twice"));
    let before = s.all_refs();
    let out = s.run(&["claim", "auth", "--agent", "a2"]);
    assert_eq!(out.code, 5, "{out}");
    assert_eq!(s.all_refs(), before, "a refused claim wrote refs");
    s.assert_seen_elsewhere();
}

fn release_puts_the_task_back(s: &Setup) {
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    assert!(int(&s.record("auth"), "lease_until").is_some());
    s.run(&["release", "auth", "--agent", "a1"]).success();
    assert_eq!(s.state_of("auth"), "available");
    let record = s.record("auth");
    assert_eq!(int(&record, "attempts"), Some(0), "a release is no failed attempt");
    assert_eq!(text(&record, "agent"), None);
    assert_eq!(int(&record, "lease_until"), None);
    s.assert_seen_elsewhere();
    // Ready again: with nothing claimed, --next takes the first ready task.
    let out = s.run(&["claim", "--next", "--agent", "a2"]);
    assert_eq!(out.stdout, "auth\n", "{out}");
    assert_eq!(text(&s.record("auth"), "agent"), Some("a2"));
    let history = s.history("auth");
    assert_eq!(history.len(), 4, "add, claim, release, claim: {history:?}");
    s.assert_seen_elsewhere();
}

fn requeue_takes_a_blocked_task_only(s: &Setup) {
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    s.run(&["fail", "auth", "--agent", "a1", "--reason", "red"]).success();
    // Failed once, the task is available again: nothing to requeue.
    let before = s.all_refs();
    let out = s.run(&["requeue", "auth"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("only blocked or done tasks can be requeued"),
        "{out}"
    );
    assert_eq!(s.all_refs(), before, "a refused requeue wrote refs");

    s.run(&["claim", "auth", "--agent", "a1"]).success();
    s.run(&["fail", "auth", "--agent", "a1", "--reason", "red"]).success();
    assert_eq!(s.state_of("auth"), "blocked");
    s.run(&["requeue", "auth"]).success();
    assert_eq!(s.state_of("auth"), "available");
    let record = s.record("auth");
    assert_eq!(int(&record, "attempts"), Some(0), "requeue resets the attempts");
    assert_eq!(text(&record, "by"), Some("Test Committer"));
    let last = s.history("auth").pop().expect("history");
    assert!(last.starts_with("requeue auth by"), "{last}");
    s.assert_seen_elsewhere();
    s.run(&["claim", "auth", "--agent", "a2"]).success();
    assert_eq!(s.state_of("auth"), "claimed");
}

fn unlock_stale_frees_gone_holders_then_expired_leases(s: &Setup) {
    // billing: held by a process a script named, which then ends.
    let mut holder = s.env.command("sleep", &s.repo).arg("600").spawn().expect("sleep");
    let pid = holder.id().to_string();
    let claimed = s.run_with(&["claim", "billing", "--agent", "gone"], &[("GIT_AGENTS_PID", &pid)]);
    holder.kill().expect("kill");
    holder.wait().expect("reap");
    claimed.success();
    // auth: held by a script, whose lease alone counts.
    s.run(&["claim", "auth", "--agent", "slow"]).success();
    let auth = s.oid_of("auth");

    s.advance(60);
    let out = s.run(&["unlock", "--stale"]);
    out.success();
    assert!(
        out.stdout.starts_with("billing available (process of gone is gone") && out.stdout.lines().count() == 1,
        "{out}"
    );
    assert_eq!(s.state_of("billing"), "available");
    assert_eq!(int(&s.record("billing"), "attempts"), Some(1), "a stale claim counts");
    assert_eq!(s.oid_of("auth"), auth, "a live lease is kept");
    s.assert_seen_elsewhere();

    s.advance(LEASE);
    let out = s.run(&["unlock", "--stale"]);
    assert_eq!(out.stdout, "auth available (lease of slow expired)\n", "{out}");
    assert_eq!(s.state_of("auth"), "available");
    let record = s.record("auth");
    assert_eq!(int(&record, "attempts"), Some(1));
    assert_eq!(text(&record, "agent"), None);
    s.assert_seen_elsewhere();

    let before = s.all_refs();
    let out = s.run(&["unlock", "--stale"]);
    out.success();
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(s.all_refs(), before, "nothing stale, nothing written");
}

fn heartbeat_moves_the_lease(s: &Setup) {
    let claimed_at = s.now();
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    let record = s.record("auth");
    assert_eq!(int(&record, "claimed_at"), Some(claimed_at));
    assert_eq!(int(&record, "lease_until"), Some(claimed_at + LEASE));
    let before = s.oid_of("auth");

    s.advance(300);
    let beat_at = s.now();
    s.run(&["heartbeat", "auth", "--agent", "a1"]).success();
    assert_eq!(s.state_of("auth"), "claimed");
    let record = s.record("auth");
    assert_eq!(int(&record, "lease_until"), Some(beat_at + LEASE));
    assert_eq!(int(&record, "claimed_at"), Some(claimed_at), "the claim itself stays");
    let after = s.oid_of("auth");
    assert_ne!(after, before);
    assert_eq!(
        s.env.git(s.truth(), &["rev-parse", &format!("{after}^")]).trim(),
        before,
        "the heartbeat is one more link"
    );
    s.assert_seen_elsewhere();

    // Past the first lease, within the renewed one: not stale.
    s.clock.set(claimed_at + LEASE + 60);
    let refs = s.all_refs();
    let out = s.run(&["unlock", "--stale"]);
    assert_eq!(out.stdout, "", "{out}");
    assert_eq!(s.all_refs(), refs);
    s.clock.set(beat_at + LEASE + 1);
    let out = s.run(&["unlock", "--stale"]);
    assert_eq!(out.stdout, "auth available (lease of a1 expired)\n", "{out}");
    assert_eq!(s.state_of("auth"), "available");
}

fn a_verdict_by_another_agent_writes_nothing(s: &Setup) {
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    // Work on the branch, so `done` has something it could publish.
    s.commit_on("agents/auth", "src/auth/login.rs");
    let before = s.all_refs();
    for args in [
        &["done", "auth", "--agent", "a2"][..],
        &["fail", "auth", "--agent", "a2", "--reason", "not mine"],
        &["release", "auth", "--agent", "a2"],
        &["heartbeat", "auth", "--agent", "a2"],
    ] {
        let out = s.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out}");
        assert_eq!(s.all_refs(), before, "{args:?} wrote refs");
    }
    if let Some(bare) = &s.bare {
        let branches = s.env.git(bare, &["for-each-ref", "refs/heads/agents/"]);
        assert_eq!(branches, "", "the refused done published no branch");
    }
    s.assert_seen_elsewhere();
    s.run(&["done", "auth", "--agent", "a1"]).success();
    assert_eq!(s.state_of("auth"), "done");
}

fn status_counts_agree_with_the_refs(s: &Setup) {
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    s.run(&["done", "auth", "--agent", "a1"]).success();
    s.run(&["claim", "billing", "--agent", "a2"]).success();
    s.run(&["claim", "docs", "--agent", "a3"]).success();
    s.run(&["fail", "docs", "--agent", "a3", "--reason", "red"]).success();
    for _ in 0..2 {
        s.run(&["claim", "ops", "--agent", "a4"]).success();
        s.run(&["fail", "ops", "--agent", "a4", "--reason", "red"]).success();
    }
    let out = s.run(&["status", "--json"]);
    out.success();
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");

    let tasks = s.tasks();
    let count = |state: &str| tasks.values().filter(|(st, _)| st == state).count();
    let failed = tasks
        .iter()
        .filter(|(id, (st, _))| {
            matches!(st.as_str(), "available" | "claimed") && int(&s.record(id), "attempts") > Some(0)
        })
        .count();
    assert_eq!(json["total"], tasks.len());
    assert_eq!(json["completed"], count("done") + count("merged"));
    assert_eq!(json["in_progress"], count("claimed"));
    assert_eq!(json["blocked"], count("blocked"));
    assert_eq!(json["available"], count("available"));
    assert_eq!(json["failed"], failed);
    // And the figures are the ones this history makes.
    let figures = ["total", "completed", "in_progress", "failed", "blocked", "available"].map(|k| json[k].clone());
    assert_eq!(figures, [5, 1, 1, 1, 1, 2].map(serde_json::Value::from), "{out}");
    for task in json["tasks"].as_array().expect("tasks") {
        let id = task["id"].as_str().expect("id");
        assert_eq!(task["state"], tasks[id].0, "{id}");
        assert_eq!(task["failed_attempts"].as_i64(), int(&s.record(id), "attempts"), "{id}");
    }
    // Another machine at the same moment prints the same status.
    if let Some(other) = &s.other {
        s.clock.set(s.now() - 1);
        let theirs = s.run_in(other, &["status", "--json"], &[]);
        assert_eq!(theirs.stdout, out.stdout, "status differs between the clones");
        s.assert_mirror(other);
    }
}

fn a_plan_changing_a_claimed_task_is_refused(s: &Setup) {
    s.run(&["claim", "auth", "--agent", "a1"]).success();
    let plan = s.repo.join("agents.toml");
    std::fs::write(&plan, PLAN.replace("Build auth.", "Build auth again.")).expect("plan");
    let before = s.all_refs();
    let out = s.run(&["plan", "--yes"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("would change task `auth`, which is claimed"),
        "{out}"
    );
    assert_eq!(s.all_refs(), before, "a refused plan wrote refs");
    s.assert_seen_elsewhere();

    // A change to a task nobody holds is recorded, and the claim kept.
    let claim = s.oid_of("auth");
    let recorded = s.env.git(s.truth(), &["rev-parse", "refs/agents/plan"]);
    std::fs::write(&plan, PLAN.replace("Build billing.", "Build billing again.")).expect("plan");
    s.run(&["plan", "--yes", "-q"]).success();
    let plan_ref = s.env.git(s.truth(), &["rev-parse", "refs/agents/plan"]);
    assert_ne!(plan_ref, recorded, "the plan was recorded");
    assert_eq!(
        s.env.git(s.truth(), &["rev-parse", "refs/agents/plan^"]),
        recorded,
        "the new plan revision follows the old one"
    );
    assert_eq!(s.oid_of("auth"), claim, "the claim is untouched");
    s.assert_seen_elsewhere();
}

/// The same steps print the same on both backends: what a person or an
/// agent reads does not depend on where the state lives.
#[test]
fn both_backends_print_the_same() {
    // Each step: seconds to wait first, then the command.
    let steps: &[(i64, &[&str])] = &[
        (0, &["claim", "--next", "--agent", "a1"]),
        // With a claim held, --next starts at a random place: name the task.
        (0, &["claim", "billing", "--agent", "a2", "--json"]),
        (0, &["heartbeat", "auth", "--agent", "a1"]),
        (0, &["done", "auth", "--agent", "a2"]),
        (0, &["fail", "billing", "--agent", "a2", "--reason", "red"]),
        (0, &["requeue", "billing"]),
        (0, &["claim", "billing", "--agent", "a2"]),
        (0, &["release", "billing", "--agent", "a2"]),
        (0, &["done", "auth", "--agent", "a1", "--json"]),
        (0, &["claim", "api", "--agent", "a3"]),
        (0, &["claim", "ops", "--agent", "a4"]),
        (0, &["claim", "docs", "--agent", "a5"]),
        (0, &["claim", "billing", "--agent", "a6"]),
        (0, &["claim", "--next", "--agent", "a7"]),
        (0, &["status"]),
        (0, &["status", "--json"]),
        (LEASE, &["unlock", "--stale"]),
        (0, &["log", "billing"]),
        (0, &["log"]),
    ];
    let transcript = |backend| {
        let s = Setup::new(backend);
        let mut text = String::new();
        for &(wait, args) in steps {
            s.advance(wait);
            let out = s.run(args);
            let shown = out.to_string().replace("machine-a", "repo");
            text.push_str(&format!("$ git agents {}\n{shown}\n", args.join(" ")));
        }
        text
    };
    let local = transcript(Backend::Local);
    let remote = transcript(Backend::Remote);
    if local != remote {
        let diff: Vec<String> = local
            .lines()
            .zip(remote.lines())
            .filter(|(l, r)| l != r)
            .map(|(l, r)| format!("local:  {l}\nremote: {r}"))
            .collect();
        panic!(
            "the backends print differently:\n{}\n\nlocal transcript:\n{local}",
            diff.join("\n")
        );
    }
}
