//! A failure's reason as a human can act on it: the first error-looking
//! lines of an output, not its last line (CLIs end with usage boilerplate
//! such as "For more information, try '--help'").

/// Words that mark a line as the error itself.
const ERROR_WORDS: &[&str] = &[
    "error",
    "fatal",
    "failed",
    "failure",
    "panic",
    "exception",
    "traceback",
    "denied",
    "not found",
    "unexpected",
    "unknown option",
    "unknown argument",
    "invalid",
    "cannot",
    "can't",
    "refus",
    "not allowed",
    "no such",
    "assert",
];

/// Lines that never explain anything.
fn is_boilerplate(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    l.is_empty()
        || l.starts_with("usage:")
        || l.starts_with("for more information")
        || l.starts_with("run with --help")
        || l.starts_with("try '")
        || l.starts_with("see '")
}

/// Escape sequences and control characters out, so a reason prints as plain text.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else if !c.is_control() || c == '\t' {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// The reason to show for `output`: its first error-looking line (with the
/// next one when it ends in a colon), else its last meaningful line.
pub fn from_output(output: &str) -> String {
    let lines: Vec<String> = output.lines().map(plain).filter(|l| !is_boilerplate(l)).collect();
    let first_error = lines.iter().position(|l| {
        let lower = l.to_ascii_lowercase();
        ERROR_WORDS.iter().any(|w| lower.contains(w))
    });
    let text = match first_error {
        Some(i) if lines[i].ends_with(':') && i + 1 < lines.len() => format!("{} {}", lines[i], lines[i + 1]),
        Some(i) => lines[i].clone(),
        None => lines.last().cloned().unwrap_or_default(),
    };
    shorten(&text, 240)
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::from_output;

    #[test]
    fn the_error_line_wins_over_usage_boilerplate() {
        let out = "\u{1b}[31merror\u{1b}[0m: unexpected argument '--full-auto' found\n\n  tip: to pass '--full-auto' as a value, use '-- --full-auto'\n\nUsage: codex exec [OPTIONS] [PROMPT]\n\nFor more information, try '--help'.\n";
        assert_eq!(from_output(out), "error: unexpected argument '--full-auto' found");
    }

    #[test]
    fn a_colon_line_takes_the_next_line_and_plain_output_its_last() {
        assert_eq!(
            from_output("running\nFAILED tests:\n  api::login\n"),
            "FAILED tests: api::login"
        );
        assert_eq!(from_output("step 1\nstep 2\n"), "step 2");
        assert_eq!(from_output(""), "");
        assert_eq!(from_output(&"x".repeat(500)).chars().count(), 240);
    }
}
