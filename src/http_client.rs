//! Outgoing HTTP clients (Loki, the model server, an identity provider's
//! JWKS): HTTPS through rustls, trusting the system's certificate
//! authorities plus those in `http.ca_bundle` (a PEM file), for endpoints
//! behind a private CA.

use std::path::Path;

use anyhow::Context;

/// A client trusting the system's CAs and, when given, every certificate in
/// the PEM bundle at `ca_bundle`.
pub fn client(ca_bundle: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    builder(ca_bundle, reqwest::Client::builder())?.build().context("building the HTTP client")
}

/// `client`, with every request cut off after `timeout` (for command-line
/// clients, which have no time limit of their own per call).
pub fn client_with_timeout(ca_bundle: Option<&Path>, timeout: std::time::Duration) -> anyhow::Result<reqwest::Client> {
    builder(ca_bundle, reqwest::Client::builder().timeout(timeout))?.build().context("building the HTTP client")
}

fn builder(ca_bundle: Option<&Path>, mut builder: reqwest::ClientBuilder) -> anyhow::Result<reqwest::ClientBuilder> {
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).with_context(|| format!("http.ca_bundle: cannot read {}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("http.ca_bundle: {} is not a PEM certificate bundle", path.display()))?;
        anyhow::ensure!(!certificates.is_empty(), "http.ca_bundle: {} holds no certificate", path.display());
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    /// ARCHITECTURE.md's invariant, checked: no module but this one builds
    /// a reqwest client.
    #[test]
    fn no_other_module_builds_an_http_client() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut offenders = Vec::new();
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("src readable").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("http_client.rs") {
                    let text = std::fs::read_to_string(&path).expect("source readable");
                    if ["Client::builder(", "reqwest::Client::new(", "Client::default()"]
                        .iter()
                        .any(|c| text.contains(c))
                    {
                        offenders.push(path.display().to_string());
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "HTTP clients built outside http_client.rs: {offenders:?}");
    }
}
