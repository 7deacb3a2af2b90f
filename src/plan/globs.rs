//! Ownership globs: what a task may change. Checks that a glob stays inside
//! the repository, matches globs against tracked paths, and decides whether
//! two globs could ever match one path that does not exist yet.
//!
//! Semantics: `*` and `?` stay within one path component, `**` spans any
//! number of components, `\` makes the next character literal (outside a
//! class), and a glob that names a directory owns everything under it
//! (`src/auth` owns `src/auth/mod.rs`), except a glob that picks files by
//! extension (`src/*.rs`, see [`names_folders`]). globset is the matcher;
//! the overlap check reads globs exactly as it does.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// A glob that passed validation, in normal form (no `./`, no trailing `/`,
/// no escape of a character the matcher reads literally anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedGlob(pub String);

/// Validates the glob `raw` and brings it into normal form. An escaped
/// character that is literal anyway loses its backslash (`\n` is `n`), and
/// `\/` becomes `/`: globset matches an escaped slash as a separator, so
/// `src/a\/b` *is* `src/a/b`, and `\.\.` is `..`. The escapes that stay
/// (`\*`, `\?`, `\[`, `\{`, `\}`, `\,`, `\\`, and `\/` right after `**`)
/// change what the glob means.
pub fn normalize(raw: &str) -> Result<OwnedGlob, String> {
    normalize_with(raw, components(raw))
}

/// Validates a literal path (`prompt_file`, `[agent] copy`) the same way,
/// without reading escapes: a backslash in a path is part of a file name.
pub fn normalize_path(raw: &str) -> Result<OwnedGlob, String> {
    normalize_with(raw, raw.split('/').map(String::from).collect())
}

