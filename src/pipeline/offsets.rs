//! Which offset of a partition may be committed when messages finish out of
//! order: the lowest offset still in flight (or one past the highest seen),
//! so a crash repeats finished work but never skips unfinished work.
//! Confluent's Parallel Consumer calls this the offset map.

use std::collections::{BTreeSet, HashMap};

/// Identifies one assignment of a partition: completions from an earlier
/// assignment (before a rebalance took the partition away) are ignored.
pub type Epoch = u64;

#[derive(Debug, Default)]
struct PartitionOffsets {
    epoch: Epoch,
    in_flight: BTreeSet<i64>,
    /// One past the highest offset seen in this assignment.
    next: i64,
    /// The last value handed out by `complete` (never goes backwards).
    committable: i64,
}

impl PartitionOffsets {
    fn watermark(&self) -> i64 {
        self.in_flight.first().copied().unwrap_or(self.next)
    }
}

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, PartitionOffsets>,
    epochs: Epoch,
}

impl OffsetTracker {
    /// Records that `offset` of `partition` was received and is in flight.
    /// An offset at or below one already seen means the partition was
    /// rewound (reassigned after a rebalance): its bookkeeping starts over.
    pub fn begin(&mut self, partition: i32, offset: i64) -> Epoch {
        let rewound = self.partitions.get(&partition).is_some_and(|p| offset < p.next);
        if rewound || !self.partitions.contains_key(&partition) {
            self.epochs += 1;
            let fresh =
                PartitionOffsets { epoch: self.epochs, in_flight: BTreeSet::new(), next: offset, committable: offset };
            self.partitions.insert(partition, fresh);
        }
        let state = self.partitions.entry(partition).or_default();
        state.in_flight.insert(offset);
        state.next = offset + 1;
        state.epoch
    }

    /// Marks `offset` done. Returns the new commit position (the next offset
    /// to consume) when it advanced, `None` otherwise or when the
    /// completion belongs to an assignment that has since been revoked.
    pub fn complete(&mut self, partition: i32, offset: i64, epoch: Epoch) -> Option<i64> {
        let state = self.partitions.get_mut(&partition).filter(|p| p.epoch == epoch)?;
        state.in_flight.remove(&offset);
        let watermark = state.watermark();
        (watermark > state.committable).then(|| {
            state.committable = watermark;
            watermark
        })
    }

    /// Forgets a partition taken away by a rebalance; its late completions
    /// are ignored and its next message starts a new assignment.
    pub fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    /// Messages received and not yet done, over all partitions.
    pub fn in_flight(&self) -> usize {
        self.partitions.values().map(|p| p.in_flight.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_completions_commit_only_the_finished_prefix() {
        let mut t = OffsetTracker::default();
        let e = t.begin(0, 10);
        for offset in 11..=13 {
            assert_eq!(t.begin(0, offset), e);
        }
        assert_eq!(t.complete(0, 12, e), None, "10 and 11 are still running");
        assert_eq!(t.complete(0, 13, e), None);
        assert_eq!(t.complete(0, 10, e), Some(11));
        assert_eq!(t.complete(0, 11, e), Some(14), "everything up to 13 is done");
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_advance_independently() {
        let mut t = OffsetTracker::default();
        let a = t.begin(0, 5);
        let b = t.begin(1, 7);
        t.begin(1, 8);
        assert_eq!(t.complete(1, 7, b), Some(8));
        assert_eq!(t.complete(0, 5, a), Some(6));
        assert_eq!(t.in_flight(), 1);
    }

    #[test]
    fn a_revoked_partitions_late_completions_are_ignored() {
        let mut t = OffsetTracker::default();
        let old = t.begin(0, 10);
        t.revoke(0);
        assert_eq!(t.complete(0, 10, old), None, "no offset is stored for a partition we lost");
        let new = t.begin(0, 10);
        assert_ne!(old, new);
        assert_eq!(t.complete(0, 10, old), None, "an old completion never moves the new assignment");
        assert_eq!(t.complete(0, 10, new), Some(11));
    }

    #[test]
    fn a_rewind_starts_the_partition_over() {
        let mut t = OffsetTracker::default();
        let old = t.begin(0, 20);
        let new = t.begin(0, 15);
        assert_ne!(old, new, "redelivery from an earlier offset is a new assignment");
        assert_eq!(t.complete(0, 20, old), None);
        assert_eq!(t.complete(0, 15, new), Some(16));
    }

    #[test]
    fn the_commit_position_never_goes_backwards() {
        let mut t = OffsetTracker::default();
        let e = t.begin(0, 1);
        assert_eq!(t.complete(0, 1, e), Some(2));
        assert_eq!(t.complete(0, 1, e), None, "a repeated completion changes nothing");
    }
}
