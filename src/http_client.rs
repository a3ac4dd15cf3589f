//! Outgoing HTTP clients (Loki, the model server, an identity provider's
//! JWKS): HTTPS through rustls, trusting the system's certificate
//! authorities plus those in `http.ca_bundle` (a PEM file), for endpoints
//! behind a private CA.

use std::path::Path;

use anyhow::Context;

/// A client trusting the system's CAs and, when given, every certificate in
/// the PEM bundle at `ca_bundle`.
pub fn client(ca_bundle: Option<&Path>) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).with_context(|| format!("http.ca_bundle: cannot read {}", path.display()))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("http.ca_bundle: {} is not a PEM certificate bundle", path.display()))?;
        anyhow::ensure!(!certificates.is_empty(), "http.ca_bundle: {} holds no certificate", path.display());
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build().context("building the HTTP client")
}
