use chrono::{DateTime, Utc};

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn next(spec: &str, after: &str, zone: &str) -> String {
    let zone = Zone::load(zone).unwrap();
    Schedule::parse(spec)
        .unwrap()
        .next_after(at(after), &zone)
        .map(|t| t.to_rfc3339())
        .unwrap_or_else(|| "never".into())
}

fn error(spec: &str) -> String {
    Schedule::parse(spec).unwrap_err().to_string()
}

#[test]
fn fields_lists_ranges_steps_and_names() {
    let t = "2024-03-13T10:17:30Z"; // a Wednesday
    assert_eq!(next("*/15 * * * *", t, "UTC"), "2024-03-13T10:30:00+00:00");
    assert_eq!(
        next("5,10 9-11 * * *", t, "UTC"),
        "2024-03-13T11:05:00+00:00"
    );
    assert_eq!(next("0 0 * * mon", t, "UTC"), "2024-03-18T00:00:00+00:00");
    assert_eq!(next("0 0 1 jan *", t, "UTC"), "2025-01-01T00:00:00+00:00");
    assert_eq!(next("30 10/6 * * *", t, "UTC"), "2024-03-13T10:30:00+00:00");
    assert_eq!(
        next("0 12 ? * SUN,SAT", t, "UTC"),
        "2024-03-16T12:00:00+00:00"
    );
    // Without a star, day of month and day of week combine with OR.
    assert_eq!(next("0 0 20 * 5", t, "UTC"), "2024-03-15T00:00:00+00:00");
    // Strictly after: a fire time equal to the instant is not returned.
    assert_eq!(
        next("30 10 * * *", "2024-03-13T10:30:00Z", "UTC"),
        "2024-03-14T10:30:00+00:00"
    );
    // Leap days, and never when no date matches within five years.
    assert_eq!(next("0 0 29 2 *", t, "UTC"), "2028-02-29T00:00:00+00:00");
    assert_eq!(next("0 0 30 2 *", t, "UTC"), "never");
}

#[test]
fn macros_and_every() {
    let t = "2024-03-13T10:17:30Z";
    assert_eq!(next("@hourly", t, "UTC"), "2024-03-13T11:00:00+00:00");
    assert_eq!(next("@daily", t, "UTC"), "2024-03-14T00:00:00+00:00");
    assert_eq!(next("@midnight", t, "UTC"), "2024-03-14T00:00:00+00:00");
    assert_eq!(next("@weekly", t, "UTC"), "2024-03-17T00:00:00+00:00");
    assert_eq!(next("@monthly", t, "UTC"), "2024-04-01T00:00:00+00:00");
    assert_eq!(next("@yearly", t, "UTC"), "2025-01-01T00:00:00+00:00");
    assert_eq!(next("@annually", t, "UTC"), "2025-01-01T00:00:00+00:00");
    assert_eq!(next("@every 90s", t, "UTC"), "2024-03-13T10:19:00+00:00");
    assert_eq!(next("@every 10ms", t, "UTC"), "2024-03-13T10:17:31+00:00");
}

#[test]
fn time_zones_and_daylight_saving() {
    // 9:00 in New York is 13:00 UTC in summer, 14:00 in winter.
    assert_eq!(
        next("0 9 * * *", "2024-07-01T00:00:00Z", "America/New_York"),
        "2024-07-01T13:00:00+00:00"
    );
    assert_eq!(
        next("0 9 * * *", "2024-01-01T00:00:00Z", "America/New_York"),
        "2024-01-01T14:00:00+00:00"
    );
    // Spring forward (2024-03-10 02:00 EST -> 03:00 EDT): 02:30 does not exist that day.
    assert_eq!(
        next("30 2 * * *", "2024-03-10T05:00:00Z", "America/New_York"),
        "2024-03-11T06:30:00+00:00"
    );
    // Fall back (2024-11-03 02:00 EDT -> 01:00 EST): 01:30 comes twice and fires twice.
    let first = next("30 1 * * *", "2024-11-03T04:00:00Z", "America/New_York");
    assert_eq!(first, "2024-11-03T05:30:00+00:00");
    assert_eq!(
        next("30 1 * * *", "2024-11-03T05:30:00Z", "America/New_York"),
        "2024-11-03T06:30:00+00:00"
    );
    // A TZ= prefix overrides the caller's zone.
    assert_eq!(
        next("TZ=Asia/Tokyo 0 9 * * *", "2024-07-01T00:00:00Z", "UTC"),
        "2024-07-02T00:00:00+00:00"
    );
    assert_eq!(
        Schedule::parse("CRON_TZ=Europe/Berlin @daily")
            .unwrap()
            .zone(),
        Some("Europe/Berlin")
    );
}

#[test]
fn errors_read_as_robfig_cron() {
    assert_eq!(error(""), "empty spec string");
    assert_eq!(error("foo"), "expected exactly 5 fields, found 1: [foo]");
    assert_eq!(
        error("* * * * * *"),
        "expected exactly 5 fields, found 6: [* * * * * *]"
    );
    assert_eq!(error("@often"), "unrecognized descriptor: @often");
    assert_eq!(
        error("@every 5"),
        "failed to parse duration @every 5: time: missing unit in duration \"5\""
    );
    assert_eq!(
        error("60 * * * *"),
        "end of range (60) above maximum (59): 60"
    );
    assert_eq!(
        error("* * 0 * *"),
        "beginning of range (0) below minimum (1): 0"
    );
    assert_eq!(
        error("5-2 * * * *"),
        "beginning of range (5) beyond end of range (2): 5-2"
    );
    assert_eq!(
        error("*/0 * * * *"),
        "step of range should be a positive number: */0"
    );
    assert_eq!(error("1-2-3 * * * *"), "too many hyphens: 1-2-3");
    assert_eq!(error("1/2/3 * * * *"), "too many slashes: 1/2/3");
    assert_eq!(
        error("x * * * *"),
        "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
    );
    assert_eq!(error("* * * * 7"), "end of range (7) above maximum (6): 7");
    assert_eq!(
        error("* * * * sat-sun"),
        "beginning of range (6) beyond end of range (0): sat-sun"
    );
    assert_eq!(
        error("TZ=Nowhere/Land * * * * *"),
        "provided bad location Nowhere/Land: unknown time zone Nowhere/Land"
    );
}

#[test]
fn no_input_panics() {
    let samples = [
        "*/99999999999999999999 * * * *",
        "1-99999999999999999999 * * * *",
        "*/18446744073709551615 * * * *",
        "-1 * * * *",
        "TZ=",
        "TZ= ",
        "CRON_TZ=../../etc/passwd * * * * *",
        "@every 99999999999999999h",
        "@every -1s",
        "é * * * *",
        ", , , , ,",
        "@every ",
        "0 0 31 2,4,6,9,11 *",
    ];
    let far = at("9999-12-31T23:59:59Z");
    for s in samples {
        if let Ok(schedule) = Schedule::parse(s) {
            let _ = schedule.next_after(far, &Zone::utc());
            let _ = schedule.next_after(at("1970-01-01T00:00:00Z"), &Zone::utc());
        }
    }
}
