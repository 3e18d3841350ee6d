//! CronJob schedules (`spec.schedule`, validated on every CronJob write): parsing and the
//! next fire time from any instant never panic, overflow or loop.
#![no_main]

use bramble::resources::cron::{Schedule, Zone};
use chrono::DateTime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    if let Ok(schedule) = Schedule::parse(text) {
        // An instant anywhere from 1970 to 9999 picked by the first byte.
        let secs = i64::from(seed) * 1_000_000_000;
        if let Some(after) = DateTime::from_timestamp(secs, 0) {
            let _ = schedule.next_after(after, &Zone::utc());
        }
    }
});
