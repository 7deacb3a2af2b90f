//! The only module that writes to the terminal: results on stdout, the story
//! (status, warnings, errors, prompts) on stderr, colour only on a terminal.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, IsTerminal, Write};

use crate::error::Error;

/// How a command talks to the user; built once from the global flags.
#[derive(Debug, Clone)]
pub struct Ui {
    quiet: bool,
    color: bool,
    /// A terminal that can redraw (the live board); NO_COLOR does not change it.
    live: bool,
    interactive: bool,
    /// Results go to stderr with the story: a command made of others
    /// (`demo --json`) keeps stdout for its own result.
    results_to_stderr: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Self {
        let stderr_tty = std::io::stderr().is_terminal();
        Ui {
            quiet,
            color: stderr_tty && std::env::var_os("NO_COLOR").is_none(),
            live: stderr_tty && std::env::var("TERM").map_or(true, |t| t != "dumb"),
            interactive: stderr_tty && std::io::stdin().is_terminal(),
            results_to_stderr: false,
        }
    }

    /// This Ui with results sent to stderr, for the steps of a command
    /// whose own result is the only thing on stdout.
    pub fn results_on_stderr(&self) -> Ui {
        Ui {
            results_to_stderr: true,
            ..self.clone()
        }
    }

    /// Whether we may ask the user a question (stdin and stderr are a terminal).
    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// Whether `--quiet` was given: a command whose result is an action
    /// (`plan --yes`) then prints nothing but errors.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// The command's result, for people and pipes alike.
    pub fn result(&self, text: &str) {
        self.write_out(&printable(text));
    }

    fn write_out(&self, text: &str) {
        if self.results_to_stderr {
            if !self.quiet {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(text.as_bytes());
                if !text.ends_with('\n') {
                    let _ = err.write_all(b"\n");
                }
            }
            return;
        }
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
    }

    /// Whether results go to a terminal (a live view may redraw in place).
    pub fn stdout_is_terminal(&self) -> bool {
        std::io::stdout().is_terminal()
    }

    /// Replaces the whole terminal screen with `text` (a live view); lines
    /// about stale claims and blocked tasks stand out in colour.
    pub fn redraw(&self, text: &str) {
        let colour = std::env::var_os("NO_COLOR").is_none();
        let lines: Vec<String> = printable(text)
            .lines()
            .map(|line| {
                let task_line = line.starts_with("  ");
                match () {
                    _ if colour && task_line && line.contains("STALE") => format!("\x1b[1;31m{line}\x1b[0m"),
                    _ if colour && task_line && line.contains(" blocked ") => format!("\x1b[33m{line}\x1b[0m"),
                    _ => line.to_string(),
                }
            })
            .collect();
        self.write_out(&format!("\x1b[H\x1b[2J{}\n", lines.join("\n")));
    }

    /// A result as pretty JSON, for `--json`.
    pub fn json(&self, value: &impl serde::Serialize) {
        // JSON escapes control characters itself.
        self.write_out(&serde_json::to_string_pretty(value).unwrap_or_default());
    }

