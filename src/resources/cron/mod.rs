//! CronJob schedules: the grammar of `cron.ParseStandard` from robfig/cron v3, which upstream's
//! CronJob validation and controller use — five fields (minute, hour, day of month, month,
//! day of week) with `*`, `?`, lists, ranges, steps and month/day names, the `@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` macros, `@every
//! <duration>`, and a `TZ=`/`CRON_TZ=` prefix. Error texts are the library's, since upstream
//! shows them to users as the `spec.schedule` validation message.
//!
//! [`Schedule::next_after`] (in `next.rs`) is the library's `Schedule.Next`: the first fire
//! time after an instant, in a time zone from `zone.rs`.

mod duration;
mod next;
mod zone;

pub use zone::{Zone, ZoneError};

/// A schedule that could not be parsed; the text is robfig/cron's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

/// Set in a field's bits when it was written `*` or `?` (robfig's `starBit`): a day-of-month
/// or day-of-week star changes how the two day fields combine.
const STAR: u64 = 1 << 63;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
    /// The zone named by a `TZ=`/`CRON_TZ=` prefix, which overrides the caller's.
    zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Bit sets of the allowed values of each field (bit n = value n).
    Fields(Fields),
    /// `@every`: a fixed delay in whole seconds (at least one).
    Every(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fields {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

/// One field's range and value names.
struct Bounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

impl Schedule {
    /// Parses a schedule as `cron.ParseStandard`.
    pub fn parse(spec: &str) -> Result<Schedule, CronError> {
        if spec.is_empty() {
            return Err(CronError("empty spec string".into()));
        }
        let mut spec = spec;
        let mut zone = None;
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            let (prefix, rest) = spec.split_once(' ').unwrap_or((spec, ""));
            let name = prefix.split_once('=').map_or("", |(_, n)| n);
            if let Err(e) = Zone::load(name) {
                return Err(CronError(format!("provided bad location {name}: {e}")));
            }
            zone = Some(name.to_string());
            spec = rest.trim();
        }
        let kind = if spec.starts_with('@') {
            descriptor(spec)?
        } else {
            let fields: Vec<&str> = spec.split_whitespace().collect();
            if fields.len() != 5 {
                return Err(CronError(format!(
                    "expected exactly 5 fields, found {}: [{}]",
                    fields.len(),
                    fields.join(" ")
                )));
            }
            Kind::Fields(Fields {
                minute: field(fields[0], &MINUTES)?,
                hour: field(fields[1], &HOURS)?,
                dom: field(fields[2], &DOM)?,
                month: field(fields[3], &MONTHS)?,
                dow: field(fields[4], &DOW)?,
            })
        };
        Ok(Schedule { kind, zone })
    }

    /// The zone a `TZ=`/`CRON_TZ=` prefix names, if the schedule has one.
    pub fn zone(&self) -> Option<&str> {
        self.zone.as_deref()
    }
}

/// robfig's `parseDescriptor`.
fn descriptor(spec: &str) -> Result<Kind, CronError> {
    let all = |b: &Bounds| bits(b.min, b.max, 1) | STAR;
    let fields = |minute, hour, dom, month, dow| {
        Kind::Fields(Fields {
            minute,
            hour,
            dom,
            month,
            dow,
        })
    };
    Ok(match spec {
        "@yearly" | "@annually" => fields(1, 1, 1 << 1, 1 << 1, all(&DOW)),
        "@monthly" => fields(1, 1, 1 << 1, all(&MONTHS), all(&DOW)),
        "@weekly" => fields(1, 1, all(&DOM), all(&MONTHS), 1),
        "@daily" | "@midnight" => fields(1, 1, all(&DOM), all(&MONTHS), all(&DOW)),
        "@hourly" => fields(1, all(&HOURS), all(&DOM), all(&MONTHS), all(&DOW)),
        _ => match spec.strip_prefix("@every ") {
            Some(text) => {
                let nanos = duration::parse(text)
                    .map_err(|e| CronError(format!("failed to parse duration {spec}: {e}")))?;
                // robfig's `Every`: at least a second, truncated to whole seconds.
                Kind::Every((nanos / 1_000_000_000).max(1) as i64)
            }
            None => return Err(CronError(format!("unrecognized descriptor: {spec}"))),
        },
    })
}

/// robfig's `getField`: comma-separated ranges, OR-ed together.
fn field(text: &str, b: &Bounds) -> Result<u64, CronError> {
    let mut out = 0;
    for part in text.split(',').filter(|p| !p.is_empty()) {
        out |= range(part, b)?;
    }
    Ok(out)
}

/// robfig's `getRange`: `*`, `?`, `N`, `N-M`, each optionally `/step`.
fn range(expr: &str, b: &Bounds) -> Result<u64, CronError> {
    let err = |m: String| Err(CronError(m));
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end, mut extra);
    if low_high[0] == "*" || low_high[0] == "?" {
        (start, end, extra) = (b.min, b.max, STAR);
    } else {
        start = int_or_name(low_high[0], b)?;
        end = match low_high.len() {
            1 => start,
            2 => int_or_name(low_high[1], b)?,
            _ => return err(format!("too many hyphens: {expr}")),
        };
        extra = 0;
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = int(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u64, CronError> {
    let lower = expr.to_lowercase();
    match b.names.iter().find(|(n, _)| *n == lower) {
        Some((_, v)) => Ok(*v),
        None => int(expr),
    }
}

/// robfig's `mustParseInt` over Go's `strconv.Atoi`.
fn int(expr: &str) -> Result<u64, CronError> {
    match expr.parse::<i64>() {
        Ok(n) if n < 0 => Err(CronError(format!(
            "negative number ({n}) not allowed: {expr}"
        ))),
        Ok(n) => Ok(n.unsigned_abs()),
        Err(e) => {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    "value out of range"
                }
                _ => "invalid syntax",
            };
            Err(CronError(format!(
                "failed to parse int from {expr}: strconv.Atoi: parsing {expr:?}: {why}"
            )))
        }
    }
}

/// The bits `min..=max` by `step`; callers have checked `max` < 64 and `step` > 0.
fn bits(min: u64, max: u64, step: u64) -> u64 {
    let mut out = 0;
    let mut i = min;
    while i <= max {
        out |= 1 << i;
        match i.checked_add(step) {
            Some(n) => i = n,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests;
