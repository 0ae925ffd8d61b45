//! The HTTP side of the client, as logcli's `DefaultClient`: every request carries the
//! same headers (`User-Agent`, `X-Scope-OrgID`, basic or bearer credentials,
//! `X-Query-Tags`, `Cache-Control`); the URL is logged on stderr unless `--quiet`; an
//! error answer is logged with the server's message and retried `--retries` times
//! before giving up.

use crate::Error;
use crate::args::ConnectionArgs;
use crate::timefmt::log_prefix;
use base64::Engine;
use indicatif::ProgressBar;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use std::sync::Mutex;
use std::time::Duration;
use url::Url;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("skald-cli/", env!("CARGO_PKG_VERSION"));

/// The progress bar on stderr, if one is shown: stderr lines are printed around it.
static PROGRESS: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn set_progress(bar: Option<ProgressBar>) {
    if let Ok(mut slot) = PROGRESS.lock() {
        *slot = bar;
    }
}

/// A progress bar shown on stderr while this lives ([`log`] prints around it); it is
/// cleared when dropped, on success and on error alike.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    pub fn show(bar: ProgressBar) -> Progress {
        set_progress(Some(bar.clone()));
        Progress { bar }
    }

    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        set_progress(None);
        self.bar.finish_and_clear();
    }
}

/// Prints a line on stderr with Go's log prefix, as logcli's `log.Println` does.
pub fn log(message: &str) {
    let line = format!("{}{message}", log_prefix());
    let bar = PROGRESS.lock().ok().and_then(|slot| slot.clone());
    match bar {
        Some(bar) => bar.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

/// A connection to one server.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    headers: HeaderMap,
    retries: u32,
    min_backoff: Duration,
    max_backoff: Duration,
    quiet: bool,
}

/// What a request that did not get a 2xx answer ended with.
pub enum Failure {
    /// The server answered with this status and body.
    Status(u16, String),
    /// No answer (connection refused, timeout, ...).
    Transport(String),
}

impl Client {
    pub fn new(args: &ConnectionArgs) -> Result<Client, Error> {
        let base = Url::parse(&args.addr).map_err(|e| Error::Address { addr: args.addr.clone(), reason: e.to_string() })?;
        match base.scheme() {
            "http" | "https" => {}
            other => return Err(Error::Address { addr: args.addr.clone(), reason: format!("unsupported scheme {other:?}") }),
        }
        let mut builder = reqwest::Client::builder().user_agent(USER_AGENT);
        builder = if args.proxy_url.is_empty() {
            builder.no_proxy()
        } else {
            let proxy =
                reqwest::Proxy::all(&args.proxy_url).map_err(|e| Error::Address { addr: args.proxy_url.clone(), reason: e.to_string() })?;
            builder.proxy(proxy)
        };
        let http = builder.build().map_err(|e| Error::Http { url: args.addr.clone(), reason: e.to_string() })?;
        Ok(Client {
            http,
            base,
            headers: request_headers(args)?,
            retries: args.retries,
            min_backoff: Duration::from_secs(args.min_backoff),
            max_backoff: Duration::from_secs(args.max_backoff),
            quiet: args.quiet,
        })
    }

    /// The server's URL for a path and query parameters (Go's `url.Values.Encode`
    /// sorts parameters by name; so do we, so logged URLs read the same).
    pub fn url(&self, path: &str, params: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}/{}", url.path().trim_end_matches('/'), path.trim_start_matches('/'));
        url.set_path(&joined);
        let mut sorted: Vec<&(&str, String)> = params.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        if !sorted.is_empty() {
            let mut pairs = url.query_pairs_mut();
            pairs.clear();
            for (name, value) in sorted {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    /// The headers every request carries.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// GET a JSON answer, logging the URL unless quiet and retrying error answers.
    pub async fn get_json(&self, path: &str, params: &[(&str, String)]) -> Result<Value, Error> {
        let url = self.url(path, params);
        if !self.quiet {
            log(url.as_str());
        }
        let attempts = self.retries + 1;
        let mut backoff = self.min_backoff;
        for attempt in 1..=attempts {
            match self.get_once(&url).await {
                Ok(body) => {
                    return serde_json::from_str(&body)
                        .map_err(|e| Error::BadResponse { url: url.to_string(), reason: format!("not JSON: {e}") });
                }
                Err(Failure::Status(_status, body)) => {
                    let remaining = attempts - attempt;
                    log(&format!("Error response from server: {} (<nil>) attempts remaining: {remaining}", body.trim_end()));
                }
                Err(Failure::Transport(reason)) => log(&format!("error sending request {reason}")),
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).max(Duration::from_millis(1));
                if !self.max_backoff.is_zero() {
                    backoff = backoff.min(self.max_backoff);
                }
            }
        }
        Err(Error::OutOfAttempts)
    }

    async fn get_once(&self, url: &Url) -> Result<String, Failure> {
        let response =
            self.http.get(url.clone()).headers(self.headers.clone()).send().await.map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| Failure::Transport(e.to_string()))?;
        if !(200..300).contains(&status) {
            return Err(Failure::Status(status, body));
        }
        Ok(body)
    }

    /// POST a body once; the status and body of the answer.
    pub async fn post(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<(u16, String), Failure> {
        let url = self.url(path, &[]);
        let response = self
            .http
            .post(url)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| Failure::Transport(e.to_string()))?;
        Ok((status, text))
    }
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value).map_err(|_| Error::Header { name: name.to_string() })
}

/// logcli's `getHTTPRequestHeader`, including its refusal of two kinds of credentials.
fn request_headers(args: &ConnectionArgs) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    let auth_name = HeaderName::from_bytes(args.auth_header.as_bytes()).map_err(|_| Error::Header { name: args.auth_header.clone() })?;
    let basic = !args.username.is_empty() || !args.password.is_empty();
    let bearer = !args.bearer_token.is_empty() || !args.bearer_token_file.is_empty();
    if basic && bearer {
        return Err(Error::Credentials(
            "at most one of HTTP basic auth (username/password), bearer-token & bearer-token-file is allowed to be configured".into(),
        ));
    }
    if !args.bearer_token.is_empty() && !args.bearer_token_file.is_empty() {
        return Err(Error::Credentials("at most one of the options bearer-token & bearer-token-file is allowed to be configured".into()));
    }
    if !args.username.is_empty() && !args.password.is_empty() {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", args.username, args.password));
        headers.insert(auth_name.clone(), header_value(&args.auth_header, &format!("Basic {token}"))?);
    }
    if !args.bearer_token.is_empty() {
        headers.insert(auth_name.clone(), header_value(&args.auth_header, &format!("Bearer {}", args.bearer_token))?);
    }
    if !args.bearer_token_file.is_empty() {
        let text = std::fs::read_to_string(&args.bearer_token_file)
            .map_err(|e| Error::Credentials(format!("unable to read authorization credentials file {}: {e}", args.bearer_token_file)))?;
        headers.insert(auth_name, header_value(&args.auth_header, &format!("Bearer {}", text.trim()))?);
    }
    if !args.org_id.is_empty() {
        headers.insert("X-Scope-OrgID", header_value("X-Scope-OrgID", &args.org_id)?);
    }
    if args.nocache {
        headers.insert(reqwest::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if !args.query_tags.is_empty() {
        headers.insert("X-Query-Tags", header_value("X-Query-Tags", &args.query_tags)?);
    }
    headers.insert(reqwest::header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
    Ok(headers)
}