    /// Progress and status lines; silenced by `--quiet`.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{}", printable(text));
        }
    }

    /// Something the user should know even when all went well.
    pub fn warn(&self, text: &str) {
        eprintln!("{} {}", self.paint("warning:", "33"), printable(text));
    }

    /// An error that does not stop the command, shown as warnings.
    pub fn warn_error(&self, err: &Error) {
        self.warn(&err.message);
        for line in err.details.iter().chain(&err.causes) {
            self.warn(&format!("  {line}"));
        }
        for hint in &err.hints {
            self.warn(&format!("hint: {hint}"));
        }
    }

    pub fn error(&self, err: &Error) {
        eprintln!("{} {}", self.paint("error:", "31"), printable(&err.message));
        for detail in &err.details {
            eprintln!("  {}", printable(detail));
        }
        for cause in &err.causes {
            eprintln!("caused by: {}", printable(cause));
        }
        for hint in &err.hints {
            eprintln!("{} {}", self.paint("hint:", "36"), printable(hint));
        }
    }

    /// Ask a yes/no question on the terminal; anything but y/yes is no.
    pub fn confirm(&self, question: &str) -> bool {
        if !self.interactive {
            return false;
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return false;
        }
        matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Live lines, one per agent: indicatif on a terminal, plain stderr lines
/// otherwise. Shared by the agents' threads.
pub struct Board {
    bars: Option<(indicatif::MultiProgress, Vec<indicatif::ProgressBar>)>,
    names: Vec<String>,
    quiet: bool,
}

impl Ui {
    pub fn board(&self, names: &[String]) -> Board {
        let live = self.live && !self.quiet;
        let bars = live.then(|| {
            let multi = indicatif::MultiProgress::new();
            let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            let bars = names
                .iter()
                .map(|n| {
                    let bar = multi.add(indicatif::ProgressBar::new_spinner());
                    bar.set_style(style.clone());
                    bar.set_prefix(printable(n).into_owned());
                    bar.enable_steady_tick(std::time::Duration::from_millis(200));
                    bar
                })
                .collect();
            (multi, bars)
        });
        Board {
            bars,
            names: names.to_vec(),
            quiet: self.quiet,
        }
    }
}

impl Board {
    /// What `agent` is doing now. A `milestone` (claimed, done, failed with
    /// its reason, retried, blocked, stopped) is also a line of its own: in a
    /// pipe, and on a terminal above the live board, so the history scrolls
    /// while the board shows only what runs now.
    pub fn set(&self, agent: &str, text: &str, milestone: bool) {
        let line = || format!("{}: {}", printable(agent), printable(text));
        match &self.bars {
            Some((multi, bars)) => {
                if milestone {
                    // suspend: the board is cleared, the line printed, the board redrawn
                    // (println would print nothing when indicatif hides its target).
                    multi.suspend(|| eprintln!("{}", line()));
                }
                if let Some(i) = self.names.iter().position(|n| n == agent) {
                    bars[i].set_message(printable(text).into_owned());
                }
            }
            None if milestone && !self.quiet => eprintln!("{}", line()),
            None => {}
        }
    }

    /// Ends the live display; the milestone lines above it stay.
    pub fn finish(&self) {
        if let Some((_, bars)) = &self.bars {
            for bar in bars {
                bar.finish_and_clear();
            }
        }
    }
}

/// One live line for a run of steps (merge's `[k/N] task: testing`): on a
/// terminal an indicatif spinner with the step's elapsed time, and the lines
/// of history printed above it; in a pipe every line plainly on stderr.
pub struct StepLine {
    bar: Option<indicatif::ProgressBar>,
    quiet: bool,
}

impl Ui {
    pub fn step_line(&self) -> StepLine {
        let live = self.live && !self.quiet;
        let bar = live.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            let style = indicatif::ProgressStyle::with_template("{spinner} {wide_msg} {elapsed:>4}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        StepLine { bar, quiet: self.quiet }
    }
}

impl StepLine {
    /// What runs now; its elapsed time starts again.
    pub fn now(&self, text: &str) {
        match &self.bar {
            Some(bar) => {
                bar.reset_elapsed();
                bar.set_message(printable(text).into_owned());
            }
            None if !self.quiet => eprintln!("{}", printable(text)),
            None => {}
        }
    }

    /// A line of history: above the live line on a terminal. `to_stdout`
    /// for a result (the live line is on stderr, so it is only hidden
    /// meanwhile).
    pub fn line(&self, ui: &Ui, text: &str, to_stdout: bool) {
        let print = || {
            if to_stdout {
                ui.result(text);
            } else {
                ui.status(text);
            }
        };
        match &self.bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Ends the live line; the history above it stays.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `text` safe to show on a terminal: control characters other than line
/// feed and tab (escape sequences in a task title, a prompt, an agent's
/// output or a failure reason could move the cursor, retitle the window or
/// hide text) are shown in caret notation (`^[` for ESC) or as `\u{..}`.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.contains(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from_u32(c as u32 + 0x40).unwrap_or('?'));
            }
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(printable("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(printable("\u{1b}]0;pwned\u{7}title"), "^[]0;pwned^Gtitle");
        assert_eq!(printable("a\rb\u{7f}c\u{9b}31m"), "a^Mb^?c\\u{9b}31m");
    }
}
