//! `token`: a bearer token for a user, signed with the configured secret.

use crate::api::{mint_token, Claims};
use crate::config::{parse_duration, Settings};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user (`sub` claim).
    #[arg(long)]
    pub user: String,
    /// Lifetime, e.g. 1h.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: std::time::Duration,
}

pub fn run(settings: &Settings, args: &Args) -> anyhow::Result<()> {
    println!("{}", token_for(settings, &args.user, args.ttl));
    Ok(())
}

pub fn token_for(settings: &Settings, user: &str, ttl: std::time::Duration) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims { sub: user.into(), exp: now + ttl.as_secs() as i64, nbf: None, iat: Some(now) };
    mint_token(settings.auth.jwt_secret.expose(), &claims)
}
