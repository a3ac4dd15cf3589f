//! Topic names. One topic per stage and lane plus a dead-letter topic per
//! stage: `<prefix>.<stage>`, `<prefix>.<stage>.bulk`, `<prefix>.<stage>.dlq`.

use crate::domain::Stage;
use crate::telemetry::Lane;

#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    pub fn stage(&self, stage: Stage, lane: Lane) -> String {
        match lane {
            Lane::Realtime => format!("{}.{}", self.prefix, stage),
            Lane::Bulk => format!("{}.{}.bulk", self.prefix, stage),
        }
    }

    pub fn dead_letter(&self, stage: Stage) -> String {
        format!("{}.{}.dlq", self.prefix, stage)
    }

    pub fn all(&self) -> Vec<String> {
        Stage::ALL
            .iter()
            .flat_map(|s| [self.stage(*s, Lane::Realtime), self.stage(*s, Lane::Bulk), self.dead_letter(*s)])
            .collect()
    }

    /// Which stage and lane a topic belongs to (`None` for DLQ and foreign topics).
    pub fn parse(&self, topic: &str) -> Option<(Stage, Lane)> {
        Stage::ALL.into_iter().find_map(|stage| {
            if topic == self.stage(stage, Lane::Realtime) {
                Some((stage, Lane::Realtime))
            } else if topic == self.stage(stage, Lane::Bulk) {
                Some((stage, Lane::Bulk))
            } else {
                None
            }
        })
    }
}
