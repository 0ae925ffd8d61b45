//! The tenant of a gRPC call, from the `x-scope-orgid` metadata (as Loki and dskit
//! send it), checked like the HTTP header.

use skald_proto::TENANT_METADATA_KEY;
use tonic::Status;
use tonic::metadata::{MetadataMap, MetadataValue};

/// The tenant of a call. Without `auth_enabled` a missing key means `fake`, as over
/// HTTP; internal services (ingesters) always require it.
pub fn tenant_from_metadata(metadata: &MetadataMap, auth_enabled: bool) -> Result<String, Status> {
    let Some(value) = metadata.get(TENANT_METADATA_KEY) else {
        if auth_enabled {
            return Err(Status::unauthenticated("no org id"));
        }
        return Ok("fake".to_string());
    };
    let id = value.to_str().map_err(|_| Status::unauthenticated("no org id"))?.trim();
    if id.contains('|') {
        return Err(Status::invalid_argument("multi-tenant pushes are not supported"));
    }
    skald_common::validate_tenant(id).map_err(|e| Status::invalid_argument(e.to_string()))?;
    Ok(id.to_string())
}

/// Puts the tenant into a request's metadata.
pub fn set_tenant<T>(request: &mut tonic::Request<T>, tenant: &str) -> Result<(), Status> {
    let value =
        MetadataValue::try_from(tenant).map_err(|_| Status::invalid_argument(format!("tenant '{tenant}' is not valid metadata")))?;
    request.metadata_mut().insert(TENANT_METADATA_KEY, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_is_required_only_with_auth() {
        let empty = MetadataMap::new();
        assert_eq!(tenant_from_metadata(&empty, false).unwrap(), "fake");
        assert_eq!(tenant_from_metadata(&empty, true).unwrap_err().code(), tonic::Code::Unauthenticated);
        let mut request = tonic::Request::new(());
        set_tenant(&mut request, "team-a").unwrap();
        assert_eq!(tenant_from_metadata(request.metadata(), true).unwrap(), "team-a");
        let mut request = tonic::Request::new(());
        set_tenant(&mut request, "a|b").unwrap();
        assert_eq!(tenant_from_metadata(request.metadata(), true).unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
