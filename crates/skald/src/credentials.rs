//! The `auth` section's credentials (Skald's own; Loki has none), secrets read from
//! their files, for the HTTP authentication layer and the gRPC push service.

use skald_api::auth::{Credential, CredentialKind, Credentials};
use skald_config::Config;
use std::path::PathBuf;

/// The credentials of `config.auth`.
pub fn credentials(config: &Config) -> anyhow::Result<Credentials> {
    let secret = |inline: &Option<String>, file: &Option<PathBuf>, what: &str| -> anyhow::Result<String> {
        match (inline, file) {
            (Some(value), None) if !value.is_empty() => Ok(value.clone()),
            (None, Some(path)) => Ok(std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("auth: cannot read {what}_file {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_string()),
            _ => anyhow::bail!("auth: each credential needs exactly one of {what} and {what}_file"),
        }
    };
    let tenants = |list: &Vec<String>, who: &str| -> anyhow::Result<Vec<String>> {
        if list.is_empty() {
            anyhow::bail!("auth: credential {who} names no tenants");
        }
        for tenant in list {
            skald_common::validate_tenant(tenant).map_err(|e| anyhow::anyhow!("auth: credential {who}: {e}"))?;
        }
        Ok(list.clone())
    };
    let mut list = Vec::new();
    for basic in &config.auth.basic {
        if basic.username.is_empty() || basic.username.contains(':') {
            anyhow::bail!("auth.basic: username must be non-empty and without ':'");
        }
        let password = secret(&basic.password, &basic.password_file, "password")?;
        let tenants = tenants(&basic.tenants, &format!("basic/{}", basic.username))?;
        list.push(Credential { kind: CredentialKind::Basic { username: basic.username.clone(), password }, tenants });
    }
    for (index, bearer) in config.auth.bearer.iter().enumerate() {
        let token = secret(&bearer.token, &bearer.token_file, "token")?;
        let tenants = tenants(&bearer.tenants, &format!("bearer[{index}]"))?;
        list.push(Credential { kind: CredentialKind::Bearer { token }, tenants });
    }
    Ok(Credentials { list })
}
