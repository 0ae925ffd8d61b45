//! `skald -health`: asks a running server's `/ready` and exits 0 when it answers 200,
//! as `loki -health` does for Docker's HEALTHCHECK (the image has no curl).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// GETs `url` (plain `http://host[:port]/path`); Ok when the answer is 200.
pub fn check(url: &str) -> anyhow::Result<()> {
    let rest = url.strip_prefix("http://").ok_or_else(|| anyhow::anyhow!("-health.url: only http:// URLs are supported: {url}"))?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, "/"),
    };
    let address = if authority.contains(':') { authority.to_string() } else { format!("{authority}:80") };
    let timeout = Duration::from_secs(5);
    let target = address.to_socket_addrs()?.next().ok_or_else(|| anyhow::anyhow!("-health.url: cannot resolve {authority}"))?;
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer)?;
    let status_line = String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string();
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => anyhow::bail!("{url}: not ready ({status_line})"),
    }
}
