//! Durations as plans write them: `90s`, `30m`, `1h30m`, `2d`.

/// Seconds in `text`, or why it is not a duration.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    if text.is_empty() {
        return Err("is empty".into());
    }
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(format!("has '{c}' where a unit (s, m, h, d) or a digit belongs")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("has the unit '{c}' without a number before it"))?;
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() {
        return Err("ends with a number without a unit (s, m, h, d)".into());
    }
    Ok(total)
}

/// [`parse_duration`] for what must last some time (a lease, a timeout, an
/// interval): zero is refused.
pub fn parse_positive(text: &str) -> Result<u64, String> {
    match parse_duration(text)? {
        0 => Err("is zero; it must last some time".into()),
        n => Ok(n),
    }
}

/// A duration given on the command line, kept as written for messages
/// (`refreshed every 2s`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub text: String,
    pub seconds: u64,
}

impl Given {
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds)
    }
}

impl std::fmt::Display for Given {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Given {
    type Err = String;

    /// What clap parses `--timeout`, `--grace` and `--interval` with: a
    /// duration that lasts some time, refused before the command runs.
    fn from_str(text: &str) -> Result<Given, String> {
        parse_positive(text)
            .map(|seconds| Given {
                text: text.to_string(),
                seconds,
            })
            .map_err(|why| format!("{why}; write a duration such as 90s, 20m or 1h30m"))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("2d"), Ok(172800));
        for bad in ["", "30", "m", "30 minutes", "-5m", "00"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration("0s"), Ok(0));
        assert!(super::parse_positive("0m").is_err());
        assert_eq!(super::parse_positive("90s"), Ok(90));
    }
}