fn normalize_with(raw: &str, components: Vec<String>) -> Result<OwnedGlob, String> {
    if raw.trim().is_empty() {
        return Err("is empty; name a path or a glob such as `src/auth/**`".into());
    }
    if raw.starts_with('/') || raw.starts_with('\\') || has_drive_prefix(raw) {
        return Err("is an absolute path; write it relative to the repository root".into());
    }
    let mut parts = Vec::new();
    for part in components {
        match part.as_str() {
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

/// Characters an escape keeps literal that would otherwise be special
/// somewhere outside a class.
const SPECIAL: &str = "*?[{},\\";

/// `raw` cut at every `/` the matcher reads as a separator (escaped or not,
/// never inside a class), escapes of characters that are literal anyway
/// removed. A class is copied as written: inside `[...]` globset reads a
/// backslash as a member, not an escape. What does not parse is copied too,
/// for [`build`] to name the error.
fn components(raw: &str) -> Vec<String> {
    let chars: Vec<char> = raw.chars().collect();
    let mut parts = vec![String::new()];
    let mut i = 0;
    while i < chars.len() {
        let part = parts.last_mut().expect("one part at least");
        match chars[i] {
            '\\' => match chars.get(i + 1) {
                None => part.push('\\'),
                // globset reads `**\/` as `*/`, unlike `**/`: kept as written.
                Some('/') if part.ends_with("**") => part.push_str("\\/"),
                Some('/') => parts.push(String::new()),
                Some(&c) if SPECIAL.contains(c) => {
                    part.push('\\');
                    part.push(c);
                }
                Some(&c) => part.push(c),
            },
            '/' => parts.push(String::new()),
            '[' => {
                let end = class(&chars, i + 1).map_or(chars.len(), |c| c.end);
                part.extend(&chars[i..end]);
                i = end;
                continue;
            }
            c => part.push(c),
        }
        i += if chars[i] == '\\' { 2 } else { 1 };
    }
    parts
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

/// Every pattern a glob stands for: itself, and everything under the
/// folders it names, unless it names files only (see [`names_folders`]).
fn patterns(glob: &OwnedGlob) -> Vec<String> {
    if glob.0.ends_with("/**") || glob.0 == "**" || !names_folders(&glob.0) {
        vec![glob.0.clone()]
    } else {
        vec![glob.0.clone(), format!("{}/**", glob.0)]
    }
}

/// Whether a glob also owns what is under the folders it matches. It does,
/// except when its last part has a wildcard and ends in a file extension
/// with a letter (`src/*.rs`, `test_*.py`, `[ab].md`): such a glob picks
/// files by type, and reading it as folders too (`src/x.rs/`) made it
/// clash with every glob that reaches below (`src/**/*.txt`). A literal
/// path keeps the folder reading, extension or not (`deploy/conf.d`, and
/// `src/auth` owns `src/auth/mod.rs`). Escapes are read as the characters
/// they stand for, and an escaped `/` is a separator, so a glob's text and
/// its normal form decide alike.
pub fn names_folders(glob: &str) -> bool {
    let last = glob.rsplit('/').next().unwrap_or(glob);
    let chars: Vec<char> = last.chars().collect();
    let mut wildcard = false;
    // The literal characters after the last special one.
    let mut tail = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if let Some(&c) = chars.get(i + 1) {
                    tail.push(c);
                }
                i += 1;
            }
            '*' | '?' => {
                wildcard = true;
                tail.clear();
            }
            '[' => {
                wildcard = true;
                tail.clear();
                i = class(&chars, i + 1).map_or(chars.len(), |c| c.end);
                continue;
            }
            '{' | '}' | ',' => tail.clear(),
            c => tail.push(c),
        }
        i += 1;
    }
    let extension = tail.rsplit_once('.').map(|(_, ext)| ext);
    let picks_files = extension.is_some_and(|ext| {
        !ext.is_empty()
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
            && ext.chars().any(|c| c.is_ascii_alphabetic())
    });
    !(wildcard && picks_files)
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

/// Whether some path could match both globs. Decided on the matcher's own
/// reading: both globs (each with everything under it) are parsed the way
/// globset parses them, turned into automata over bytes with globset's
/// meaning of every token, and asked whether they accept a common string.
/// Sound: never `false` for globs that share a path. It over-approximates
/// only where a class has a non-ASCII member (taken as any byte but `/`),
/// and by counting strings no git path has (`a//b`).
pub fn may_overlap(a: &OwnedGlob, b: &OwnedGlob) -> bool {
    prefixes_meet(a, b) && meets(Nfa::of(a).as_ref(), Nfa::of(b).as_ref())
}

/// [`may_overlap`] for the many glob pairs of a plan: each glob's automaton
/// is built once, when first needed (building is most of a single check).
pub struct Overlaps<'a> {
    globs: &'a [Vec<OwnedGlob>],
    automata: Vec<Vec<std::cell::OnceCell<Option<Nfa>>>>,
}

impl<'a> Overlaps<'a> {
    /// `globs[i]` is the list of globs of task `i`.
    pub fn new(globs: &'a [Vec<OwnedGlob>]) -> Self {
        let automata = globs
            .iter()
            .map(|g| g.iter().map(|_| Default::default()).collect())
            .collect();
        Overlaps { globs, automata }
    }

    /// Whether glob `x` of task `a` and glob `y` of task `b` may share a path.
    pub fn may_overlap(&self, (a, x): (usize, usize), (b, y): (usize, usize)) -> bool {
        let automaton = |t: usize, g: usize| self.automata[t][g].get_or_init(|| Nfa::of(&self.globs[t][g])).as_ref();
        prefixes_meet(&self.globs[a][x], &self.globs[b][y]) && meets(automaton(a, x), automaton(b, y))
    }
}

/// Globs whose literal beginnings differ name disjoint paths.
fn prefixes_meet(a: &OwnedGlob, b: &OwnedGlob) -> bool {
    let (la, lb) = (literal_prefix(&a.0), literal_prefix(&b.0));
    la.starts_with(lb) || lb.starts_with(la)
}

fn meets(a: Option<&Nfa>, b: Option<&Nfa>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.meets(b),
        // Validated in `normalize`, so parsing cannot fail; if it did, an
        // overlap we cannot rule out is one.
        _ => true,
    }
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
pub fn literal_prefix(glob: &str) -> &str {
    let end = glob.find(['*', '?', '[', '{', '\\']).unwrap_or(glob.len());
    &glob[..end]
}

/// A token of a glob, as globset's parser makes it (for our options:
/// `literal_separator`, `backslash_escape`, no empty alternatives, no
/// unclosed classes).
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `?`
    Any,
    /// `*`
    ZeroOrMore,
    /// `**/` at the start (of the glob or of an alternative).
    RecursivePrefix,
    /// `/**` at the end (of the glob or of an alternative).
    RecursiveSuffix,
    /// `/**/`
    RecursiveZeroOrMore,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Alternates(Vec<Vec<Token>>),
}

/// A `[...]` class: `chars[start]` is the character after `[`; `end` is
/// the index after the closing `]`.
struct Class {
    end: usize,
    negated: bool,
    ranges: Vec<(char, char)>,
}

