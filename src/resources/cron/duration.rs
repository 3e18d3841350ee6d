//! Go's `time.ParseDuration`, for `@every <duration>`: a signed sequence of decimal numbers,
//! each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `1h30m` or `1.5s`.

/// Nanoseconds in each unit.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's largest duration (`1<<63 - 1` nanoseconds).
const MAX: u128 = i64::MAX as u128;

/// Parses `text` into nanoseconds (negative durations are clamped to zero: a schedule's
/// delay is at least a second anyway). Errors read as Go's.
pub fn parse(text: &str) -> Result<u128, String> {
    let invalid = || format!("time: invalid duration {}", quote(text));
    let mut s = text;
    let negative = s.starts_with('-');
    if let Some(rest) = s.strip_prefix('-').or_else(|| s.strip_prefix('+')) {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, rest) = s.split_at(int_len);
        let (frac_part, rest) = match rest.strip_prefix('.') {
            Some(r) => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            None => ("", rest),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let (unit, rest) = rest.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let Some((_, scale)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                quote(unit),
                quote(text)
            ));
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(*scale).ok_or_else(invalid)?;
        // The fraction, digit by digit, as far as nanoseconds reach.
        let mut place = *scale;
        for d in frac_part.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            value += u128::from(d - b'0') * place;
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > MAX {
            return Err(invalid());
        }
        s = rest;
    }
    Ok(if negative { 0 } else { total })
}

/// Go's `%q`-style quoting of a string.
fn quote(s: &str) -> String {
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("-5m"), Ok(0));
        assert_eq!(parse("300ms"), Ok(300_000_000));
        assert_eq!(
            parse("5"),
            Err("time: missing unit in duration \"5\"".into())
        );
        assert_eq!(
            parse("5d"),
            Err("time: unknown unit \"d\" in duration \"5d\"".into())
        );
        assert_eq!(parse(""), Err("time: invalid duration \"\"".into()));
        assert_eq!(parse("."), Err("time: invalid duration \".\"".into()));
        assert!(parse("99999999999999999999999h").is_err());
    }
}
