//! The `bramble.io/Storage` condition: True when the root filesystem went read-only (ext4
//! `errors=remount-ro`), an ext4 filesystem has recorded errors, or the eMMC reports its wear
//! (`life_time`, `pre_eol_info`) high; a pure function over the facts `board_files` reads.
//! No taint follows from it: it tells the operator the card is wearing out, which
//! rescheduling cannot help. Nothing known (no such files): no condition.

use super::ConditionState;

/// Condition type of the storage's health.
pub const STORAGE: &str = "bramble.io/Storage";

/// What the board says about its storage's health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageFacts {
    /// Whether the root filesystem is mounted read-only (`None`: unknown).
    pub root_read_only: Option<bool>,
    /// ext4 filesystems (by device) and the errors each has recorded, where known.
    pub ext4_errors: Vec<(String, u64)>,
    /// The eMMC's estimated life used, types A and B, in tenths (`0x01` = 0–10 %,
    /// `0x0b` = exceeded), where the device reports it.
    pub life_time: Option<(u8, u8)>,
    /// The eMMC's pre-end-of-life state: 1 normal, 2 warning, 3 urgent.
    pub pre_eol: Option<u8>,
}

/// `life_time` from this value on (80–90 % of the estimated life used) counts as high wear.
const LIFE_TIME_HIGH: u8 = 0x09;
/// `pre_eol_info` from this value on (warning: 80 % of reserved blocks used) is high wear.
const PRE_EOL_WARNING: u8 = 0x02;

/// The `bramble.io/Storage` condition from `facts`; `None` when nothing is known.
pub fn storage_condition(facts: &StorageFacts) -> Option<ConditionState> {
    if facts == &StorageFacts::default() {
        return None;
    }
    let errors: Vec<String> = facts
        .ext4_errors
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(dev, n)| format!("{dev}: {n}"))
        .collect();
    let wear_high = facts
        .life_time
        .is_some_and(|(a, b)| a.max(b) >= LIFE_TIME_HIGH)
        || facts.pre_eol.is_some_and(|p| p >= PRE_EOL_WARNING);
    let wear = match (facts.life_time, facts.pre_eol) {
        (None, None) => String::new(),
        (life, eol) => format!(
            "; eMMC life_time {}, pre_eol_info {}",
            life.map_or("unknown".into(), |(a, b)| format!("{a:#04x} {b:#04x}")),
            eol.map_or("unknown".into(), |p| format!("{p:#04x}")),
        ),
    };
    let (active, reason, message) = if facts.root_read_only == Some(true) {
        (
            true,
            "RootFilesystemReadOnly",
            format!("the root filesystem is mounted read-only{wear}"),
        )
    } else if !errors.is_empty() {
        (
            true,
            "FilesystemErrors",
            format!("ext4 errors recorded ({}){wear}", errors.join(", ")),
        )
    } else if wear_high {
        (
            true,
            "StorageWearHigh",
            format!("the storage reports high wear{wear}"),
        )
    } else {
        (
            false,
            "StorageOk",
            format!("no filesystem errors recorded{wear}"),
        )
    };
    Some(ConditionState {
        type_: STORAGE,
        active,
        reason,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_reports_read_only_errors_and_wear() {
        assert_eq!(storage_condition(&StorageFacts::default()), None);
        let healthy = StorageFacts {
            root_read_only: Some(false),
            ext4_errors: vec![("mmcblk0p2".into(), 0)],
            life_time: Some((0x01, 0x02)),
            pre_eol: Some(0x01),
        };
        let c = storage_condition(&healthy).unwrap();
        assert_eq!((c.active, c.reason), (false, "StorageOk"));
        assert_eq!(
            c.message,
            "no filesystem errors recorded; eMMC life_time 0x01 0x02, pre_eol_info 0x01"
        );
        let worn = StorageFacts {
            life_time: Some((0x0a, 0x02)),
            ..healthy.clone()
        };
        assert_eq!(storage_condition(&worn).unwrap().reason, "StorageWearHigh");
        let eol = StorageFacts {
            pre_eol: Some(0x03),
            ..healthy.clone()
        };
        assert_eq!(storage_condition(&eol).unwrap().reason, "StorageWearHigh");
        let errors = StorageFacts {
            ext4_errors: vec![("mmcblk0p2".into(), 3)],
            ..healthy.clone()
        };
        let c = storage_condition(&errors).unwrap();
        assert_eq!(c.reason, "FilesystemErrors");
        assert!(c.message.starts_with("ext4 errors recorded (mmcblk0p2: 3)"));
        let ro = StorageFacts {
            root_read_only: Some(true),
            ..errors
        };
        assert_eq!(
            storage_condition(&ro).unwrap().reason,
            "RootFilesystemReadOnly"
        );
    }
}
