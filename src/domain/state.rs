//! The 12-state upload state machine and its explicit transition table.

use std::fmt;
use std::str::FromStr;

/// Where an upload is. Persisted as the SCREAMING_SNAKE name.
///
/// ```text
/// CREATED ──event──▶ UPLOADED ──▶ CONVERTING ──▶ CONVERTED ──▶ ANALYZING ──▶ ANALYZED ──▶ RECOMMENDING ──▶ COMPLETED
///    │                  │             │  ▲                        │  ▲                        │  ▲
///    │ expiry           │ oversize    ▼  │ backoff                ▼  │                        ▼  │
///    ▼                  ▼           RETRYING ◀─────────────────────┴──┴────────────────────────┘  │
/// EXPIRED            REJECTED          │ attempts exhausted / not retryable / stuck
///                                      ▼
///                                    FAILED ──dlq replay──▶ UPLOADED | CONVERTED | ANALYZED
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UploadState {
    /// A presigned URL was handed out; the object has not been seen yet.
    Created,
    /// The object-created event arrived and passed the size check.
    Uploaded,
    Converting,
    Converted,
    Analyzing,
    Analyzed,
    Recommending,
    /// Terminal: recommendations are stored.
    Completed,
    /// A stage failed transiently and waits for its backoff to elapse.
    Retrying,
    /// In the dead-letter topic; only an operator's `dlq replay` moves it on.
    Failed,
    /// Terminal: the stored object broke the size rules.
    Rejected,
    /// Terminal: no object arrived before the upload URL expired.
    Expired,
}

/// A transition that the table does not allow; nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal upload state transition {from} -> {to}")]
pub struct IllegalTransition {
    pub from: UploadState,
    pub to: UploadState,
}

/// The three processing stages, each with its input, working and done states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Convert,
    Analyze,
    Recommend,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Convert, Stage::Analyze, Stage::Recommend];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Convert => "convert",
            Stage::Analyze => "analyze",
            Stage::Recommend => "recommend",
        }
    }

    /// The state an upload is in when this stage's message is produced.
    pub fn input_state(self) -> UploadState {
        match self {
            Stage::Convert => UploadState::Uploaded,
            Stage::Analyze => UploadState::Converted,
            Stage::Recommend => UploadState::Analyzed,
        }
    }

    pub fn working_state(self) -> UploadState {
        match self {
            Stage::Convert => UploadState::Converting,
            Stage::Analyze => UploadState::Analyzing,
            Stage::Recommend => UploadState::Recommending,
        }
    }

    pub fn done_state(self) -> UploadState {
        match self {
            Stage::Convert => UploadState::Converted,
            Stage::Analyze => UploadState::Analyzed,
            Stage::Recommend => UploadState::Completed,
        }
    }

    /// The stage whose working state `state` is.
    pub fn working_in(state: UploadState) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.working_state() == state)
    }

    pub fn next(self) -> Option<Stage> {
        match self {
            Stage::Convert => Some(Stage::Analyze),
            Stage::Analyze => Some(Stage::Recommend),
            Stage::Recommend => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Stage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| format!("unknown stage {s:?} (expected convert, analyze or recommend)"))
    }
}

impl UploadState {
    pub const ALL: [UploadState; 12] = [
        UploadState::Created,
        UploadState::Uploaded,
        UploadState::Converting,
        UploadState::Converted,
        UploadState::Analyzing,
        UploadState::Analyzed,
        UploadState::Recommending,
        UploadState::Completed,
        UploadState::Retrying,
        UploadState::Failed,
        UploadState::Rejected,
        UploadState::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UploadState::Created => "CREATED",
            UploadState::Uploaded => "UPLOADED",
            UploadState::Converting => "CONVERTING",
            UploadState::Converted => "CONVERTED",
            UploadState::Analyzing => "ANALYZING",
            UploadState::Analyzed => "ANALYZED",
            UploadState::Recommending => "RECOMMENDING",
            UploadState::Completed => "COMPLETED",
            UploadState::Retrying => "RETRYING",
            UploadState::Failed => "FAILED",
            UploadState::Rejected => "REJECTED",
            UploadState::Expired => "EXPIRED",
        }
    }

    /// No automatic process moves an upload out of a terminal state.
    /// FAILED is terminal for automation; only an operator's replay leaves it.
    pub fn is_terminal(self) -> bool {
        matches!(self, UploadState::Completed | UploadState::Failed | UploadState::Rejected | UploadState::Expired)
    }

    /// The transition table. Everything not listed is refused.
    pub fn can_transition_to(self, to: UploadState) -> bool {
        use UploadState::*;
        matches!(
            (self, to),
            (Created, Uploaded | Rejected | Expired)
                | (Uploaded, Converting | Failed)
                | (Converting, Converted | Retrying | Failed)
                | (Converted, Analyzing | Failed)
                | (Analyzing, Analyzed | Retrying | Failed)
                | (Analyzed, Recommending | Failed)
                | (Recommending, Completed | Retrying | Failed)
                | (Retrying, Converting | Analyzing | Recommending | Failed)
                | (Failed, Uploaded | Converted | Analyzed)
        )
    }

    pub fn check_transition(self, to: UploadState) -> Result<(), IllegalTransition> {
        if self.can_transition_to(to) {
            Ok(())
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for UploadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for UploadState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl FromStr for UploadState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UploadState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| format!("unknown upload state {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UploadState::*;

    #[test]
    fn happy_path_is_allowed_step_by_step() {
        let path = [Created, Uploaded, Converting, Converted, Analyzing, Analyzed, Recommending, Completed];
        for pair in path.windows(2) {
            assert!(pair[0].can_transition_to(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn terminal_states_except_failed_have_no_way_out() {
        for from in [Completed, Rejected, Expired] {
            for to in UploadState::ALL {
                assert!(from.check_transition(to).is_err(), "{from} -> {to} must be refused");
            }
        }
    }

    #[test]
    fn backwards_and_skipping_moves_are_refused() {
        assert_eq!(Converted.check_transition(Converting), Err(IllegalTransition { from: Converted, to: Converting }));
        assert!(Created.check_transition(Converting).is_err());
        assert!(Uploaded.check_transition(Completed).is_err());
        assert!(Completed.check_transition(Failed).is_err());
        assert!(Failed.check_transition(Completed).is_err());
    }

    #[test]
    fn names_round_trip() {
        for state in UploadState::ALL {
            assert_eq!(state.as_str().parse::<UploadState>(), Ok(state));
        }
        assert!("DONE".parse::<UploadState>().is_err());
    }

    #[test]
    fn every_stage_moves_input_to_working_to_done() {
        for stage in Stage::ALL {
            assert!(stage.input_state().can_transition_to(stage.working_state()));
            assert!(stage.working_state().can_transition_to(stage.done_state()));
            assert!(stage.working_state().can_transition_to(Retrying));
            assert!(Retrying.can_transition_to(stage.working_state()));
            assert!(Failed.can_transition_to(stage.input_state()));
        }
    }
}
