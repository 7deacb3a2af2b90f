//! Edges of the plan: globs whose escapes hide an overlap, ids that name one
//! file on a case-insensitive or normalizing file system, and agent
//! worktrees of a repository that is a submodule.

use std::path::Path;

use crate::common::{TestEnv, BIN};

/// Two tasks that may run at the same time, owning `a` and `b` (TOML strings).
fn two_tasks(a: &str, b: &str) -> String {
    format!("[[task]]\nid = \"one\"\nowns = [{a}]\nprompt = \"x\"\n\n[[task]]\nid = \"two\"\nowns = [{b}]\nprompt = \"y\"\n")
}

/// `plan --yes` on `text`: refused with exit 2 and no ref written.
fn refused(env: &TestEnv, repo: &Path, text: &str) -> String {
    std::fs::write(repo.join("agents.toml"), text).expect("plan");
    let before = env.refs(repo);
    let out = env.run(repo, &["plan", "--yes"]);
    assert_eq!(out.code, 2, "{text}\n{out}");
    assert_eq!(env.refs(repo), before, "a refused plan writes nothing");
    out.stderr
}

#[test]
fn an_escaped_slash_does_not_hide_an_overlap() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    // The glob texts `src/a\/b` and `src/a/b`: globset reads `\/` as `/`.
    for (a, b) in [
        (r#""src/a\\/b""#, r#""src/a/b""#),
        (r#""src\\/a/**""#, r#""src/a/c""#),
        (r#""src/\\n\\ew.rs""#, r#""src/new.rs""#),
        (r#""src/x\\*y""#, r#""src/x[*]y""#),
    ] {
        let err = refused(&env, &repo, &two_tasks(a, b));
        assert!(
            err.contains("tasks `one` and `two` may run at the same time and their globs may overlap"),
            "{a} vs {b}: {err}"
        );
    }
}

#[test]
fn escapes_are_written_in_normal_form() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    std::fs::write(
        repo.join("agents.toml"),
        two_tasks(r#""src\\/a\\/b", "src/lit\\*.rs""#, r#""docs/\\**""#),
    )
    .expect("plan");
    env.run(&repo, &["plan", "--yes", "-q"]).success();
    let plan: toml::Table = env
        .git(&repo, &["show", "refs/agents/plan:plan.toml"])
        .parse()
        .expect("plan.toml");
    let owns = |i: usize| plan["task"][i]["owns"].clone();
    // `\/` is a separator to the matcher, so it is written as one; an
    // escaped `*` stays escaped (unescaped it would be a wildcard).
    assert_eq!(owns(0), toml::Value::from(vec!["src/a/b", r"src/lit\*.rs"]));
    assert_eq!(owns(1), toml::Value::from(vec![r"docs/\**"]));
}

#[test]
fn an_escape_cannot_smuggle_dotdot_or_git() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let err = refused(&env, &repo, &two_tasks(r#""src/\\.\\./x""#, r#""docs/**""#));
    assert!(err.contains("contains '..'"), "{err}");
    let err = refused(&env, &repo, &two_tasks(r#"".\\git/hooks/*""#, r#""docs/**""#));
    assert!(err.contains("points into .git"), "{err}");
    // A leading backslash reads as a Windows absolute path and stays refused.
    let err = refused(&env, &repo, &two_tasks(r#""\\.git/hooks/*""#, r#""docs/**""#));
    assert!(err.contains("is an absolute path"), "{err}");
}

#[test]
fn ids_that_differ_only_in_case_are_refused() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    let text = "[[task]]\nid = \"Auth\"\nowns = [\"src/auth/**\"]\nprompt = \"x\"\n\n\
                [[task]]\nid = \"auth\"\nowns = [\"docs/**\"]\nprompt = \"y\"\n";
    let err = refused(&env, &repo, text);
    assert!(
        err.contains("agents.toml:7:6: task id `auth` differs from `Auth` (line 2) only in letter case"),
        "{err}"
    );
}

#[test]
fn ids_with_invisible_or_decomposed_characters_are_refused() {
    let env = TestEnv::new();
    let repo = env.basic_repo();
    for (id, shown) in [
        ("caf\u{e9}", "U+00E9"),      // NFC
        ("cafe\u{301}", "U+0301"),    // NFD: the same name to macOS
        ("au\u{200b}th", "U+200B"),   // zero-width space
        ("\u{feff}auth", "U+FEFF"),   // byte order mark
        ("\u{41e}\u{41a}", "U+041E"), // Cyrillic, looks like "OK"
    ] {
        let text = format!("[[task]]\nid = \"{id}\"\nowns = [\"src/auth/**\"]\nprompt = \"x\"\n");
        let err = refused(&env, &repo, &text);
        assert!(
            err.contains(&format!("contains the non-ASCII character {shown}")),
            "{id:?}: {err}"
        );
    }
}

#[test]
fn agent_names_must_be_ascii_too() {
    let env = TestEnv::new();
    let repo = env.planned_repo("[[task]]\nid = \"auth\"\nowns = [\"src/auth/**\"]\nprompt = \"x\"\n");
    let before = env.refs(&repo);
    let out = env.run(&repo, &["claim", "auth", "--agent", "agent\u{200b}1"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("non-ASCII character U+200B"), "{out}");
    assert_eq!(env.refs(&repo), before, "a refused claim writes nothing");
    let out = env.run(
        &repo,
        &["spawn", "1", "--name-prefix", "\u{e9}-", "--dry-run", "--", "true"],
    );
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("non-ASCII character U+00E9"), "{out}");
}

/// A superproject `super` with the basic repository as submodule `libs/inner`.
fn superproject(env: &TestEnv) -> (std::path::PathBuf, std::path::PathBuf) {
    let inner_origin = env.basic_repo();
    let sup = env.repo("super", &[("README.md", "# super\n")]);
    env.git(
        &sup,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "add",
            "-q",
            inner_origin.to_str().expect("utf-8 path"),
            "libs/inner",
        ],
    );
    env.git(&sup, &["commit", "-q", "-m", "add inner"]);
    let inner = sup.join("libs/inner");
    env.git(&inner, &["checkout", "-q", "-B", "main"]);
    (sup, inner)
}

#[test]
fn agent_worktrees_of_a_submodule_stay_outside_the_superproject() {
    let env = TestEnv::new();
    let (sup, inner) = superproject(&env);
    let plan = format!(
        "[agent]\ncommand = [\"{BIN}\", \"scripted-agent\"]\n\n\
         [[task]]\nid = \"one\"\nowns = [\"src/one.rs\"]\nprompt = '''\nagent: write src/one.rs one\nagent: commit one\n'''\n\n\
         [[task]]\nid = \"two\"\nowns = [\"src/two.rs\"]\nprompt = '''\nagent: write src/two.rs two\nagent: commit two\n'''\n"
    );
    std::fs::write(inner.join("agents.toml"), plan).expect("plan");
    // The plan file is the user's own untracked file: keep it out of both statuses.
    let exclude = env.git(
        &inner,
        &["rev-parse", "--path-format=absolute", "--git-path", "info/exclude"],
    );
    let exclude = Path::new(exclude.trim());
    std::fs::create_dir_all(exclude.parent().expect("info")).expect("info dir");
    std::fs::write(exclude, "agents.toml\n").expect("exclude");
    env.run(&inner, &["plan", "--yes", "-q"]).success();

    let expected = sup.with_file_name("super.agents").join("libs-inner");
    let dry = env.run(&inner, &["spawn", "2", "--dry-run"]);
    dry.success();
    for agent in ["agent-1", "agent-2"] {
        let line = format!("{agent}: worktree {}", expected.join(agent).display());
        assert!(dry.stdout.contains(&line), "{line}\n{dry}");
    }

    env.run(&inner, &["spawn", "2"]).success();
    for agent in ["agent-1", "agent-2"] {
        let wt = expected.join(agent);
        assert!(wt.join(".git").is_file(), "{} is a linked worktree", wt.display());
        let common = env.git(&wt, &["rev-parse", "--path-format=absolute", "--git-common-dir"]);
        assert_eq!(
            Path::new(common.trim()).canonicalize().expect("common dir"),
            sup.join(".git/modules/libs/inner").canonicalize().expect("modules dir"),
            "a worktree of the submodule's repository"
        );
    }
    assert!(
        !sup.join("libs/inner.agents").exists(),
        "nothing inside the superproject"
    );
    assert_eq!(
        env.git(&sup, &["status", "--porcelain", "--ignore-submodules=none"]),
        "",
        "the superproject's working tree stays clean"
    );
    assert_eq!(env.git(&inner, &["status", "--porcelain"]), "", "and the submodule's");
    for id in ["one", "two"] {
        let files = env.git(&inner, &["ls-tree", "-r", "--name-only", &format!("agents/{id}")]);
        assert!(files.contains(&format!("src/{id}.rs")), "{id}: {files}");
    }
}

#[test]
fn a_repository_that_is_not_a_submodule_keeps_the_sibling_folder() {
    let env = TestEnv::new();
    let repo = env.planned_repo("[[task]]\nid = \"auth\"\nowns = [\"src/auth/**\"]\nprompt = \"x\"\n");
    let dry = env.run(&repo, &["spawn", "1", "--dry-run", "--", "true"]);
    dry.success();
    let line = format!(
        "agent-1: worktree {}",
        repo.with_file_name("repo.agents/agent-1").display()
    );
    assert!(dry.stdout.contains(&line), "{line}\n{dry}");
}

#[test]
fn a_submodule_of_a_submodule_goes_beside_the_outermost_superproject() {
    let env = TestEnv::new();
    let deep_origin = env.repo("deep-origin", &[("src/lib.rs", "\n")]);
    let mid_origin = env.repo("mid-origin", &[("README.md", "mid\n")]);
    let add = |into: &Path, from: &Path, at: &str| {
        let from = from.to_str().expect("utf-8 path");
        env.git(
            into,
            &["-c", "protocol.file.allow=always", "submodule", "add", "-q", from, at],
        );
        env.git(into, &["commit", "-q", "-m", "add a submodule"]);
    };
    add(&mid_origin, &deep_origin, "deep");
    let sup = env.repo("super", &[("README.md", "# super\n")]);
    add(&sup, &mid_origin, "libs/mid");
    env.git(
        &sup,
        &[
            "-c",
            "protocol.file.allow=always",
            "submodule",
            "update",
            "-q",
            "--init",
            "--recursive",
        ],
    );
    let deep = sup.join("libs/mid/deep");
    std::fs::write(
        deep.join("agents.toml"),
        "base = \"main\"\n[[task]]\nid = \"one\"\nowns = [\"src/one.rs\"]\nprompt = \"x\"\n",
    )
    .expect("plan");
    env.run(&deep, &["plan", "--yes", "-q"]).success();
    let dry = env.run(&deep, &["spawn", "1", "--dry-run", "--", "true"]);
    dry.success();
    let expected = sup.with_file_name("super.agents").join("libs-mid-deep").join("agent-1");
    let line = format!("agent-1: worktree {}", expected.display());
    assert!(dry.stdout.contains(&line), "{line}\n{dry}");
}
