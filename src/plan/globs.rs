//! Ownership globs: what a task may change. Checks that a glob stays inside
//! the repository, matches globs against tracked paths, and decides whether
//! two globs could ever match one path that does not exist yet.
//!
//! Semantics: `*` and `?` stay within one path component, `**` spans any
//! number of components, and a glob that names a directory owns everything
//! under it (`src/auth` owns `src/auth/mod.rs`).

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// A glob that passed validation, in normal form (no `./`, no trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedGlob(pub String);

/// Validates `raw` and brings it into normal form.
pub fn normalize(raw: &str) -> Result<OwnedGlob, String> {
    if raw.trim().is_empty() {
        return Err("is empty; name a path or a glob such as `src/auth/**`".into());
    }
    if raw.starts_with('/') || raw.starts_with('\\') || has_drive_prefix(raw) {
        return Err("is an absolute path; write it relative to the repository root".into());
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err("contains '..' and could reach outside the repository".into()),
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err("names the repository root; use `**` to own everything".into());
    }
    if parts[0] == ".git" {
        return Err("points into .git, which no task may own".into());
    }
    let glob = parts.join("/");
    build(&glob).map_err(|e| format!("is not a valid glob: {}", e.kind()))?;
    Ok(OwnedGlob(glob))
}

fn has_drive_prefix(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

fn build(glob: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// Every pattern a glob stands for: itself, and everything under it.
fn patterns(glob: &OwnedGlob) -> [String; 2] {
    let under = if glob.0.ends_with("/**") || glob.0 == "**" {
        glob.0.clone()
    } else {
        format!("{}/**", glob.0)
    };
    [glob.0.clone(), under]
}

/// Matches paths against many tasks' globs at once.
pub struct Matcher {
    set: GlobSet,
    /// For each compiled pattern: (task index, glob index within the task).
    owner: Vec<(usize, usize)>,
}

impl Matcher {
    /// `tasks[i]` is the list of globs of task `i`.
    pub fn new(tasks: &[Vec<OwnedGlob>]) -> Self {
        let mut builder = GlobSetBuilder::new();
        let mut owner = Vec::new();
        for (t, globs) in tasks.iter().enumerate() {
            for (g, glob) in globs.iter().enumerate() {
                for pattern in patterns(glob) {
                    // Validated in `normalize`, so building cannot fail here.
                    if let Ok(compiled) = build(&pattern) {
                        builder.add(compiled);
                        owner.push((t, g));
                    }
                }
            }
        }
        let set = builder.build().unwrap_or_else(|_| GlobSet::empty());
        Matcher { set, owner }
    }

    /// Calls `hit(task, glob)` for every glob that matches `path`
    /// (a task may be reported more than once).
    pub fn for_each_match(&self, path: &str, scratch: &mut Vec<usize>, mut hit: impl FnMut(usize, usize)) {
        self.set.matches_into(path, scratch);
        for &i in scratch.iter() {
            let (t, g) = self.owner[i];
            hit(t, g);
        }
    }
}

/// Whether some path could match both globs. Sound: it never answers `false`
/// for globs that share a path; character classes count as any character.
pub fn may_overlap(a: &OwnedGlob, b: &OwnedGlob) -> bool {
    // Fast path: globs whose literal beginnings differ name disjoint paths.
    let (la, lb) = (literal_prefix(&a.0), literal_prefix(&b.0));
    if !la.starts_with(lb) && !lb.starts_with(la) {
        return false;
    }
    let pa = patterns(a);
    let pb = patterns(b);
    pa.iter().any(|x| {
        pb.iter().any(|y| {
            let xs = expand_braces(x);
            let ys = expand_braces(y);
            xs.iter().any(|x| ys.iter().any(|y| path_overlap(x, y)))
        })
    })
}

/// For every pair of tasks `(a, b)`, `a < b`, the pairs of their globs
/// `(index in a, index in b)`, in order, whose literal beginnings allow an
/// overlap (the fast path of [`may_overlap`]). Sorting the beginnings puts
/// every glob whose beginning extends another's right after it, so this
/// costs a sort plus the candidates, not a comparison of every pair of
/// tasks (4.5 million for 3,000 tasks).
pub fn candidate_pairs(globs: &[Vec<OwnedGlob>]) -> std::collections::BTreeMap<(usize, usize), Vec<(usize, usize)>> {
    let mut entries: Vec<(&str, usize, usize)> = globs
        .iter()
        .enumerate()
        .flat_map(|(t, gs)| {
            gs.iter()
                .enumerate()
                .map(move |(g, glob)| (literal_prefix(&glob.0), t, g))
        })
        .collect();
    entries.sort_unstable();
    let mut out: std::collections::BTreeMap<(usize, usize), Vec<(usize, usize)>> = Default::default();
    for (i, &(prefix, t, g)) in entries.iter().enumerate() {
        for &(_, u, h) in entries[i + 1..].iter().take_while(|e| e.0.starts_with(prefix)) {
            if t == u {
                continue;
            }
            let (key, pair) = if t < u { ((t, u), (g, h)) } else { ((u, t), (h, g)) };
            out.entry(key).or_default().push(pair);
        }
    }
    for pairs in out.values_mut() {
        pairs.sort_unstable();
        pairs.dedup();
    }
    out
}

/// The part of a glob before its first special character.
fn literal_prefix(glob: &str) -> &str {
    let end = glob.find(['*', '?', '[', '{', '\\']).unwrap_or(glob.len());
    &glob[..end]
}

/// At most this many alternatives per glob; beyond it we assume `**`.
const MAX_ALTERNATIVES: usize = 64;

fn expand_braces(glob: &str) -> Vec<String> {
    let mut done = Vec::new();
    let mut todo = vec![glob.to_string()];
    while let Some(g) = todo.pop() {
        match find_braces(&g) {
            None => done.push(g),
            Some((open, close)) => {
                for alt in g[open + 1..close].split(',') {
                    todo.push(format!("{}{}{}", &g[..open], alt, &g[close + 1..]));
                }
            }
        }
        if done.len() + todo.len() > MAX_ALTERNATIVES {
            return vec!["**".into()];
        }
    }
    done
}

/// The first `{...}` group, skipping escaped characters.
fn find_braces(g: &str) -> Option<(usize, usize)> {
    let bytes = g.as_bytes();
    let mut open = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'{' if open.is_none() => open = Some(i),
            b'}' => {
                if let Some(o) = open {
                    return Some((o, i));
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn path_overlap(a: &str, b: &str) -> bool {
    let a: Vec<&str> = a.split('/').collect();
    let b: Vec<&str> = b.split('/').collect();
    let mut memo = vec![None; (a.len() + 1) * (b.len() + 1)];
    segments_overlap(&a, &b, 0, 0, &mut memo)
}

fn segments_overlap(a: &[&str], b: &[&str], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let key = i * (b.len() + 1) + j;
    if let Some(known) = memo[key] {
        return known;
    }
    let result = if i == a.len() && j == b.len() {
        true
    } else if i < a.len() && a[i] == "**" {
        segments_overlap(a, b, i + 1, j, memo) || (j < b.len() && segments_overlap(a, b, i, j + 1, memo))
    } else if j < b.len() && b[j] == "**" {
        segments_overlap(a, b, i, j + 1, memo) || (i < a.len() && segments_overlap(a, b, i + 1, j, memo))
    } else if i < a.len() && j < b.len() {
        component_overlap(a[i], b[j]) && segments_overlap(a, b, i + 1, j + 1, memo)
    } else {
        false
    };
    memo[key] = Some(result);
    result
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Char(char),
    AnyChar,
    AnyString,
}

fn tokens(component: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = component.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            '*' => Token::AnyString,
            '?' => Token::AnyChar,
            '[' => {
                // A class matches one character; which one we do not track.
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
                Token::AnyChar
            }
            c => Token::Char(c),
        });
    }
    out
}

fn component_overlap(a: &str, b: &str) -> bool {
    let a = tokens(a);
    let b = tokens(b);
    let mut memo = vec![None; (a.len() + 1) * (b.len() + 1)];
    tokens_overlap(&a, &b, 0, 0, &mut memo)
}

fn tokens_overlap(a: &[Token], b: &[Token], i: usize, j: usize, memo: &mut [Option<bool>]) -> bool {
    let key = i * (b.len() + 1) + j;
    if let Some(known) = memo[key] {
        return known;
    }
    let result = if i == a.len() && j == b.len() {
        true
    } else if i < a.len() && a[i] == Token::AnyString {
        tokens_overlap(a, b, i + 1, j, memo) || (j < b.len() && tokens_overlap(a, b, i, j + 1, memo))
    } else if j < b.len() && b[j] == Token::AnyString {
        tokens_overlap(a, b, i, j + 1, memo) || (i < a.len() && tokens_overlap(a, b, i + 1, j, memo))
    } else if i < a.len() && j < b.len() {
        let same = match (a[i], b[j]) {
            (Token::Char(x), Token::Char(y)) => x == y,
            _ => true,
        };
        same && tokens_overlap(a, b, i + 1, j + 1, memo)
    } else {
        false
    };
    memo[key] = Some(result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> OwnedGlob {
        normalize(s).expect("valid glob")
    }

    #[test]
    fn normalizes_and_rejects() {
        assert_eq!(g("./src/auth/").0, "src/auth");
        for bad in [
            "",
            "  ",
            "/etc/passwd",
            "../x",
            "src/../../x",
            "C:/x",
            ".git/config",
            "src/[",
            ".",
        ] {
            assert!(normalize(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matcher_treats_directories_as_owning_their_contents() {
        let m = Matcher::new(&[vec![g("src/auth")], vec![g("src/*.rs")], vec![g("**")]]);
        let mut hits = Vec::new();
        let mut scratch = Vec::new();
        m.for_each_match("src/auth/mod.rs", &mut scratch, |t, _| hits.push(t));
        hits.sort();
        hits.dedup();
        assert_eq!(hits, vec![0, 2]);
        hits.clear();
        m.for_each_match("src/lib.rs", &mut scratch, |t, _| hits.push(t));
        hits.sort();
        hits.dedup();
        assert_eq!(hits, vec![1, 2]);
    }

    #[test]
    fn overlap_of_globs() {
        let yes = [
            ("src/**", "src/lib.rs"),
            ("src/*.rs", "src/lib.*"),
            ("src/auth", "src/auth/new.rs"),
            ("**/*.md", "docs/guide.md"),
            ("a/*/c", "a/b/*"),
            ("src/{a,b}/x", "src/b/**"),
            ("src/[ab].rs", "src/c.rs"), // classes over-approximate
            ("tests/auth*.rs", "tests/*_test.rs"),
        ];
        for (a, b) in yes {
            assert!(may_overlap(&g(a), &g(b)), "{a} vs {b}");
            assert!(may_overlap(&g(b), &g(a)), "{b} vs {a}");
        }
        let no = [
            ("src/auth/**", "src/billing/**"),
            ("src/*.rs", "src/*.md"),
            ("a/*/c", "a/b/d"),
            ("src/{a,b}/x", "src/c/**"),
            ("docs/*.md", "docs/sub/x.md"),
        ];
        for (a, b) in no {
            assert!(!may_overlap(&g(a), &g(b)), "{a} vs {b}");
            assert!(!may_overlap(&g(b), &g(a)), "{b} vs {a}");
        }
    }

    /// Soundness: whenever one concrete path matches two globs, `may_overlap` says so.
    #[test]
    fn overlap_is_never_missed_on_random_globs() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let glob_parts = ["a", "b", "ab", "*", "a*", "*b", "?", "**", "{a,b}", "[ab]", "a?"];
        let path_parts = ["a", "b", "ab", "ba", "aa", "abb"];
        let random = |parts: &[&str], max: usize, next: &mut dyn FnMut(usize) -> usize| {
            let len = 1 + next(max);
            (0..len).map(|_| parts[next(parts.len())]).collect::<Vec<_>>().join("/")
        };
        let mut both = 0;
        for _ in 0..400 {
            let a = g(&random(&glob_parts, 3, &mut next));
            let b = g(&random(&glob_parts, 3, &mut next));
            let m = Matcher::new(&[vec![a.clone()], vec![b.clone()]]);
            let mut scratch = Vec::new();
            for _ in 0..60 {
                let path = random(&path_parts, 4, &mut next);
                let mut hit = [false, false];
                m.for_each_match(&path, &mut scratch, |t, _| hit[t] = true);
                if hit[0] && hit[1] {
                    both += 1;
                    assert!(may_overlap(&a, &b), "{} and {} both match {path}", a.0, b.0);
                }
            }
        }
        assert!(both > 100, "the generator rarely finds shared paths ({both})");
    }
}