/// Parses a class the way globset does: `!` or `^` negates, `]` first is a
/// member, `-` first or last is a member, `[:name:]` is a POSIX class, and a
/// backslash is a member like any other. `None` when globset refuses it.
fn class(chars: &[char], start: usize) -> Option<Class> {
    let mut i = start;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges: Vec<(char, char)> = Vec::new();
    let mut first = true;
    let mut in_range = false;
    loop {
        let c = *chars.get(i)?;
        i += 1;
        match c {
            ']' if !first => break,
            '-' if !first && !in_range => in_range = true,
            '[' if !in_range && chars.get(i) == Some(&':') => {
                let (posix, next) = posix_class(chars, i);
                i = next;
                match posix {
                    Some(r) => ranges.extend_from_slice(r),
                    None => ranges.push(('[', '[')),
                }
            }
            c if in_range => {
                let last = ranges.last_mut()?;
                last.1 = c;
                if last.1 < last.0 {
                    return None;
                }
                in_range = false;
            }
            c => ranges.push((c, c)),
        }
        first = false;
    }
    if in_range {
        ranges.push(('-', '-'));
    }
    Some(Class {
        end: i,
        negated,
        ranges,
    })
}

/// `[:name:]` inside a class, `chars[i]` being its `:`. Like globset: a
/// known name gives its ranges; an unknown lowercase name is consumed and
/// gives `None` (the `[` is then a member); anything else is not a POSIX
/// class and consumes nothing.
fn posix_class(chars: &[char], i: usize) -> (Option<&'static [(char, char)]>, usize) {
    let mut j = i + 1;
    let mut name = String::new();
    loop {
        match chars.get(j) {
            Some(':') if chars.get(j + 1) == Some(&']') => {
                let ranges: &'static [(char, char)] = match name.as_str() {
                    "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
                    "alpha" => &[('A', 'Z'), ('a', 'z')],
                    "blank" => &[('\t', '\t'), (' ', ' ')],
                    "cntrl" => &[('\x00', '\x1f'), ('\x7f', '\x7f')],
                    "digit" => &[('0', '9')],
                    "graph" => &[('!', '~')],
                    "lower" => &[('a', 'z')],
                    "print" => &[(' ', '~')],
                    "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
                    "space" => &[('\t', '\r'), (' ', ' ')],
                    "upper" => &[('A', 'Z')],
                    "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
                    _ => return (None, j + 2),
                };
                return (Some(ranges), j + 2);
            }
            Some(&c) if c.is_ascii_lowercase() && name.len() < 8 => {
                name.push(c);
                j += 1;
            }
            _ => return (None, i),
        }
    }
}

/// globset's parser, step for step (its `**` rules depend on the raw
/// characters around the stars, escapes included). `None` where globset
/// reports an error.
fn parse(glob: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = glob.chars().collect();
    let mut branches: Vec<Vec<Token>> = vec![Vec::new()];
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '?' => branches.last_mut()?.push(Token::Any),
            '*' => i = star(&chars, i, &mut branches)?,
            '[' => {
                let class = class(&chars, i)?;
                i = class.end;
                branches.last_mut()?.push(Token::Class {
                    negated: class.negated,
                    ranges: class.ranges,
                });
            }
            '{' => {
                if open.len() >= 100 {
                    return None;
                }
                open.push(branches.len());
                branches.push(Vec::new());
            }
            '}' => {
                let start = open.pop()?;
                let alternates = branches.drain(start..).collect();
                branches.last_mut()?.push(Token::Alternates(alternates));
            }
            ',' if !open.is_empty() => branches.push(Vec::new()),
            '\\' => {
                let escaped = *chars.get(i)?;
                i += 1;
                branches.last_mut()?.push(Token::Literal(escaped));
            }
            c => branches.last_mut()?.push(Token::Literal(c)),
        }
    }
    if branches.len() != 1 {
        return None;
    }
    branches.pop()
}

