//! PromQL helpers shared by the alert and dashboard tests.

use std::collections::BTreeSet;
use std::path::Path;

/// Metric names in a PromQL expression: identifiers that are not
/// functions, keywords, label names or durations.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "group",
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let (mut i, mut depth_brace, mut depth_bracket) = (0, 0, 0);
    let mut skip_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
            }
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            '(' if skip_label_list => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                skip_label_list = false;
            }
            c if (c.is_ascii_alphabetic() || c == '_' || c == ':') && depth_brace == 0 && depth_bracket == 0 => {
                let start = i;
                while i + 1 < chars.len()
                    && (chars[i + 1].is_ascii_alphanumeric() || chars[i + 1] == '_' || chars[i + 1] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..=i].iter().collect();
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&word.as_str()) {
                    skip_label_list = next == Some(&'(');
                } else if !KEYWORDS.contains(&word.as_str()) && next != Some(&'(') {
                    names.insert(word);
                }
            }
            _ => {}
        }
        i += 1;
    }
    names
}

pub fn known_metrics() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = orakgarak::telemetry::catalog::all()
        .flat_map(|m| {
            let base = m.name.to_owned();
            if m.kind == "histogram" {
                vec![format!("{base}_bucket"), format!("{base}_sum"), format!("{base}_count")]
            } else {
                vec![base]
            }
        })
        .collect();
    let external = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts/external-metrics.txt"))
        .expect("external-metrics.txt");
    known.extend(
        external.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_whitespace().next()).map(str::to_owned),
    );
    // Series the rule files record themselves (the objectives' error ratios).
    let alerts = Path::new(env!("CARGO_MANIFEST_DIR")).join("alerts");
    for file in std::fs::read_dir(&alerts).expect("alerts/").flatten() {
        let text = std::fs::read_to_string(file.path()).unwrap_or_default();
        known.extend(text.lines().filter_map(|l| l.trim().strip_prefix("- record: ")).map(|n| n.trim().to_owned()));
    }
    known
}
