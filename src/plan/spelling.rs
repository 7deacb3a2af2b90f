//! "Did you mean": the known name closest to a misspelled one, by edit
//! distance with transpositions (`scr` is one step from `src`). Small on
//! purpose: clap's suggestions cover only its own arguments, and serde's
//! unknown-key errors come with the expected names but no guess.

/// The name in `known` closest to `name`, if it is a likely typo: at most
/// two edits, and fewer than the name's length (so `a` does not suggest
/// `b`). Ties go to the name listed first.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let chars = name.chars().count();
    let limit = 2.min(chars.saturating_sub(1));
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        // Cheap bounds first: a folder may hold thousands of siblings.
        if chars.abs_diff(k.chars().count()) > limit || bag_distance(name, k) > limit {
            continue;
        }
        // Only a strictly closer name replaces the best so far.
        let cap = match best {
            Some((0, _)) => break,
            Some((b, _)) => b - 1,
            None => limit,
        };
        if let Some(d) = within(name, k, cap) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

/// A lower bound of [`distance`] for ASCII names: how many characters one
/// has that the other lacks (an edit changes that by one at most, a swap
/// not at all). 0 when either is not ASCII, which bounds nothing.
fn bag_distance(a: &str, b: &str) -> usize {
    if !a.is_ascii() || !b.is_ascii() {
        return 0;
    }
    let mut count = [0i32; 128];
    for &c in a.as_bytes() {
        count[usize::from(c)] += 1;
    }
    for &c in b.as_bytes() {
        count[usize::from(c)] -= 1;
    }
    // Visit only the characters present, each once (its count then zeroed).
    let (mut more, mut fewer) = (0, 0);
    for &c in a.as_bytes() {
        let n = &mut count[usize::from(c)];
        if *n > 0 {
            more += std::mem::take(n).unsigned_abs() as usize;
        }
    }
    for &c in b.as_bytes() {
        let n = &mut count[usize::from(c)];
        if *n < 0 {
            fewer += std::mem::take(n).unsigned_abs() as usize;
        }
    }
    more.max(fewer)
}

/// [`distance`] when it is at most `limit`, else `None`, stopping as soon
/// as every alignment so far costs more.
fn within(a: &str, b: &str, limit: usize) -> Option<usize> {
    let d = distance_capped(a, b, limit);
    (d <= limit).then_some(d)
}

/// Edits (insert, delete, substitute, swap two neighbours) that turn `a`
/// into `b`: the optimal string alignment distance.
pub fn distance(a: &str, b: &str) -> usize {
    distance_capped(a, b, usize::MAX)
}

/// The distance, or some value above `cap` once it must exceed it.
fn distance_capped(a: &str, b: &str, cap: usize) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Three rows: two back (for swaps), the previous one, the current one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (prev[j] + 1).min(row[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        // A row's minimum never shrinks further down (a swap reaches back
        // two rows, so both must exceed the cap).
        let floor = row.iter().min().copied().unwrap_or(0);
        if floor > cap && prev.iter().min().copied().unwrap_or(0) > cap {
            return floor;
        }
        before = std::mem::replace(&mut prev, row);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        for (a, b, d) in [
            ("own", "owns", 1),
            ("dependson", "depends_on", 1),
            ("scr", "src", 1),
            ("biling", "billing", 1),
            ("kitten", "sitting", 3),
            ("", "abc", 3),
            ("abc", "abc", 0),
        ] {
            assert_eq!(distance(a, b), d, "{a} -> {b}");
            assert_eq!(distance(b, a), d, "{b} -> {a}");
        }
    }

    #[test]
    fn the_bag_distance_never_exceeds_the_distance() {
        let words = [
            "own", "owns", "scr", "src", "ab", "ba", "kitten", "sitting", "", "aab", "abb",
        ];
        for a in words {
            for b in words {
                assert!(bag_distance(a, b) <= distance(a, b), "{a} {b}");
            }
        }
    }

    #[test]
    fn suggestions() {
        let keys = ["id", "title", "owns", "depends_on", "prompt", "prompt_file", "test"];
        assert_eq!(closest("own", keys), Some("owns"));
        assert_eq!(closest("dependson", keys), Some("depends_on"));
        assert_eq!(closest("tset", keys), Some("test"));
        assert_eq!(closest("prompts", keys), Some("prompt"));
        assert_eq!(closest("zzzzzz", keys), None);
        assert_eq!(closest("x", ["y"]), None);
    }
}
