//! Alert thresholds, read from the rule files' `threshold` annotations.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

/// (alert name, severity) → threshold.
#[derive(Debug, Clone, Default)]
pub struct AlertThresholds(BTreeMap<(String, String), f64>);

impl AlertThresholds {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut map = BTreeMap::new();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yml"))
            .collect();
        files.sort();
        for file in files {
            let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&file)?)
                .with_context(|| format!("{} is not YAML", file.display()))?;
            for group in doc["groups"].as_sequence().into_iter().flatten() {
                for rule in group["rules"].as_sequence().into_iter().flatten() {
                    let (Some(name), Some(threshold)) =
                        (rule["alert"].as_str(), rule["annotations"]["threshold"].as_str())
                    else {
                        continue;
                    };
                    let severity = rule["labels"]["severity"].as_str().unwrap_or("warning").to_owned();
                    let value: f64 = threshold.parse().with_context(|| format!("{name}: threshold {threshold:?}"))?;
                    map.insert((name.to_owned(), severity), value);
                }
            }
        }
        Ok(Self(map))
    }

    /// The threshold of `alert` at `severity`; a missing one is a bug in
    /// the dashboards or the rules, so it fails generation.
    pub fn get(&self, alert: &str, severity: &str) -> f64 {
        match self.0.get(&(alert.to_owned(), severity.to_owned())) {
            Some(v) => *v,
            None => panic!("alert {alert} ({severity}) has no threshold annotation in alerts/"),
        }
    }
}
