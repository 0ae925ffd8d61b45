//! Clients of ingesters, one per address, created on first use and kept.
//!
//! A tonic `Channel` made with `connect_lazy` connects on the first call and
//! reconnects by itself after the ingester restarts, so the pool never has to notice
//! failures; it only forgets addresses the ring no longer lists ([`IngesterClientPool::retain`]).
//! Every call has `remote_timeout` (Loki's `ingester_client.remote_timeout`, 5s); with
//! `tls` set, connections use TLS (`ingester_client.grpc_client_config`).

use crate::error::GrpcError;
use crate::server::{DEFAULT_MAX_MSG_SIZE, MessageLimits};
use parking_lot::Mutex;
use skald_proto::ingester::ingester_client::IngesterClient;
use std::collections::HashMap;
use std::time::Duration;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// Settings of the ingester clients (`ingester_client` in Loki's config).
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Deadline of each call, streaming answers included (`remote_timeout`).
    pub remote_timeout: Duration,
    /// Deadline of establishing a connection.
    pub connect_timeout: Duration,
    /// Largest message sent (a push) and received (a select part).
    pub limits: MessageLimits,
    /// TLS towards the ingesters; plain HTTP/2 when `None`.
    pub tls: Option<ClientTlsConfig>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            remote_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            limits: MessageLimits { max_recv_msg_size: DEFAULT_MAX_MSG_SIZE * 25, max_send_msg_size: DEFAULT_MAX_MSG_SIZE * 25 },
            tls: None,
        }
    }
}

pub struct IngesterClientPool {
    config: ClientConfig,
    clients: Mutex<HashMap<String, IngesterClient<Channel>>>,
}

impl IngesterClientPool {
    pub fn new(config: ClientConfig) -> Self {
        IngesterClientPool { config, clients: Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The client of `addr` (`host:port`, or a full `http://` URI), connected lazily.
    pub fn client(&self, addr: &str) -> Result<IngesterClient<Channel>, GrpcError> {
        if let Some(client) = self.clients.lock().get(addr) {
            return Ok(client.clone());
        }
        let bad_address = |e: tonic::transport::Error| GrpcError::BadAddress { addr: addr.to_string(), message: e.to_string() };
        let mut endpoint = Endpoint::from_shared(skald_common::grpc_uri(addr, self.config.tls.is_some())).map_err(bad_address)?;
        if let Some(tls) = &self.config.tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(bad_address)?;
        }
        let endpoint = endpoint
            .connect_timeout(self.config.connect_timeout)
            .timeout(self.config.remote_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .keep_alive_while_idle(true);
        let client = IngesterClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(self.config.limits.max_recv_msg_size)
            .max_encoding_message_size(self.config.limits.max_send_msg_size);
        self.clients.lock().insert(addr.to_string(), client.clone());
        Ok(client)
    }

    /// Forgets clients of addresses not in `addrs` (instances that left the ring).
    pub fn retain(&self, addrs: &[&str]) {
        self.clients.lock().retain(|addr, _| addrs.contains(&addr.as_str()));
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
