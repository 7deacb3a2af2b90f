//! Every plan under `fixtures/plans/`: invalid ones fail with exit 2, a
//! snapshot of their problems, and no ref written; valid ones pass.

use crate::common::TestEnv;

#[test]
fn invalid_plans_are_refused_and_write_nothing() {
    insta::glob!("../fixtures/plans/invalid", "*.toml", |path| {
        let env = TestEnv::new();
        let repo = env.basic_repo();
        std::fs::copy(path, repo.join("agents.toml")).expect("copy plan");
        let before = env.refs(&repo);
        let out = env.run(&repo, &["plan", "--yes"]);
        assert_eq!(out.code, 2, "{}: {out}", path.display());
        assert_eq!(env.refs(&repo), before, "{} wrote refs", path.display());
        insta::assert_snapshot!(out);
    });
}

#[test]
fn there_are_many_invalid_fixtures() {
    let dir = crate::common::fixture("invalid");
    let count = std::fs::read_dir(dir).expect("fixtures").count();
    assert!(count >= 25, "only {count} invalid plan fixtures");
}

#[test]
fn valid_plans_are_accepted() {
    insta::glob!("../fixtures/plans/valid", "*.toml", |path| {
        let env = TestEnv::new();
        let repo = env.basic_repo();
        std::fs::copy(path, repo.join("agents.toml")).expect("copy plan");
        crate::common::write_files(&repo, &[("tasks/auth.md", "Build the auth module.\n")]);
        let out = env.run(&repo, &["plan"]);
        insta::assert_snapshot!(out);
    });
}
