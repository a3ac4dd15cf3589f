//! `dashboards`: writes `dashboards/*.json` from code, or checks them.

use std::path::PathBuf;

use crate::dashboards::{render, AlertThresholds};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Alert rules to take thresholds from.
    #[arg(long, default_value = "alerts")]
    pub alerts: PathBuf,
    /// Where the dashboard JSON goes.
    #[arg(long, default_value = "dashboards")]
    pub out: PathBuf,
    /// Fail if the committed files differ from what the code generates.
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let thresholds = AlertThresholds::load(&args.alerts)?;
    let mut stale = Vec::new();
    for (file, json) in render(&thresholds) {
        let path = args.out.join(&file);
        if args.check {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(json.as_str()) {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::write(&path, json)?;
            println!("wrote {}", path.display());
        }
    }
    anyhow::ensure!(stale.is_empty(), "stale dashboards (run `orakgarak dashboards`): {}", stale.join(", "));
    Ok(())
}