/// globset's `parse_star`: `chars[i - 1]` is a `*`; returns where parsing goes on.
fn star(chars: &[char], mut i: usize, branches: &mut [Vec<Token>]) -> Option<usize> {
    let prev = i.checked_sub(2).map(|p| chars[p]);
    let peek = |i: usize| chars.get(i).copied();
    let branch = branches.len();
    let tokens = branches.last_mut()?;
    if peek(i) != Some('*') {
        tokens.push(Token::ZeroOrMore);
        return Some(i);
    }
    i += 1;
    let twice = |tokens: &mut Vec<Token>| tokens.extend([Token::ZeroOrMore, Token::ZeroOrMore]);
    if tokens.is_empty() {
        match peek(i) {
            None => tokens.push(Token::RecursivePrefix),
            Some('/') => {
                tokens.push(Token::RecursivePrefix);
                i += 1;
            }
            Some(_) => twice(tokens),
        }
        return Some(i);
    }
    if prev != Some('/') && (branch <= 1 || (prev != Some(',') && prev != Some('{'))) {
        twice(tokens);
        return Some(i);
    }
    let suffix = match peek(i) {
        None => true,
        Some(',' | '}') if branch >= 2 => true,
        Some('/') => {
            i += 1;
            false
        }
        Some(_) => {
            twice(tokens);
            return Some(i);
        }
    };
    let token = match tokens.pop()? {
        Token::RecursivePrefix => Token::RecursivePrefix,
        Token::RecursiveSuffix => Token::RecursiveSuffix,
        _ if suffix => Token::RecursiveSuffix,
        _ => Token::RecursiveZeroOrMore,
    };
    tokens.push(token);
    Some(i)
}

/// A set of bytes.
type Bytes = [u64; 4];

const fn all_but(excluded: u8) -> Bytes {
    let mut set = [u64::MAX; 4];
    set[(excluded / 64) as usize] &= !(1 << (excluded % 64));
    set
}

fn one(byte: u8) -> Bytes {
    let mut set = [0; 4];
    set[usize::from(byte / 64)] |= 1 << (byte % 64);
    set
}

/// Any byte: globset's regexes run with `.` matching a newline too.
const ANY: Bytes = [u64::MAX; 4];
/// `[^/]`, what `?` and `*` match (globset matches bytes, not characters).
const NOT_SLASH: Bytes = all_but(b'/');

/// The bytes a class matches, as globset's regex for it does: without `/`
/// (with `literal_separator`, a class never matches one). A class with a
/// non-ASCII bound becomes a byte class of its UTF-8 pieces in globset;
/// here it is any byte but `/`, which holds all of them.
fn class_bytes(negated: bool, ranges: &[(char, char)]) -> Bytes {
    if ranges.iter().any(|&(_, end)| !end.is_ascii()) {
        return NOT_SLASH;
    }
    let mut set = [0u64; 4];
    for &(start, end) in ranges {
        for b in start as u8..=end as u8 {
            set[usize::from(b / 64)] |= 1 << (b % 64);
        }
    }
    if negated {
        set = set.map(|w| !w);
    }
    let slash = one(b'/');
    std::array::from_fn(|k| set[k] & !slash[k])
}

fn meet(a: &Bytes, b: &Bytes) -> bool {
    a.iter().zip(b).any(|(x, y)| x & y != 0)
}

/// A nondeterministic automaton over bytes for what one glob matches.
#[derive(Default)]
struct Nfa {
    /// Per state: empty moves.
    empty: Vec<Vec<usize>>,
    /// Per state: moves on one byte of a set.
    steps: Vec<Vec<(Bytes, usize)>>,
    start: usize,
    end: usize,
}

impl Nfa {
    /// The glob and everything under it (what [`Matcher`] compiles).
    fn of(glob: &OwnedGlob) -> Option<Nfa> {
        let mut nfa = Nfa::default();
        nfa.start = nfa.state();
        nfa.end = nfa.state();
        for pattern in patterns(glob) {
            let tokens = parse(&pattern)?;
            let from = nfa.state();
            nfa.empty[nfa.start].push(from);
            // globset's one special case: the whole glob `**` is `.*`.
            let to = if tokens == [Token::RecursivePrefix] {
                nfa.repeat(from, ANY)
            } else {
                nfa.sequence(&tokens, from)
            };
            nfa.empty[to].push(nfa.end);
        }
        Some(nfa)
    }

    fn state(&mut self) -> usize {
        self.empty.push(Vec::new());
        self.steps.push(Vec::new());
        self.empty.len() - 1
    }

    fn step(&mut self, from: usize, bytes: Bytes) -> usize {
        let to = self.state();
        self.steps[from].push((bytes, to));
        to
    }

