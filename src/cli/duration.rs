//! Durations on the command line as Kubernetes components take them (Go's
//! `time.ParseDuration` units: `500ms`, `40s`, `5m`, `1h30m`).

use std::time::Duration;

/// Parses a Go-style duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration: write it as 40s, 5m or 1h30m");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (Duration::from_millis(1), 2)
        } else if rest.starts_with('s') {
            (Duration::from_secs(1), 1)
        } else if rest.starts_with('m') {
            (Duration::from_secs(60), 1)
        } else if rest.starts_with('h') {
            (Duration::from_secs(3600), 1)
        } else {
            return Err(bad());
        };
        let part = unit
            .checked_mul(u32::try_from(n).map_err(|_| bad())?)
            .ok_or_else(bad)?;
        total = total.checked_add(part).ok_or_else(bad)?;
        rest = &rest[len..];
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_units_add_up() {
        assert_eq!(parse("40s"), Ok(Duration::from_secs(40)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("2m5s"), Ok(Duration::from_secs(125)));
    }

    #[test]
    fn bare_numbers_and_unknown_units_are_refused() {
        for bad in ["", "40", "s", "5d", "1.5h", "-1s"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("40s, 5m or 1h30m"), "{bad:?}: {e}");
        }
    }
}
