//! The next fire time of a schedule: robfig/cron v3's `SpecSchedule.Next`, stepping the wall
//! clock of the schedule's zone month, day, hour and minute at a time, so daylight saving
//! behaves as upstream's CronJob controller sees it — a time inside a spring-forward gap is
//! skipped that day, a time inside a fall-back hour fires in both passes — and
//! `ConstantDelaySchedule.Next` for `@every`.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

use super::{Fields, Kind, Schedule, Zone, STAR};

/// robfig gives up when nothing matches within five years (e.g. `0 0 30 2 *`).
const YEAR_LIMIT: i32 = 5;
/// A bound on the steps of one search, so no zone data can make it loop.
const MAX_STEPS: usize = 100_000;

impl Schedule {
    /// The first fire time strictly after `after`, in the schedule's own `TZ=` zone if it has
    /// one, else in `zone`; `None` when nothing matches within five years.
    pub fn next_after(&self, after: DateTime<Utc>, zone: &Zone) -> Option<DateTime<Utc>> {
        let own;
        let zone = match self.zone.as_deref() {
            Some(name) => {
                own = Zone::load(name).ok()?;
                &own
            }
            None => zone,
        };
        match &self.kind {
            // `t.Add(delay - t.Nanosecond())`: whole seconds after the current second.
            Kind::Every(secs) => DateTime::from_timestamp(after.timestamp().checked_add(*secs)?, 0),
            Kind::Fields(f) => next_fields(f, after.timestamp(), zone)
                .and_then(|unix| DateTime::from_timestamp(unix, 0)),
        }
    }
}

/// A point in time with its wall-clock reading in the zone.
struct Clock<'a> {
    unix: i64,
    zone: &'a Zone,
}

impl Clock<'_> {
    fn local(&self) -> Option<NaiveDateTime> {
        let secs = self.unix.checked_add(self.zone.offset_at(self.unix))?;
        DateTime::from_timestamp(secs, 0).map(|d| d.naive_utc())
    }

    /// Go's `time.Date(..., loc)`: the instant showing `wall`, normalising a wall time in
    /// a gap or a repeated hour as Go does (the offset in force just before or after).
    fn set(&mut self, wall: NaiveDateTime) -> Option<()> {
        let naive = wall.and_utc().timestamp();
        let first = self.zone.offset_at(naive);
        let mut unix = naive.checked_sub(first)?;
        let actual = self.zone.offset_at(unix);
        if actual != first {
            unix = naive.checked_sub(actual)?;
        }
        self.unix = unix;
        Some(())
    }

    fn add(&mut self, secs: i64) -> Option<()> {
        self.unix = self.unix.checked_add(secs)?;
        Some(())
    }
}

fn has(bits: u64, n: u32) -> bool {
    n < 63 && bits & (1 << n) != 0
}

/// robfig's `dayMatches`: with a star in either day field both must match, else either.
fn day_matches(f: &Fields, t: &NaiveDateTime) -> bool {
    let dom = has(f.dom, t.day());
    let dow = has(f.dow, t.weekday().num_days_from_sunday());
    if f.dom & STAR != 0 || f.dow & STAR != 0 {
        dom && dow
    } else {
        dom || dow
    }
}

fn next_fields(f: &Fields, after: i64, zone: &Zone) -> Option<i64> {
    // Start at the next whole second.
    let mut t = Clock {
        unix: after.checked_add(1)?,
        zone,
    };
    let mut added = false;
    let year_limit = t.local()?.year().checked_add(YEAR_LIMIT)?;
    let mut steps = 0;
    let mut step = || {
        steps += 1;
        (steps < MAX_STEPS).then_some(())
    };
    'wrap: loop {
        step()?;
        let now = t.local()?;
        if now.year() > year_limit {
            return None;
        }
        while !has(f.month, t.local()?.month()) {
            step()?;
            let l = t.local()?;
            if !added {
                added = true;
                t.set(NaiveDate::from_ymd_opt(l.year(), l.month(), 1)?.and_hms_opt(0, 0, 0)?)?;
            }
            // `AddDate(0, 1, 0)` from the first of the month.
            let l = t.local()?;
            let (y, m) = if l.month() == 12 {
                (l.year().checked_add(1)?, 1)
            } else {
                (l.year(), l.month() + 1)
            };
            t.set(NaiveDate::from_ymd_opt(y, m, l.day())?.and_time(l.time()))?;
            if t.local()?.month() == 1 {
                continue 'wrap;
            }
        }
        while !day_matches(f, &t.local()?) {
            step()?;
            if !added {
                added = true;
                let l = t.local()?;
                t.set(l.date().and_hms_opt(0, 0, 0)?)?;
            }
            let l = t.local()?;
            t.set(l.date().succ_opt()?.and_time(l.time()))?;
            // Midnight may not exist on a DST day: move back to the day's start.
            let hour = i64::from(t.local()?.hour());
            if hour != 0 {
                if hour > 12 {
                    t.add((24 - hour) * 3600)?;
                } else {
                    t.add(-hour * 3600)?;
                }
            }
            if t.local()?.day() == 1 {
                continue 'wrap;
            }
        }
        while !has(f.hour, t.local()?.hour()) {
            step()?;
            if !added {
                added = true;
                let l = t.local()?;
                t.set(l.date().and_hms_opt(l.hour(), 0, 0)?)?;
            }
            t.add(3600)?;
            if t.local()?.hour() == 0 {
                continue 'wrap;
            }
        }
        while !has(f.minute, t.local()?.minute()) {
            step()?;
            if !added {
                added = true;
                let l = t.local()?;
                t.set(l.date().and_hms_opt(l.hour(), l.minute(), 0)?)?;
            }
            t.add(60)?;
            if t.local()?.minute() == 0 {
                continue 'wrap;
            }
        }
        // Standard schedules fire at second 0.
        while t.local()?.second() != 0 {
            step()?;
            if !added {
                added = true;
            }
            t.add(1)?;
            if t.local()?.second() == 0 {
                continue 'wrap;
            }
        }
        return Some(t.unix);
    }
}