    /// Any number of bytes of `bytes`.
    fn repeat(&mut self, from: usize, bytes: Bytes) -> usize {
        let lo = self.state();
        self.empty[from].push(lo);
        self.steps[lo].push((bytes, lo));
        lo
    }

    fn sequence(&mut self, tokens: &[Token], mut at: usize) -> usize {
        for token in tokens {
            at = self.token(token, at);
        }
        at
    }

    /// Adds what `token` matches after state `at`; returns the state after it.
    fn token(&mut self, token: &Token, at: usize) -> usize {
        let slash = one(b'/');
        match token {
            Token::Literal(c) => {
                let mut buf = [0; 4];
                c.encode_utf8(&mut buf).bytes().fold(at, |s, b| self.step(s, one(b)))
            }
            Token::Any => self.step(at, NOT_SLASH),
            Token::ZeroOrMore => self.repeat(at, NOT_SLASH),
            Token::Class { negated, ranges } => self.step(at, class_bytes(*negated, ranges)),
            // (?:/?|.*/)
            Token::RecursivePrefix => {
                let end = self.step(at, slash);
                self.empty[at].push(end);
                let any = self.repeat(at, ANY);
                self.steps[any].push((slash, end));
                end
            }
            // /.*
            Token::RecursiveSuffix => {
                let after = self.step(at, slash);
                self.repeat(after, ANY)
            }
            // (?:/|/.*/)
            Token::RecursiveZeroOrMore => {
                let end = self.step(at, slash);
                let after = self.step(at, slash);
                let any = self.repeat(after, ANY);
                self.steps[any].push((slash, end));
                end
            }
            // globset drops alternatives that compile to nothing; when none
            // is left, the group is dropped and matches the empty string.
            Token::Alternates(branches) => {
                let kept: Vec<&Vec<Token>> = branches.iter().filter(|b| !compiles_to_nothing(b)).collect();
                if kept.is_empty() {
                    return at;
                }
                let end = self.state();
                for branch in kept {
                    let from = self.state();
                    self.empty[at].push(from);
                    let to = self.sequence(branch, from);
                    self.empty[to].push(end);
                }
                end
            }
        }
    }

    /// Whether some byte string takes both automata from start to end.
    fn meets(&self, other: &Nfa) -> bool {
        let width = other.steps.len();
        let mut seen = vec![false; self.steps.len() * width];
        let mut todo = vec![(self.start, other.start)];
        while let Some((p, q)) = todo.pop() {
            if std::mem::replace(&mut seen[p * width + q], true) {
                continue;
            }
            if p == self.end && q == other.end {
                return true;
            }
            todo.extend(self.empty[p].iter().map(|&p2| (p2, q)));
            todo.extend(other.empty[q].iter().map(|&q2| (p, q2)));
            for (a, p2) in &self.steps[p] {
                for (b, q2) in &other.steps[q] {
                    if meet(a, b) {
                        todo.push((*p2, *q2));
                    }
                }
            }
        }
        false
    }
}

