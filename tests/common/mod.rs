//! The hermetic test environment: a temporary HOME, no global or system git
//! config, fixed identities and dates, and helpers that build real
//! repositories and run the real `git-agents` binary against them.

#![allow(dead_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_git-agents");

/// A fixed clock for `GIT_AGENTS_NOW`: 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600;

/// Files of the standard fixture repository.
pub const BASIC_FILES: &[(&str, &str)] = &[
    ("README.md", "# demo\n"),
    ("Cargo.toml", "[package]\nname = \"demo\"\n"),
    ("src/lib.rs", "pub mod auth;\n"),
    ("src/main.rs", "fn main() {}\n"),
    ("src/auth/mod.rs", "pub fn login() {}\n"),
    ("src/auth/token.rs", "pub struct Token;\n"),
    ("src/billing/mod.rs", "pub fn charge() {}\n"),
    ("tests/auth.rs", "#[test] fn t() {}\n"),
    ("tests/billing.rs", "#[test] fn t() {}\n"),
    ("docs/guide.md", "guide\n"),
];

pub struct TestEnv {
    dir: tempfile::TempDir,
    /// Whether git-agents sees a configured identity.
    pub identity: bool,
}

/// What a command printed and how it exited.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
    root: PathBuf,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        TestEnv { dir, identity: true }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `program` in `cwd` with the test environment, for tests that start
    /// processes themselves (to kill them, or to feed their stdin).
    pub fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(cwd).env_clear().envs(self.vars());
        cmd
    }

    /// The whole environment a command runs with.
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = Vec::new();
        for (k, v) in [
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("HOME", self.root().join("home").display().to_string()),
            ("GIT_CONFIG_GLOBAL", "/dev/null".into()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z".into()),
            ("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z".into()),
            ("TZ", "UTC".into()),
            ("LC_ALL", "C".into()),
            ("GIT_EDITOR", ":".into()),
            ("NO_COLOR", "1".into()),
        ] {
            vars.push((k.into(), v));
        }
        if self.identity {
            for (k, v) in [
                ("GIT_AUTHOR_NAME", "Test Author"),
                ("GIT_AUTHOR_EMAIL", "author@example.com"),
                ("GIT_COMMITTER_NAME", "Test Committer"),
                ("GIT_COMMITTER_EMAIL", "committer@example.com"),
            ] {
                vars.push((k.into(), v.into()));
            }
        }
        vars
    }

    /// Runs git in `cwd` and returns stdout; panics when git fails.
    pub fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let mut cmd = self.command("git", cwd);
        // Fixture commits always have an author, whatever `identity` says.
        cmd.env("GIT_AUTHOR_NAME", "Fixture")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
            .env("GIT_COMMITTER_NAME", "Fixture")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.com");
        let out = cmd.args(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new repository `name` on branch main with `files` committed.
    pub fn repo(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let path = self.root().join(name);
        std::fs::create_dir_all(&path).expect("repo dir");
        self.git(&path, &["init", "-q", "-b", "main"]);
        write_files(&path, files);
        self.git(&path, &["add", "-A"]);
        self.git(&path, &["commit", "-q", "-m", "initial"]);
        path
    }

    /// The standard fixture repository.
    pub fn basic_repo(&self) -> PathBuf {
        self.repo("repo", BASIC_FILES)
    }

    /// The standard fixture repository with `plan` recorded (agents.toml
    /// written, untracked, and `plan --yes` run).
    pub fn planned_repo(&self, plan: &str) -> PathBuf {
        let repo = self.basic_repo();
        std::fs::write(repo.join("agents.toml"), plan).expect("plan");
        self.run(&repo, &["plan", "--yes", "-q"]).success();
        repo
    }

    /// The standard fixture repository with `n` independent tasks t1..tn,
    /// each writing docs/tN.md through the scripted agent, all done.
    pub fn done_tasks(&self, n: usize) -> PathBuf {
        let repo = self.basic_repo();
        let mut plan = format!("[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n");
        for i in 1..=n {
            plan.push_str(&format!(
                "[[task]]\nid = \"t{i}\"\ntitle = \"Task {i}\"\nowns = [\"docs/t{i}.md\"]\nprompt = \"agent: write docs/t{i}.md task {i}\"\n\n"
            ));
        }
        std::fs::write(repo.join("agents.toml"), plan).expect("plan");
        self.git(&repo, &["update-index", "--refresh"]);
        self.run(&repo, &["plan", "--yes", "-q"]).success();
        self.run(&repo, &["spawn", "2"]).success();
        repo
    }

    /// Runs `git-agents args` in `cwd`.
    pub fn run(&self, cwd: &Path, args: &[&str]) -> Output {
        self.run_with(cwd, args, &[])
    }

    pub fn run_with(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command(BIN, cwd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.args(args).output().expect("run git-agents");
        Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
            root: self.root().to_path_buf(),
        }
    }

    /// Runs `git-agents args` on a pseudo-terminal (util-linux `script`),
    /// typing `input`; returns what the terminal showed.
    pub fn run_in_terminal(&self, cwd: &Path, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let line = std::iter::once(BIN)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = self
            .command("script", cwd)
            .args(["-qec", &line, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run script");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("type");
        let out = child.wait_with_output().expect("wait");
        Output {
            stdout: String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            code: out.status.code().unwrap_or(-1),
            root: self.root().to_path_buf(),
        }
    }

    /// Every ref with its value: compare before and after to prove nothing was written.
    pub fn refs(&self, repo: &Path) -> String {
        self.git(repo, &["for-each-ref", "--format=%(refname) %(objectname)"])
    }
}

pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let full = root.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, text).expect("write");
    }
}

impl Output {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success:\n{self}");
        self
    }
}

/// The snapshot form: stdout, then stderr, then the exit status, with the
/// temporary directory replaced by `[ROOT]`.
impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = self.root.display().to_string();
        let clean = |s: &str| s.replace(&root, "[ROOT]");
        write!(f, "{}", clean(&self.stdout))?;
        if !self.stderr.is_empty() {
            write!(f, "------- stderr -------\n{}", clean(&self.stderr))?;
        }
        write!(f, "[exit status: {}]", self.code)
    }
}

/// A file under `fixtures/plans/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans").join(name)
}
