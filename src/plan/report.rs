//! What `git agents plan` shows: waves, ownership and the decision summary,
//! as text for people, JSON for scripts and DOT for Graphviz.

use serde::Serialize;

use super::validate::Checked;

/// The facts of a checked plan, shaped for output.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub base: String,
    pub tracked_files: usize,
    pub tasks: Vec<TaskLine>,
    /// Task ids per wave; wave 1 first.
    pub waves: Vec<Vec<String>>,
    /// How many tasks can run at once (the widest wave).
    pub max_parallel: usize,
    /// Tasks in the longest dependency chain (the number of waves).
    pub longest_chain: usize,
    pub sequential: bool,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TaskLine {
    pub id: String,
    pub title: String,
    pub wave: usize,
    pub owned_files: usize,
    pub owns: Vec<String>,
    /// Globs of `owns` that match no tracked file at base: only files the
    /// task creates (the table says "new files" when all of them are).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub new_only: Vec<String>,
    pub depends_on: Vec<String>,
}

pub fn summarize(checked: &Checked) -> Summary {
    let plan = &checked.plan;
    let chain = checked.waves.iter().max().map_or(0, |w| w + 1);
    let mut waves = vec![Vec::new(); chain];
    for (task, &w) in plan.tasks.iter().zip(&checked.waves) {
        waves[w].push(task.id.clone());
    }
    let max_parallel = waves.iter().map(Vec::len).max().unwrap_or(0);
    Summary {
        base: plan.base.clone(),
        tracked_files: checked.tracked_files,
        tasks: plan
            .tasks
            .iter()
            .zip(&checked.waves)
            .zip(&checked.owned_files)
            .zip(&checked.new_only)
            .map(|(((t, &w), &n), new_only)| TaskLine {
                id: t.id.clone(),
                title: t.title.clone(),
                wave: w + 1,
                owned_files: n,
                owns: t.owns.clone(),
                new_only: new_only.clone(),
                depends_on: t.depends_on.clone(),
            })
            .collect(),
        sequential: plan.tasks.len() > 1 && max_parallel == 1,
        waves,
        max_parallel,
        longest_chain: chain,
        warnings: checked.warnings.clone(),
    }
}

/// The human report: one block per wave, then the decision summary.
pub fn human(s: &Summary) -> String {
    let mut out = format!(
        "{} task{} in {} wave{}, base `{}` ({} tracked file{})\n",
        s.tasks.len(),
        plural(s.tasks.len()),
        s.waves.len(),
        plural(s.waves.len()),
        s.base,
        s.tracked_files,
        plural(s.tracked_files),
    );
    let id_width = s.tasks.iter().map(|t| t.id.chars().count()).max().unwrap_or(0);
    let files_width = s.tasks.iter().map(|t| files_column(t).len()).max().unwrap_or(0);
    for (w, ids) in s.waves.iter().enumerate() {
        out.push_str(&format!("\nwave {}\n", w + 1));
        for id in ids {
            let Some(t) = s.tasks.iter().find(|t| &t.id == id) else {
                continue;
            };
            let files = files_column(t);
            let after = if t.depends_on.is_empty() {
                String::new()
            } else {
                format!("  after {}", t.depends_on.join(", "))
            };
            out.push_str(&format!(
                "  {:id_width$}  {files:>files_width$}  {}{after}\n",
                t.id, t.title
            ));
        }
    }
    out.push_str(&format!(
        "\n{} task{} can run at once; the longest dependency chain has {} task{}\n",
        s.max_parallel,
        plural(s.max_parallel),
        s.longest_chain,
        plural(s.longest_chain)
    ));
    out
}

fn files_column(t: &TaskLine) -> String {
    if t.owns.is_empty() {
        "owns everything".to_string()
    } else if t.owned_files == 0 {
        // Its globs name files it is to create: "0 files" read as a mistake.
        "new files".to_string()
    } else {
        format!("{} file{}", t.owned_files, plural(t.owned_files))
    }
}

/// The dependency graph in Graphviz's DOT language; edges point from a
/// dependency to the task that waits for it.
pub fn dot(s: &Summary) -> String {
    let mut out = String::from("digraph plan {\n  rankdir=LR;\n  node [shape=box];\n");
    for t in &s.tasks {
        out.push_str(&format!(
            "  {} [label={}];\n",
            quote(&t.id),
            quote(&format!("{}\\n{}", t.id, t.title))
        ));
    }
    for t in &s.tasks {
        for d in &t.depends_on {
            out.push_str(&format!("  {} -> {};\n", quote(d), quote(&t.id)));
        }
    }
    for ids in &s.waves {
        let ids: Vec<String> = ids.iter().map(|i| quote(i)).collect();
        out.push_str(&format!("  {{ rank=same; {} }}\n", ids.join("; ")));
    }
    out.push_str("}\n");
    out
}

fn quote(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    // Keep our own "\n" line break in labels.
    format!("\"{}\"", escaped.replace("\\\\n", "\\n"))
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
