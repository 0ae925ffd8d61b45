//! Optional built-in authentication: HTTP basic credentials and bearer tokens, each
//! mapped to the tenants it may act as, so a small deployment needs no reverse proxy.
//!
//! With no credentials configured this layer does nothing and Loki's behaviour stays:
//! the tenant comes from `X-Scope-OrgID`, set by a trusted proxy. With credentials, every
//! request but `/ready` and `/metrics` must carry one (401 otherwise); the tenant is
//! the credential's own (its first, or the `X-Scope-OrgID` asked for when the credential
//! lists it; 403 when it does not), written into `X-Scope-OrgID` for the handlers, so a
//! client can never reach a tenant its credential does not name.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// One credential and the tenants it may act as (the first is the default).
#[derive(Debug, Clone)]
pub struct Credential {
    pub kind: CredentialKind,
    pub tenants: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum CredentialKind {
    Basic { username: String, password: String },
    Bearer { token: String },
}

/// Every configured credential.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub list: Vec<Credential>,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The tenants of the credential an `Authorization` header carries, if it is valid.
    fn tenants_for(&self, authorization: &str) -> Option<&[String]> {
        let (scheme, rest) = authorization.trim().split_once(' ')?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.list.iter().find_map(|credential| match &credential.kind {
                CredentialKind::Bearer { token } if constant_time_eq(token.as_bytes(), rest.as_bytes()) => {
                    Some(credential.tenants.as_slice())
                }
                _ => None,
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = decode_base64(rest)?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, pass) = text.split_once(':')?;
            return self.list.iter().find_map(|credential| match &credential.kind {
                CredentialKind::Basic { username, password }
                    if constant_time_eq(username.as_bytes(), user.as_bytes()) & constant_time_eq(password.as_bytes(), pass.as_bytes()) =>
                {
                    Some(credential.tenants.as_slice())
                }
                _ => None,
            });
        }
        None
    }

    /// The tenant a request acts as: the one it asks for (`X-Scope-OrgID`) if its
    /// credential lists it, else the credential's first. Used by the HTTP middleware
    /// and by the gRPC push service, so both ports admit exactly the same requests.
    pub fn resolve(&self, authorization: Option<&str>, asked: Option<&str>) -> Result<String, AuthRejection> {
        let tenants = authorization.and_then(|value| self.tenants_for(value)).ok_or(AuthRejection::Unauthenticated)?;
        let asked = asked.map(str::trim).filter(|asked| !asked.is_empty());
        let tenant = match asked {
            None => tenants.first(),
            Some(asked) => tenants.iter().find(|t| t.as_str() == asked),
        };
        tenant.cloned().ok_or_else(|| AuthRejection::Forbidden(asked.unwrap_or_default().to_string()))
    }
}

/// Why [`Credentials::resolve`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRejection {
    /// No credential, or one that matches none configured (401).
    Unauthenticated,
    /// A valid credential asking for a tenant it does not list (403).
    Forbidden(String),
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthRejection::Unauthenticated => f.write_str("missing or invalid credentials"),
            AuthRejection::Forbidden(asked) => write!(f, "this credential may not act as tenant {asked:?}"),
        }
    }
}

/// The middleware: checks the credential and pins the request's tenant.
pub async fn authenticate(State(credentials): State<Arc<Credentials>>, mut request: Request, next: Next) -> Response {
    if credentials.is_empty() {
        return next.run(request).await;
    }
    let path = request.uri().path();
    if path == "/ready" || path == "/metrics" {
        return next.run(request).await;
    }
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let asked = request.headers().get("X-Scope-OrgID").and_then(|v| v.to_str().ok());
    let tenant = match credentials.resolve(authorization, asked) {
        Ok(tenant) => tenant,
        Err(rejection @ AuthRejection::Unauthenticated) => {
            let mut response = (StatusCode::UNAUTHORIZED, format!("{rejection}\n")).into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"skald\""));
            return response;
        }
        Err(rejection @ AuthRejection::Forbidden(_)) => return (StatusCode::FORBIDDEN, format!("{rejection}\n")).into_response(),
    };
    match HeaderValue::from_str(&tenant) {
        Ok(value) => {
            request.headers_mut().insert("X-Scope-OrgID", value);
            next.run(request).await
        }
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "configured tenant is not a valid header value\n").into_response(),
    }
}

/// Compares without an early exit, so timing does not tell how much of a secret matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut difference = a.len() ^ b.len();
    for (i, byte) in a.iter().enumerate() {
        let other = b.get(i).copied().unwrap_or(0);
        difference |= usize::from(byte ^ other);
    }
    difference == 0
}

/// Standard base64 (with or without padding); `None` on any other byte.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials() -> Credentials {
        Credentials {
            list: vec![
                Credential {
                    kind: CredentialKind::Basic { username: "grafana".into(), password: "s3cret".into() },
                    tenants: vec!["team-a".into(), "team-b".into()],
                },
                Credential { kind: CredentialKind::Bearer { token: "tok-1".into() }, tenants: vec!["team-c".into()] },
            ],
        }
    }

    #[test]
    fn basic_and_bearer_map_to_their_tenants() {
        let credentials = credentials();
        // "grafana:s3cret"
        assert_eq!(credentials.tenants_for("Basic Z3JhZmFuYTpzM2NyZXQ="), Some(&["team-a".to_string(), "team-b".to_string()][..]));
        assert_eq!(credentials.tenants_for("Bearer tok-1"), Some(&["team-c".to_string()][..]));
        // "grafana:wrong"
        assert_eq!(credentials.tenants_for("Basic Z3JhZmFuYTp3cm9uZw=="), None);
        assert_eq!(credentials.tenants_for("Bearer tok-2"), None);
        assert_eq!(credentials.tenants_for("Bearer tok-11"), None);
        assert_eq!(credentials.tenants_for("Basic !!!"), None);
        assert_eq!(credentials.tenants_for("Digest x"), None);
    }

    #[test]
    fn base64_decodes_with_and_without_padding() {
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YWI").unwrap(), b"ab");
        assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
    }
}
