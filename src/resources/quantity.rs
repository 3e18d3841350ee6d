//! Resource quantities (`100m`, `1Gi`, `2e3`), as upstream's `resource.Quantity` parses them.

use std::fmt;

/// A parsed quantity, held exactly as a count of nano-units (enough for every suffix from
/// `n` to `E`/`Ei` within the range a board can have).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity {
    nanos: i128,
}

/// The text is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)]
pub struct QuantityError;

const NANO: i128 = 1_000_000_000;

impl Quantity {
    /// Parses `s` (`"500m"`, `"1.5Gi"`, `"1e3"`, `"7"`).
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        let (scale_num, scale_den) = suffix_scale(suffix).ok_or(QuantityError)?;
        let (negative, digits) = match number.as_bytes().first() {
            Some(b'-') => (true, &number[1..]),
            Some(b'+') => (false, &number[1..]),
            _ => (false, number),
        };
        if digits.is_empty() || digits.matches('.').count() > 1 || digits == "." {
            return Err(QuantityError);
        }
        if !digits.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(QuantityError);
        }
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        let mut mantissa: i128 = 0;
        for c in int_part.chars().chain(frac_part.chars()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(c as u8 - b'0')))
                .ok_or(QuantityError)?;
        }
        let frac_den = 10i128
            .checked_pow(frac_part.len() as u32)
            .ok_or(QuantityError)?;
        // value = mantissa / frac_den * scale_num / scale_den, in nanos; round up like upstream
        let num = mantissa
            .checked_mul(scale_num)
            .and_then(|v| v.checked_mul(NANO))
            .ok_or(QuantityError)?;
        let den = frac_den.checked_mul(scale_den).ok_or(QuantityError)?;
        let mut nanos = num / den;
        if num % den != 0 {
            nanos += 1;
        }
        Ok(Self {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    /// From a whole number of units.
    pub fn from_units(units: i64) -> Self {
        Self {
            nanos: i128::from(units) * NANO,
        }
    }

    /// From billionths of a unit (nanocores, as the kubelet's stats count CPU).
    pub fn from_nano(nano: u64) -> Self {
        Self {
            nanos: i128::from(nano),
        }
    }

    /// From thousandths of a unit (millicores).
    pub fn from_milli(milli: i64) -> Self {
        Self {
            nanos: i128::from(milli) * 1_000_000,
        }
    }

    /// Value in thousandths, rounded up (CPU in millicores).
    pub fn milli_value(&self) -> i64 {
        let v =
            self.nanos.div_euclid(1_000_000) + i128::from(self.nanos.rem_euclid(1_000_000) != 0);
        v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Value in whole units, rounded up (memory in bytes).
    pub fn value(&self) -> i64 {
        let v = self.nanos.div_euclid(NANO) + i128::from(self.nanos.rem_euclid(NANO) != 0);
        v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Whether the quantity is below zero.
    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, rhs: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(rhs.nanos),
        }
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, rhs: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_sub(rhs.nanos),
        }
    }
}

impl fmt::Display for Quantity {
    /// Canonical form: binary suffixes for whole multiples of 1024, `m` for fractions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos % NANO != 0 {
            if self.nanos % 1_000_000 == 0 {
                return write!(f, "{}m", self.nanos / 1_000_000);
            }
            return write!(f, "{}n", self.nanos);
        }
        let units = self.nanos / NANO;
        for (suffix, size) in [
            ("Ei", 1i128 << 60),
            ("Pi", 1 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ] {
            if units != 0 && units % size == 0 {
                return write!(f, "{}{suffix}", units / size);
            }
        }
        write!(f, "{units}")
    }
}

/// (numerator, denominator) of a suffix's scale.
fn suffix_scale(suffix: &str) -> Option<(i128, i128)> {
    let binary = |p: u32| Some((1i128 << (10 * p), 1));
    let decimal = |e: i32| {
        if e >= 0 {
            Some((10i128.pow(e as u32), 1))
        } else {
            Some((1, 10i128.pow((-e) as u32)))
        }
    };
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        s if s.starts_with(['e', 'E']) => {
            let e: i32 = s[1..].parse().ok()?;
            if !(-18..=18).contains(&e) {
                return None;
            }
            decimal(e)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_inputs_are_errors_or_saturate() {
        for bad in [
            "9".repeat(60),
            format!("{}Ei", "9".repeat(30)),
            format!("0.{}", "1".repeat(100_000)),
            "1e2147483647".to_string(),
            "1e-2147483648".to_string(),
            "--1".to_string(),
            "1é".to_string(),
        ] {
            assert!(Quantity::parse(&bad).is_err(), "{bad}");
        }
        let big = Quantity::parse("8Ei").unwrap();
        assert_eq!(big.value(), i64::MAX);
        assert_eq!((big + big + big).milli_value(), i64::MAX);
        assert_eq!(Quantity::parse("-8Ei").unwrap().value(), i64::MIN);
    }

    #[test]
    fn parses_suffixes() {
        assert_eq!(Quantity::parse("100m").unwrap().milli_value(), 100);
        assert_eq!(Quantity::parse("1").unwrap().milli_value(), 1000);
        assert_eq!(Quantity::parse("1.5").unwrap().milli_value(), 1500);
        assert_eq!(Quantity::parse("1Ki").unwrap().value(), 1024);
        assert_eq!(Quantity::parse("128Mi").unwrap().value(), 128 << 20);
        assert_eq!(Quantity::parse("1G").unwrap().value(), 1_000_000_000);
        assert_eq!(Quantity::parse("2e3").unwrap().value(), 2000);
        assert_eq!(
            Quantity::parse("1E").unwrap().value(),
            1_000_000_000_000_000_000
        );
        assert_eq!(
            Quantity::parse("0.1m").unwrap().milli_value(),
            1,
            "rounds up"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "abc", "1x", "1.2.3", "--1", ".", "1Kib", "1e99"] {
            assert!(Quantity::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn formats_canonically() {
        assert_eq!(Quantity::parse("1024Mi").unwrap().to_string(), "1Gi");
        assert_eq!(Quantity::parse("0.5").unwrap().to_string(), "500m");
        assert_eq!(Quantity::parse("3").unwrap().to_string(), "3");
    }
}
