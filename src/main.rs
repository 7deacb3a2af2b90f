//! The `git-agents` binary: everything lives in the library so tests can reach it.

fn main() {
    std::process::exit(git_agents::run(std::env::args_os()));
}
