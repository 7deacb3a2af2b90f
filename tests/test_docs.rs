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
