//! Traffic classes: fresh user uploads never wait behind bulk work.

use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Lane {
    /// Uploads singers are waiting for.
    Realtime,
    /// Watchdog re-drives and operator replays.
    Bulk,
}

impl Lane {
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Realtime => "realtime",
            Lane::Bulk => "bulk",
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lane {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "realtime" => Ok(Lane::Realtime),
            "bulk" => Ok(Lane::Bulk),
            other => Err(format!("unknown lane {other:?} (realtime or bulk)")),
        }
    }
}
