//! What a Job needs next, as upstream's job controller `syncJob` decides it from the pods
//! it counted: finished (`Complete` once `completions` pods succeeded — every index for an
//! Indexed Job — or, without `completions`, once one succeeded and none runs; `Failed` when
//! failures exceed `backoffLimit` or the Job ran past `activeDeadlineSeconds`), or how
//! many pods (which indexes) to start so at most `parallelism` run.

use std::collections::BTreeSet;

/// The Job's settings that drive the decision, defaults applied.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub parallelism: i32,
    pub completions: Option<i32>,
    pub backoff_limit: i32,
    pub indexed: bool,
    pub suspended: bool,
    /// Seconds since the Job started, and the deadline, if both are known.
    pub running_for: Option<i64>,
    pub active_deadline: Option<i64>,
}

/// What the pods say.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub active: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// Indexes that succeeded (Indexed Jobs).
    pub completed: BTreeSet<i32>,
    /// Indexes an active pod holds (Indexed Jobs).
    pub running: BTreeSet<i32>,
}

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Complete,
    Failed {
        reason: &'static str,
        message: &'static str,
    },
}

/// The next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The Job is done; its active pods are deleted.
    Finished(Finish),
    /// Start this many pods (non-indexed) or pods for these indexes; delete `surplus` active
    /// pods (suspension, or more running than `parallelism`).
    Run {
        create: usize,
        indexes: Vec<i32>,
        surplus: usize,
    },
}

/// Upstream's backoff and deadline messages.
const BACKOFF_MSG: &str = "Job has reached the specified backoff limit";
const DEADLINE_MSG: &str = "Job was active longer than specified deadline";

impl Next {
    /// Go on without creating: only delete `surplus` running pods.
    fn delete_only(surplus: usize) -> Self {
        Next::Run {
            create: 0,
            indexes: Vec::new(),
            surplus,
        }
    }
}

/// The decision for a Job that has not finished yet.
pub fn next(s: &Settings, o: &Observed) -> Next {
    if o.failed > s.backoff_limit {
        return Next::Finished(Finish::Failed {
            reason: "BackoffLimitExceeded",
            message: BACKOFF_MSG,
        });
    }
    if let (Some(ran), Some(deadline)) = (s.running_for, s.active_deadline) {
        if ran >= deadline {
            return Next::Finished(Finish::Failed {
                reason: "DeadlineExceeded",
                message: DEADLINE_MSG,
            });
        }
    }
    let complete = match (s.indexed, s.completions) {
        (true, Some(n)) => (0..n).all(|i| o.completed.contains(&i)),
        (_, Some(n)) => o.succeeded >= n,
        (_, None) => o.succeeded > 0 && o.active == 0,
    };
    if complete {
        return Next::Finished(Finish::Complete);
    }
    let active = usize::try_from(o.active).unwrap_or(0);
    if s.suspended {
        return Next::delete_only(active);
    }
    // Pods still wanted: no more than parallelism, and no more than completions left.
    let left = match s.completions {
        Some(n) if s.indexed => {
            i32::try_from((0..n).filter(|i| !o.completed.contains(i)).count()).unwrap_or(0)
        }
        Some(n) => n.saturating_sub(o.succeeded),
        // A work queue Job starts no pod once one succeeded, and lets the running ones end.
        None if o.succeeded > 0 => o.active,
        None => s.parallelism,
    };
    let want = usize::try_from(s.parallelism.min(left).max(0)).unwrap_or(0);
    if active >= want {
        return Next::delete_only(active - want);
    }
    let create = want - active;
    let indexes = if s.indexed {
        (0..s.completions.unwrap_or(0))
            .filter(|i| !o.completed.contains(i) && !o.running.contains(i))
            .take(create)
            .collect()
    } else {
        Vec::new()
    };
    let create = if s.indexed { indexes.len() } else { create };
    Next::Run {
        create,
        indexes,
        surplus: 0,
    }
}

