//! A candidate period: what the pitch tracker finds in each frame and the
//! octave correction weighs. Shared by both, owned by neither.

/// Depths are compared above this floor: below it both dips are "perfectly
/// periodic" and their ratio is noise.
pub(super) const DEPTH_FLOOR: f64 = 0.02;

/// One dip of the normalised difference: a candidate period.
#[derive(Debug, Clone, Copy)]
pub(super) struct Candidate {
    pub(super) lag: f64,
    /// The normalised difference at the dip (0 = perfectly periodic).
    pub(super) value: f64,
    /// Share of the threshold prior that picks this dip (0 for dips that
    /// are kept only as octave evidence).
    pub(super) probability: f64,
    /// The path's pitch bin for this period (`None` outside the grid).
    pub(super) bin: Option<usize>,
}

impl Candidate {
    /// A dip kept as evidence only (tests build paths from these).
    #[cfg(test)]
    pub(super) fn evidence(lag: f64, value: f64) -> Self {
        Self { lag, value, probability: 0.0, bin: None }
    }

    /// Whether this dip's period is `factor` times `lag` (within 3 %, about
    /// half a semitone).
    pub(super) fn is_multiple(&self, lag: f64, factor: f64) -> bool {
        (self.lag / (lag * factor) - 1.0).abs() < 0.03
    }
}
