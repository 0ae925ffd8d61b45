//! The scheduler's address as a tonic endpoint, for both of its clients (frontends and
//! querier workers): `host:port` or a URL, with TLS when the client's
//! `grpc_client_config` enables it.

use tonic::transport::{ClientTlsConfig, Endpoint};

/// The endpoint of the scheduler at `address`; `https://` and the TLS settings when
/// `tls` is given. The error names the address.
pub(crate) fn scheduler_endpoint(address: &str, tls: Option<&ClientTlsConfig>) -> Result<Endpoint, String> {
    let url = skald_common::grpc_uri(address, tls.is_some());
    let invalid = |e: tonic::transport::Error| format!("invalid scheduler address {url}: {e}");
    let endpoint = Endpoint::from_shared(url.clone()).map_err(invalid)?;
    match tls {
        Some(tls) => endpoint.tls_config(tls.clone()).map_err(invalid),
        None => Ok(endpoint),
    }
}
