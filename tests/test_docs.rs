//! The man pages committed under man/ match the CLI, and completions work.

use crate::common::TestEnv;

#[test]
fn committed_man_pages_are_up_to_date() {
    let env = TestEnv::new();
    let out = env.run(env.root(), &["install-man", "gen", "-q"]);
    out.success();
    let generated = env.root().join("gen/man1");
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let names = |dir: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("man dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let fix = "regenerate with `cargo run -q -- install-man target/man && rm -r man && cp -r target/man/man1 man`";
    assert_eq!(names(&generated), names(&committed), "man/ is out of date: {fix}");
    for name in names(&generated) {
        let fresh = std::fs::read(generated.join(&name)).expect("generated page");
        let kept = std::fs::read(committed.join(&name)).expect("committed page");
        assert!(fresh == kept, "man/{name} is out of date: {fix}");
    }
}

#[test]
fn completions_for_bash() {
    let env = TestEnv::new();
    let out = env.run(env.root(), &["completions", "bash"]);
    out.success();
    assert!(
        out.stdout.contains("git__agents") || out.stdout.contains("git-agents"),
        "{out}"
    );
    assert!(out.stdout.contains("spawn"), "{out}");
    assert_eq!(env.run(env.root(), &["completions", "tcsh"]).code, 2);
}

/// A copy of the binary in `<root>/tool/bin`, as `cargo install` puts it in
/// `~/.cargo/bin`; returns that bin folder.
fn installed_binary(env: &TestEnv) -> std::path::PathBuf {
    let bin = env.root().join("tool/bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::copy(crate::common::BIN, bin.join("git-agents")).expect("copy the binary");
    bin
}

#[test]
fn install_man_puts_the_page_where_git_help_finds_it_in_a_fresh_home() {
    let env = TestEnv::new();
    let bin = installed_binary(&env);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut install = env.command(&bin.join("git-agents").display().to_string(), env.root());
    let out = install
        .arg("install-man")
        .env("PATH", &path)
        .output()
        .expect("install-man");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(env.root().join("tool/share/man/man1/git-agents.1").is_file());
    // No MANPATH, no man config in HOME: man finds <bin>/../share/man from PATH.
    for args in [&["help", "agents"][..], &["agents", "--help"][..]] {
        let shown = env
            .command("git", env.root())
            .args(args)
            .env("PATH", &path)
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .expect("git help");
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&shown.stderr)
        );
        assert!(text.contains("git-agents"), "git {args:?} showed: {text}");
    }
}

#[test]
fn bash_completes_git_agents_through_gits_own_completion() {
    let git_completion = "/usr/share/bash-completion/completions/git";
    assert!(
        std::path::Path::new(git_completion).exists(),
        "git's bash completion is missing: install the bash-completion package"
    );
    let env = TestEnv::new();
    let script = env.root().join("git-agents.bash");
    let out = env.run(env.root(), &["completions", "bash"]);
    std::fs::write(&script, &out.stdout).expect("script");
    let complete = |words: &str| {
        let probe = format!(
            "source {git_completion}; source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); \
             COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             if [ \"${{COMP_WORDS[0]}}\" = git ]; then __git_wrap__git_main; \
             else _git__agents git-agents \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; fi; \
             echo \"${{COMPREPLY[*]}}\"",
            script.display()
        );
        let out = env
            .command("bash", env.root())
            .args(["-c", &probe])
            .output()
            .expect("bash");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("git agents spa"), "spawn");
    assert_eq!(complete("git agents merge --sq"), "--squash");
    assert_eq!(complete("git-agents sta"), "status");
    assert_eq!(complete("git-agents merge --no-c"), "--no-cache");
}
