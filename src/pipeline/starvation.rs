//! Telling a consumer that cannot consume: an idle stage consumer while
//! partitions of its topic hold messages whose group offset has not moved
//! for `starved_after` — nobody is consuming them, whoever the broker says
//! holds them — is starved. The consumer says
//! so (`/readyz`, `orakgarak_consumer_starved`, WARN), and if it is still
//! starved `rejoin_after` later it leaves its group and joins again with
//! a fresh client (ERROR, `orakgarak_consumer_rejoins_total`).
//!
//! Why a broker's group can end that way, and why the fresh client joins
//! without `group.instance.id`: README, "Known defects" (tansu 0.6).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};

/// One partition of the stage topic as the group sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionView {
    pub partition: i32,
    /// The group's next offset to consume (its committed offset, or the
    /// first offset when it never committed).
    pub position: i64,
    /// Messages after `position`.
    pub waiting: i64,
    /// This consumer holds the partition.
    pub held: bool,
}

/// What `observe` concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Consuming, or nothing to consume.
    Consuming,
    /// Starved since `since`; `why` says which partitions wait.
    Starved { since: Instant, why: String },
    /// Starved for longer than the limit: leave and join again.
    Rejoin { why: String },
}

/// Per-partition memory of the group's position, across checks.
#[derive(Debug)]
pub struct StarvationWatch {
    starved_after: Duration,
    rejoin_after: Duration,
    /// Each partition's last position and when it was first seen there.
    positions: HashMap<i32, (i64, Instant)>,
    starved_since: Option<Instant>,
}

impl StarvationWatch {
    pub fn new(starved_after: Duration, rejoin_after: Duration) -> Self {
        Self { starved_after, rejoin_after, positions: HashMap::new(), starved_since: None }
    }

    /// Judges one look at the group. `idle`: this consumer has nothing in
    /// flight. Only an idle consumer judges: a busy one is working through
    /// its own backlog, or waiting out the same outage as everyone, and
    /// the others' offsets may stand still for as long as its own do.
    pub fn observe(&mut self, now: Instant, partitions: &[PartitionView], idle: bool) -> Verdict {
        let mut stuck = Vec::new();
        let mut waiting = 0;
        let mut stalled = Duration::MAX;
        for view in partitions {
            let (position, seen) = self.positions.entry(view.partition).or_insert((view.position, now));
            if *position != view.position {
                *position = view.position;
                *seen = now;
            }
            let still = now.duration_since(*seen);
            if idle && view.waiting > 0 && still >= self.starved_after {
                stuck.push(view.partition);
                waiting += view.waiting;
                stalled = stalled.min(still);
            }
        }
        if stuck.is_empty() {
            self.starved_since = None;
            return Verdict::Consuming;
        }
        let held: Vec<i32> = partitions.iter().filter(|p| p.held).map(|p| p.partition).collect();
        let why = format!(
            "{waiting} messages in partitions {stuck:?} not consumed for {}s; this consumer holds partitions {held:?} and has nothing in flight",
            stalled.as_secs()
        );
        let since = *self.starved_since.get_or_insert(now);
        if now.duration_since(since) >= self.rejoin_after {
            Verdict::Rejoin { why }
        } else {
            Verdict::Starved { since, why }
        }
    }
}

/// The group's view of every partition of `topic`: committed offsets from
/// the group coordinator, watermarks from the partition leaders. Blocking
/// (librdkafka requests): run it off the async runtime.
pub fn look<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Vec<PartitionView>> {
    let held: Vec<i32> =
        consumer.assignment()?.elements().iter().filter(|e| e.topic() == topic).map(|e| e.partition()).collect();
    let mut wanted = TopicPartitionList::new();
    for partition in 0..partitions {
        wanted.add_partition(topic, partition);
    }
    let committed = consumer.committed_offsets(wanted, timeout)?;
    let mut views = Vec::new();
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout)?;
        let position = match committed.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(offset)) => offset,
            _ => low,
        };
        views.push(PartitionView {
            partition,
            position,
            waiting: (high - position).max(0),
            held: held.contains(&partition),
        });
    }
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(20);
    const REJOIN: Duration = Duration::from_secs(10);

    fn view(partition: i32, position: i64, waiting: i64, held: bool) -> PartitionView {
        PartitionView { partition, position, waiting, held }
    }

    const IDLE: bool = true;
    const BUSY: bool = false;

    #[test]
    fn partitions_that_nobody_consumes_starve_an_idle_consumer_then_make_it_rejoin() {
        let start = Instant::now();
        let mut watch = StarvationWatch::new(LIMIT, REJOIN);
        // Partition 1 waits with 5 messages; this consumer holds only 0.
        let group = [view(0, 10, 0, true), view(1, 4, 5, false)];
        assert_eq!(watch.observe(start, &group, IDLE), Verdict::Consuming);
        assert_eq!(watch.observe(start + Duration::from_secs(19), &group, IDLE), Verdict::Consuming);
        let Verdict::Starved { since, why } = watch.observe(start + LIMIT, &group, IDLE) else {
            panic!("a partition stuck for the limit starves an idle consumer")
        };
        assert_eq!(since, start + LIMIT);
        assert!(why.contains("5 messages in partitions [1]") && why.contains("holds partitions [0]"), "{why}");
        assert!(matches!(watch.observe(start + LIMIT + Duration::from_secs(9), &group, IDLE), Verdict::Starved { .. }));
        assert!(matches!(watch.observe(start + LIMIT + REJOIN, &group, IDLE), Verdict::Rejoin { .. }));
    }

    #[test]
    fn a_group_whose_offsets_move_or_a_busy_consumer_is_not_starved() {
        let start = Instant::now();
        let mut watch = StarvationWatch::new(LIMIT, REJOIN);
        // Someone consumes partition 1: its offset moves every check.
        for step in 0..10 {
            let now = start + Duration::from_secs(step * 10);
            let group = [view(0, 0, 0, true), view(1, step as i64, 5, false)];
            assert_eq!(watch.observe(now, &group, IDLE), Verdict::Consuming, "step {step}");
        }
        // Nothing moves while this consumer is busy (its own backlog, or a
        // database outage that holds everyone): not starved; the count
        // starts over once it is idle again.
        let group = [view(0, 0, 0, true), view(1, 9, 5, false)];
        assert_eq!(watch.observe(start + Duration::from_secs(200), &group, BUSY), Verdict::Consuming);
        assert!(matches!(watch.observe(start + Duration::from_secs(201), &group, IDLE), Verdict::Starved { .. }));
        assert!(matches!(watch.observe(start + Duration::from_secs(205), &group, BUSY), Verdict::Consuming));
        assert!(matches!(watch.observe(start + Duration::from_secs(206), &group, IDLE), Verdict::Starved { .. }));
        // Nothing waiting: consuming, whatever stands still.
        let drained = [view(0, 0, 0, true), view(1, 14, 0, false)];
        assert_eq!(watch.observe(start + Duration::from_secs(300), &drained, IDLE), Verdict::Consuming);
    }
}
