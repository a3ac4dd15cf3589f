//! The subset of Grafana's dashboard JSON model (schemaVersion 39) that
//! orakgarak's dashboards use, as types.

use serde::Serialize;
use serde_json::{json, Value};

pub const SCHEMA_VERSION: u32 = 39;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub schema_version: u32,
    pub version: u32,
    pub editable: bool,
    pub graph_tooltip: u8,
    pub time: TimeRange,
    pub refresh: String,
    pub timezone: String,
    pub links: Vec<Link>,
    pub templating: Templating,
    pub annotations: Annotations,
    pub panels: Vec<Panel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimeRange {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub tags: Vec<String>,
    pub as_dropdown: bool,
    pub include_vars: bool,
    pub keep_time: bool,
    pub icon: String,
    pub target_blank: bool,
    pub tooltip: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Templating {
    pub list: Vec<Variable>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Annotations {
    pub list: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Variable {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub query: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<DatasourceRef>,
    /// The selected option; absent lets Grafana pick (its schema requires
    /// `text` and `value` when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
    pub hide: u8,
    pub refresh: u8,
    pub include_all: bool,
    pub multi: bool,
    pub options: Vec<Value>,
    pub regex: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_value: Option<String>,
}

impl Variable {
    fn base(name: &str, label: &str, kind: &str, query: Value) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind: kind.into(),
            query,
            datasource: None,
            current: None,
            hide: 0,
            refresh: 0,
            include_all: false,
            multi: false,
            options: vec![],
            regex: String::new(),
            all_value: None,
        }
    }

    /// A datasource picker for `plugin` (prometheus, loki).
    pub fn datasource(name: &str, label: &str, plugin: &str) -> Self {
        Self { refresh: 1, ..Self::base(name, label, "datasource", json!(plugin)) }
    }

    /// Multi-select of a label's values, "All" meaning `.*`.
    pub fn label_values(name: &str, label: &str, query: &str) -> Self {
        Self {
            datasource: Some(DatasourceRef::prometheus()),
            refresh: 2,
            include_all: true,
            multi: true,
            all_value: Some(".*".into()),
            ..Self::base(name, label, "query", json!({ "query": query, "refId": name }))
        }
    }

    /// A fixed list of values; the first is the default.
    pub fn custom(name: &str, label: &str, values: &[&str]) -> Self {
        let first = values.first().copied().unwrap_or_default();
        Self {
            current: Some(json!({ "text": first, "value": first })),
            ..Self::base(name, label, "custom", json!(values.join(",")))
        }
    }

    /// Free text (e.g. a traceId to paste).
    pub fn textbox(name: &str, label: &str) -> Self {
        Self { current: Some(json!({ "text": "", "value": "" })), ..Self::base(name, label, "textbox", json!("")) }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DatasourceRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub uid: String,
}

impl DatasourceRef {
    /// Through the template variable, never a fixed uid: the same JSON works
    /// provisioned and imported into a Grafana whose datasources differ.
    pub fn prometheus() -> Self {
        Self { kind: "prometheus".into(), uid: "${datasource}".into() }
    }
    pub fn loki() -> Self {
        Self { kind: "loki".into(), uid: "${loki}".into() }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Panel {
    pub id: u32,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub description: String,
    pub datasource: DatasourceRef,
    pub grid_pos: GridPos,
    pub field_config: FieldConfig,
    pub options: Value,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct GridPos {
    pub h: u32,
    pub w: u32,
    pub x: u32,
    pub y: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldConfig {
    pub defaults: FieldDefaults,
    pub overrides: Vec<Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    pub thresholds: Thresholds,
    pub color: Value,
    pub custom: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Thresholds {
    pub mode: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub color: String,
    pub value: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub ref_id: String,
    pub expr: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legend_format: Option<String>,
    pub datasource: DatasourceRef,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub instant: bool,
}

impl Panel {
    /// A panel of `kind` with no targets yet; position is set by the board.
    pub fn new(kind: &str, title: &str, description: &str, unit: Option<&str>, datasource: DatasourceRef) -> Self {
        // Options and field config carry every property Grafana's schema
        // (@grafana/schema) requires, at Grafana's defaults unless chosen.
        let custom = match kind {
            "timeseries" => {
                json!({ "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "thresholdsStyle": { "mode": "off" } })
            }
            "table" => json!({ "align": "auto", "cellOptions": { "type": "auto" }, "inspect": false }),
            _ => json!({}),
        };
        let reduce = json!({ "calcs": ["lastNotNull"], "fields": "", "values": false });
        Self {
            id: 0,
            kind: kind.into(),
            title: title.into(),
            description: description.into(),
            datasource,
            grid_pos: GridPos { h: 8, w: 12, x: 0, y: 0 },
            field_config: FieldConfig {
                defaults: FieldDefaults {
                    unit: unit.map(str::to_owned),
                    min: None,
                    thresholds: Thresholds {
                        mode: "absolute".into(),
                        steps: vec![Step { color: "green".into(), value: None }],
                    },
                    color: json!({ "mode": "palette-classic" }),
                    custom,
                },
                overrides: vec![],
            },
            options: match kind {
                "timeseries" => json!({
                    "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true, "calcs": [] },
                    "tooltip": { "mode": "multi", "sort": "desc" }
                }),
                "logs" => json!({
                    "showTime": true, "wrapLogMessage": true, "sortOrder": "Descending", "enableLogDetails": true,
                    "dedupStrategy": "none", "prettifyLogMessage": false, "showCommonLabels": false, "showLabels": false,
                    "showLogContextToggle": false
                }),
                "table" => json!({ "showHeader": true, "cellHeight": "sm", "frameIndex": 0 }),
                "bargauge" => json!({
                    "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": true, "reduceOptions": reduce,
                    "legend": { "displayMode": "list", "placement": "bottom", "showLegend": false, "calcs": [] },
                    "maxVizHeight": 300, "minVizHeight": 16, "minVizWidth": 8, "namePlacement": "auto", "sizing": "auto",
                    "valueMode": "color"
                }),
                _ => json!({
                    "reduceOptions": reduce, "orientation": "auto", "colorMode": "value", "graphMode": "area",
                    "justifyMode": "auto", "percentChangeColorMode": "standard", "showPercentChange": false,
                    "textMode": "auto", "wideLayout": true
                }),
            },
            targets: vec![],
        }
    }

    pub fn query(mut self, expr: &str, legend: &str) -> Self {
        let ref_id = ((b'A' + self.targets.len() as u8) as char).to_string();
        self.targets.push(Target {
            ref_id,
            expr: expr.into(),
            legend_format: (!legend.is_empty()).then(|| legend.to_owned()),
            datasource: self.datasource.clone(),
            instant: matches!(self.kind.as_str(), "table" | "bargauge"),
        });
        self
    }

    /// Warning (and optionally critical) lines at the alert thresholds.
    pub fn thresholds(mut self, warning: f64, critical: Option<f64>) -> Self {
        let mut steps =
            vec![Step { color: "green".into(), value: None }, Step { color: "orange".into(), value: Some(warning) }];
        if let Some(c) = critical {
            steps.push(Step { color: "red".into(), value: Some(c) });
        }
        self.field_config.defaults.thresholds.steps = steps;
        if self.kind == "timeseries" {
            self.field_config.defaults.custom["thresholdsStyle"] = json!({ "mode": "line+area" });
        } else {
            self.field_config.defaults.color = json!({ "mode": "thresholds" });
        }
        self
    }

    pub fn min_zero(mut self) -> Self {
        self.field_config.defaults.min = Some(0.0);
        self
    }

    pub fn size(mut self, w: u32, h: u32) -> Self {
        self.grid_pos.w = w;
        self.grid_pos.h = h;
        self
    }
}
