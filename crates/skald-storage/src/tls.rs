//! TLS for `https` S3 endpoints. The S3 client (reqwest under `object_store`) is built
//! with rustls but without a compiled-in crypto provider, so the process-wide default
//! provider is set to `ring` (already used by the HTTP server) before the first client
//! is built. This avoids `aws-lc-rs`, whose C build needs cmake.

/// Installs `ring` as rustls' process default; a provider already installed is kept.
pub(crate) fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: one provider is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
