//! `git agents presets`: which agent CLIs the presets run, whether each is
//! installed, its version, and whether that version is the one the preset
//! was tested with.

use clap::Args;
use serde::Serialize;

use crate::agent_command::{shell_line, PRESETS};
use crate::error::Result;
use crate::ui::Ui;

/// List the agent presets, the CLIs they run and what is installed
///
/// For each preset (claude, codex, aider, gemini): the command it runs
/// (placeholders such as {brief} are filled per task), whether the program
/// is on PATH and its version, and whether the preset was tested with that
/// version. A preset tested with another version may still work; when it
/// does not, give your own command after `git agents spawn N --`.
///
/// Examples:
///
///   git agents presets
///   git agents presets --json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PresetsArgs {
    /// Print the list as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    preset: &'static str,
    argv: Vec<String>,
    path: Option<String>,
    version: Option<String>,
    tested: &'static str,
    /// Whether the installed version is the tested one.
    known: bool,
    allows: &'static str,
}

pub fn run(args: &PresetsArgs, ui: &Ui) -> Result<()> {
    // CLIs written in node take a second or more to print a version: ask all at once.
    let rows: Vec<Row> = std::thread::scope(|scope| {
        let handles: Vec<_> = PRESETS
            .iter()
            .map(|p| {
                scope.spawn(move || {
                    let path = crate::process::find_program(p.argv[0]);
                    let version = path
                        .as_deref()
                        .and_then(|path| crate::process::version_of(path, std::time::Duration::from_secs(10)));
                    Row {
                        preset: p.name,
                        argv: p.argv.iter().map(|s| s.to_string()).collect(),
                        known: version.as_deref().is_some_and(|v| v.contains(p.tested)),
                        path: path.map(|p| p.display().to_string()),
                        version,
                        tested: p.tested,
                        allows: p.allows,
                    }
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    if args.json {
        ui.json(&rows);
        return Ok(());
    }
    let mut out = String::new();
    for (row, preset) in rows.iter().zip(PRESETS) {
        let state = match (&row.path, &row.version) {
            (None, _) => format!("not installed (install {} {})", preset.package, row.tested),
            (Some(path), None) => format!("{path}: no version answer (tested with {})", row.tested),
            (Some(path), Some(v)) if row.known => format!("{path}: {v} (tested)"),
            (Some(path), Some(v)) => format!("{path}: {v} (tested with {}; may differ)", row.tested),
        };
        out.push_str(&format!(
            "{}\n  runs:   {}\n  found:  {state}\n  allows: {}\n",
            row.preset,
            shell_line(&row.argv),
            row.allows
        ));
    }
    ui.result(out.trim_end());
    Ok(())
}
