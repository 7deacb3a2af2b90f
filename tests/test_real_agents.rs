//! Every preset against the real CLI: Claude Code, Codex, Gemini CLI and
//! aider, installed at pinned versions by `tests/clis/install`, talking to
//! the scripted model server of `tests/clis/model_server.py` on 127.0.0.1
//! (the proxies point there too, so nothing leaves the machine). Each
//! drains and merges a two-task plan; the model's requests must carry the
//! brief, and the retry's request the first attempt's failure.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use crate::common::TestEnv;

/// The folder holding `claude`, `codex`, `gemini` and `aider`; installs them once per machine.
pub(crate) fn clis() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clis/install");
        let out = Command::new(&script).output().expect("run tests/clis/install");
        assert!(
            out.status.success(),
            "installing the agent CLIs failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// The scripted model server, stopped on drop.
pub(crate) struct ModelServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl ModelServer {
    pub(crate) fn start(root: &Path) -> Self {
        let log = root.join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clis/model_server.py");
        let mut child = Command::new("python3")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(script)
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the model server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the port");
        let port = line.trim().parse().expect("the model server prints its port");
        ModelServer { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far: method, path and the text of every string in its JSON body.
    pub(crate) fn requests(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                let path = v["path"].as_str().unwrap_or_default().to_string();
                let body = v["body"].as_str().unwrap_or_default();
                let strings = match serde_json::from_str::<serde_json::Value>(body) {
                    Ok(json) => {
                        let mut all = Vec::new();
                        collect_strings(&json, &mut all);
                        all.join("\n")
                    }
                    Err(_) => body.to_string(),
                };
                (format!("{} {path}", v["method"].as_str().unwrap_or_default()), strings)
            })
            .collect()
    }
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment that points `preset`'s CLI at the server, and the files
/// its HOME needs (what a user's own login would have set up).
pub(crate) fn cli_env(preset: &str, server: &ModelServer, home: &Path) -> Vec<(String, String)> {
    let url = server.url();
    let mut env: Vec<(&str, String)> = vec![
        ("HTTP_PROXY", url.clone()),
        ("HTTPS_PROXY", url.clone()),
        ("http_proxy", url.clone()),
        ("https_proxy", url.clone()),
        ("NO_PROXY", "127.0.0.1,localhost".into()),
        ("no_proxy", "127.0.0.1,localhost".into()),
    ];
    match preset {
        "claude" => env.extend([
            ("ANTHROPIC_BASE_URL", url.clone()),
            ("ANTHROPIC_API_KEY", "dummy".into()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ]),
        "gemini" => {
            write(
                &home.join(".gemini/settings.json"),
                r#"{"security": {"auth": {"selectedType": "gemini-api-key"}}, "privacy": {"usageStatisticsEnabled": false}}"#,
            );
            env.extend([
                ("GEMINI_API_KEY", "dummy".into()),
                ("GOOGLE_GEMINI_BASE_URL", url.clone()),
            ]);
        }
        "codex" => {
            // A model name codex knows, so it offers its apply_patch edit
            // tool; no plugins or analytics (they reach github.com and
            // chatgpt.com); no endless retries when the server is gone;
            // `bash -c` rather than a login shell, which would reset PATH.
            write(
                &home.join(".codex/config.toml"),
                &format!(
                    r#"model = "gpt-5.5"
model_provider = "scripted"
allow_login_shell = false

[analytics]
enabled = false

[features]
plugins = false
unbounded_connection_retries = false

[model_providers.scripted]
name = "scripted"
base_url = "{url}/v1"
wire_api = "responses"
env_key = "SCRIPTED_API_KEY"
request_max_retries = 0
stream_max_retries = 0
"#
                ),
            );
            env.push(("SCRIPTED_API_KEY", "dummy".into()));
        }
        "aider" => {
            // aider writes a placeholder identity into the repository's
            // config when git has none (a user's own ~/.gitconfig has one),
            // and fetches model prices unless the model is described locally.
            write(
                &home.join(".gitconfig"),
                "[user]\n\tname = Test Author\n\temail = author@example.com\n",
            );
            write(
                &home.join(".aider.model.metadata.json"),
                r#"{"openai/scripted": {"max_input_tokens": 128000, "max_output_tokens": 8192, "input_cost_per_token": 0, "output_cost_per_token": 0, "litellm_provider": "openai", "mode": "chat"}}"#,
            );
            env.extend([
                ("OPENAI_API_BASE", format!("{url}/v1")),
                ("OPENAI_API_KEY", "dummy".into()),
                ("AIDER_MODEL", "openai/scripted".into()),
                ("LITELLM_LOCAL_MODEL_COST_MAP", "True".into()),
            ]);
        }
        other => panic!("no environment for preset {other}"),
    }
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// t1 starts with `-` (it must stay text) and fails its acceptance once:
/// the first try writes the wrong word. t2 is plain.
const PLAN: &str = r#"base = "main"

[agent]
max_attempts = 2

[[task]]
id = "t1"
owns = ["src/t1/**"]
test = "grep -qx right src/t1/x.txt || { echo ACCEPTANCE-SAW-$(cat src/t1/x.txt); exit 1; }"
prompt = """- Create src/t1/x.txt holding the word right.
model: first-try write src/t1/x.txt wrong
model: retry write src/t1/x.txt right
model: run git add -A && git commit -q -m 't1: x'
"""

[[task]]
id = "t2"
owns = ["src/t2/**"]
test = "test -f src/t2/y.txt"
prompt = """Create src/t2/y.txt.
model: write src/t2/y.txt hello from t2
"""
"#;

fn drains_and_merges(preset: &str) {
    let bin = clis();
    let env = TestEnv::new();
    let repo = env.planned_repo(PLAN);
    let base = env.git(&repo, &["rev-parse", "main"]).trim().to_string();
    let server = ModelServer::start(env.root());
    let home = env.root().join("home");
    let mut vars = cli_env(preset, &server, &home);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    vars.push(("PATH".into(), path));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let spawned = env.run_with(&repo, &["spawn", "2", "--agent", preset, "--timeout", "5m"], &vars);
    let requests = server.requests();
    let logs = std::fs::read_dir(repo.join(".git/agents/logs"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| {
                    format!(
                        "== {}\n{}",
                        e.path().display(),
                        std::fs::read_to_string(e.path()).unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    assert_eq!(spawned.code, 0, "{preset}: spawn failed:\n{spawned}\n{logs}");
    assert!(spawned.stdout.contains("2 completed / 2 total"), "{spawned}");

    // Every agent turn carried the brief: owned files and acceptance command.
    let turns: Vec<&String> = requests
        .iter()
        .map(|(_, b)| b)
        .filter(|b| b.contains("## Goal"))
        .collect();
    assert!(
        !turns.is_empty(),
        "{preset}: no request carried the task's prompt: {requests:?}"
    );
    for body in &turns {
        let t1 = body.contains("task `t1`");
        let (owns, test) = if t1 {
            ("src/t1/**", "grep -qx right src/t1/x.txt")
        } else {
            ("src/t2/**", "test -f src/t2/y.txt")
        };
        assert!(
            body.contains(owns) && body.contains(test),
            "{preset}: a request lacks the brief:\n{body}"
        );
    }
    // The retry was told why: the acceptance output of attempt 1.
    let history = env.run(&repo, &["log", "t1"]);
    assert!(
        turns
            .iter()
            .any(|b| b.contains("## Previous attempt") && b.contains("ACCEPTANCE-SAW-wrong")),
        "{preset}: no request carried the first failure:\n{spawned}\n{history}\n{logs}"
    );
    let log = env.run(&repo, &["log", "t1"]);
    assert!(
        log.stdout.contains("ACCEPTANCE-SAW-wrong") || log.stdout.contains("failed"),
        "{log}"
    );
    assert!(
        env.git(&repo, &["for-each-ref", "refs/agents/backup/"])
            .contains("t1-attempt-1"),
        "{preset}: the failed attempt's commit was not kept"
    );

    let merged = env.run_with(&repo, &["merge", "--test", "grep -qx right src/t1/x.txt"], &vars);
    assert_eq!(merged.code, 0, "{preset}: merge failed:\n{merged}");
    assert_eq!(env.git(&repo, &["show", "main:src/t1/x.txt"]), "right\n");
    assert_eq!(env.git(&repo, &["show", "main:src/t2/y.txt"]), "hello from t2\n");
    // Only the tasks' files landed: no CLI state, no .gitignore edits.
    let changed = env.git(&repo, &["diff", "--name-only", &base, "main"]);
    let mut changed: Vec<&str> = changed.lines().collect();
    changed.sort();
    assert_eq!(changed, vec!["src/t1/x.txt", "src/t2/y.txt"], "{preset}");
    // Nothing was written into the repository's own config.
    let config = std::fs::read_to_string(repo.join(".git/config")).expect("config");
    assert!(!config.contains("[user]"), "{preset} wrote an identity:\n{config}");
    // And nothing tried to leave the machine.
    let escapes: Vec<&String> = requests
        .iter()
        .map(|(m, _)| m)
        .filter(|m| m.starts_with("CONNECT"))
        .collect();
    assert!(escapes.is_empty(), "{preset}: tried to reach {escapes:?}");
}

#[test]
fn claude_drains_and_merges_a_plan() {
    drains_and_merges("claude");
}

#[test]
fn aider_drains_and_merges_a_plan() {
    drains_and_merges("aider");
}

#[test]
fn codex_drains_and_merges_a_plan() {
    drains_and_merges("codex");
}

#[test]
fn gemini_drains_and_merges_a_plan() {
    drains_and_merges("gemini");
}