/// Whether globset's regex for `tokens` is empty text (no tokens, or only
/// groups of such alternatives).
fn compiles_to_nothing(tokens: &[Token]) -> bool {
    tokens
        .iter()
        .all(|t| matches!(t, Token::Alternates(branches) if branches.iter().all(|b| compiles_to_nothing(b))))
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
            ("tests/auth*.rs", "tests/*_test.rs"),
            // These name folders too: `src/x/y.txt`, `src/lib.rs/y.txt`, `gen/a.rs`.
            ("src/*", "src/**/*.txt"),
            ("src/lib.rs", "src/**/*.txt"),
            ("src/*.1", "src/**/*.txt"),
            ("gen/*.rs", "gen/[ab].rs"),
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
            ("src/[ab].rs", "src/c.rs"),
            // A glob that picks files by extension names no folder `src/x.rs/`.
            ("src/*.rs", "src/**/*.txt"),
            ("gen/[ab].rs", "gen/c*"),
            ("test_*.py", "**/*.md"),
        ];
        for (a, b) in no {
            assert!(!may_overlap(&g(a), &g(b)), "{a} vs {b}");
            assert!(!may_overlap(&g(b), &g(a)), "{b} vs {a}");
        }
    }

    #[test]
    fn globs_that_pick_files_by_extension_name_no_folders() {
        for files in [
            "*.rs",
            "src/*.rs",
            "test_*.py",
            "[ab].md",
            "a?.txt",
            r"*.\r\s",
            "x*y.tar.gz",
        ] {
            assert!(!names_folders(files), "{files}");
        }
        for folders in [
            "src",
            "src/auth",
            "src/lib.rs",
            "conf.d",
            "src/*",
            "auth*",
            "*.1",
            r"\*.rs",
            "*.{rs,md}",
            "*.",
        ] {
            assert!(names_folders(folders), "{folders}");
        }
    }

    #[test]
    fn escapes_of_literal_characters_are_dropped() {
        for (raw, normal) in [
            (r"src/a\/b", "src/a/b"),
            (r"src\/a/**", "src/a/**"),
            (r"src/\n\ew.rs", "src/new.rs"),
            (r"a/\]\!\-", "a/]!-"),
            // These stay: unescaped, they would be special.
            (r"a/\*\?\[\{\}\,\\", r"a/\*\?\[\{\}\,\\"),
            // Inside a class a backslash is a member, and `/` is not a separator.
            (r"a/[\]x", r"a/[\]x"),
            (r"a/[x/y]", "a/[x/y]"),
            (r"a/[]\/]", r"a/[]\/]"),
            (r"a/[[:digit:]\/]", r"a/[[:digit:]\/]"),
            (r"a/**\/b", r"a/**\/b"),
        ] {
            assert_eq!(g(raw).0, normal, "{raw}");
        }
        for smuggled in [r"src/\.\./x", r"\.git/config", r".\git/x", r"a/\.\./../b"] {
            assert!(normalize(smuggled).is_err(), "{smuggled}");
        }
        // A path is literal: its backslash is part of a file name.
        assert_eq!(
            normalize_path(r"tasks/a\b.md").map(|p| p.0),
            Ok(r"tasks/a\b.md".to_string())
        );
    }

    /// Pairs globset lets share a path (checked here through the matcher),
    /// including the escapes and class forms the old component checker missed.
    #[test]
    fn overlap_follows_the_matcher_on_escapes_classes_and_alternatives() {
        let matches = |glob: &OwnedGlob, path: &str| {
            let m = Matcher::new(&[vec![glob.clone()]]);
            let mut hit = false;
            m.for_each_match(path, &mut Vec::new(), |_, _| hit = true);
            hit
        };
        for (a, b, path) in [
            (r"src/a\/b", "src/a/b", "src/a/b"),
            (r"src\/a/**", "src/a/c", "src/a/c"),
            (r"src/x\*y", "src/x[*]y", "src/x*y"),
            (r"a/\{b\,c\}", r"a/{\{b\,c\},d}", "a/{b,c}"),
            (r"a/\\", r"a/[\]", r"a/\"),
            ("a/[]x]", "a/]", "a/]"),
            ("a/[!]]", "a/b", "a/b"),
            ("a/[[:digit:]]", "a/7", "a/7"),
            ("a/[[:foo:]]", r"a/\[", "a/["),
            ("a/[a-]", "a/-", "a/-"),
            // `?` matches one byte, and `é` is two.
            ("a/??", "a/\u{e9}", "a/\u{e9}"),
            // globset's `**/` at the start of an alternative reaches across `/`.
            ("x{**/a,b}", "xa", "xa"),
            ("x{**/a,b}", "xc/d/a", "xc/d/a"),
            ("a/**/**", "a/b/c", "a/b/c"),
            (r"a/**\/b", "a/*/b", "a/x/b"),
        ] {
            let (ga, gb) = (g(a), g(b));
            assert!(
                matches(&ga, path) && matches(&gb, path),
                "{a} and {b} both match {path}"
            );
            assert!(may_overlap(&ga, &gb), "{a} vs {b}");
            assert!(may_overlap(&gb, &ga), "{b} vs {a}");
        }
        for (a, b) in [
            (r"a/\*", "a/b"),
            (r"a/\?", "a/b"),
            ("a/[!x]", "a/x"),
            ("a/[x/y]", "a/q"),
            ("x{,b}", "x"),
            ("a/[[:digit:]]", "a/x"),
            // globset reads `**\/` as `*/`: one folder, not any number.
            (r"a/**\/b", "a/x/y/b"),
        ] {
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
        let glob_parts = [
            "a", "b", "ab", "*", "a*", "*b", "?", "**", "{a,b}", "[ab]", "a?", "*.ab", "[ab].b", "a.ab",
        ];
        let path_parts = ["a", "b", "ab", "ba", "aa", "abb", "a.ab", "b.b", "x.ab"];
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