/// `completedIndexes` as upstream writes it: sorted ranges, `1,3-5`.
pub fn format_indexes(set: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(i32, i32)> = None;
    for &i in set {
        run = match run {
            Some((a, b)) if b.checked_add(1) == Some(i) => Some((a, i)),
            Some(r) => {
                parts.push(range(r));
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    parts.extend(run.map(range));
    parts.join(",")
}

fn range((a, b): (i32, i32)) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// Parses `completedIndexes`, ignoring anything malformed.
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
            // Bounded by completions, which validation caps; guard against huge ranges.
            if b >= a && b - a < 100_000 {
                out.extend(a..=b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go on: create `create` pods (at `indexes`) and delete `surplus`.
    fn run(create: usize, indexes: Vec<i32>, surplus: usize) -> Next {
        Next::Run {
            create,
            indexes,
            surplus,
        }
    }

    fn settings(parallelism: i32, completions: Option<i32>) -> Settings {
        Settings {
            parallelism,
            completions,
            backoff_limit: 6,
            ..Settings::default()
        }
    }

    #[test]
    fn starts_up_to_parallelism_and_completions_left() {
        let s = settings(2, Some(3));
        let o = Observed::default();
        assert_eq!(next(&s, &o), run(2, vec![], 0));
        let o = Observed {
            succeeded: 2,
            ..Observed::default()
        };
        assert_eq!(next(&s, &o), run(1, vec![], 0));
        let o = Observed {
            succeeded: 3,
            ..Observed::default()
        };
        assert_eq!(next(&s, &o), Next::Finished(Finish::Complete));
    }

    #[test]
    fn work_queue_job_completes_when_one_succeeded_and_none_runs() {
        let s = settings(3, None);
        let o = Observed {
            succeeded: 1,
            active: 2,
            ..Observed::default()
        };
        assert_eq!(next(&s, &o), run(0, vec![], 0));
        let o = Observed {
            succeeded: 1,
            ..Observed::default()
        };
        assert_eq!(next(&s, &o), Next::Finished(Finish::Complete));
    }

    #[test]
    fn fails_past_backoff_limit_or_deadline() {
        let mut s = settings(1, Some(1));
        s.backoff_limit = 1;
        let o = Observed {
            failed: 1,
            ..Observed::default()
        };
        assert!(matches!(next(&s, &o), Next::Run { create: 1, .. }));
        let o = Observed {
            failed: 2,
            ..Observed::default()
        };
        assert!(matches!(
            next(&s, &o),
            Next::Finished(Finish::Failed {
                reason: "BackoffLimitExceeded",
                ..
            })
        ));
        s.running_for = Some(30);
        s.active_deadline = Some(30);
        let o = Observed {
            active: 1,
            ..Observed::default()
        };
        assert!(matches!(
            next(&s, &o),
            Next::Finished(Finish::Failed {
                reason: "DeadlineExceeded",
                ..
            })
        ));
    }

    #[test]
    fn indexed_job_starts_missing_indexes_lowest_first() {
        let mut s = settings(2, Some(4));
        s.indexed = true;
        let o = Observed {
            active: 1,
            completed: [0].into(),
            running: [2].into(),
            ..Observed::default()
        };
        assert_eq!(next(&s, &o), run(1, vec![1], 0));
        let o = Observed {
            completed: [0, 1, 2, 3].into(),
            ..Observed::default()
        };
        assert_eq!(next(&s, &o), Next::Finished(Finish::Complete));
    }

    #[test]
    fn suspended_job_stops_its_pods() {
        let mut s = settings(2, Some(4));
        s.suspended = true;
        let o = Observed {
            active: 2,
            ..Observed::default()
        };
        assert_eq!(next(&s, &o), run(0, vec![], 2));
    }

    #[test]
    fn completed_indexes_round_trip_as_ranges() {
        let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into();
        assert_eq!(format_indexes(&set), "0-2,4,6-7");
        assert_eq!(parse_indexes("0-2,4,6-7"), set);
        assert_eq!(parse_indexes("x,3-1,5"), [5].into());
    }
}
