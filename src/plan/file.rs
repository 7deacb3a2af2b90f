//! The `agents.toml` schema as written by people: every key known (unknown
//! keys are errors), every value that can be wrong carrying its span so a
//! problem can point at file:line:column.

use serde::Deserialize;
use toml::Spanned;

use super::Problem;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub base: Option<Spanned<String>>,
    pub test: Option<String>,
    pub agent: Option<RawAgent>,
    #[serde(default, rename = "task")]
    pub tasks: Vec<Spanned<RawTask>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub command: Option<Spanned<Vec<String>>>,
    pub max_attempts: Option<Spanned<i64>>,
    pub lease: Option<Spanned<String>>,
    pub setup: Option<String>,
    #[serde(default)]
    pub copy: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTask {
    pub id: Spanned<String>,
    pub title: Option<String>,
    pub owns: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    pub prompt: Option<String>,
    pub prompt_file: Option<Spanned<String>>,
    pub test: Option<String>,
}

/// Parses the text of a plan file; a syntax or schema error becomes one problem.
pub fn parse(source: &str) -> Result<RawPlan, Problem> {
    toml::from_str(source).map_err(|e| {
        let message = e.message().trim_end_matches('\n').replace('\n', "; ");
        let message = message.trim_end_matches('.').to_string();
        let problem = Problem::new(message).hint(schema_hint(e.message()));
        match e.span() {
            Some(span) => problem.at(source, span),
            None => problem,
        }
    })
}

fn schema_hint(message: &str) -> String {
    if message.contains("unknown field") {
        // serde names the unknown key first, then the ones it expected, each in backticks.
        let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
        if let Some((unknown, expected)) = names.split_first() {
            if let Some(near) = super::spelling::closest(unknown, expected.iter().copied()) {
                return format!("did you mean `{near}`?");
            }
        }
        "check the spelling; the keys a plan knows are listed in the template `git agents init` writes".into()
    } else if message.contains("missing field") {
        "add the missing key".into()
    } else if message.contains("invalid type") {
        "fix the value's type (lists are written [\"a\", \"b\"], text in quotes)".into()
    } else {
        "fix the TOML syntax at this position".into()
    }
}
