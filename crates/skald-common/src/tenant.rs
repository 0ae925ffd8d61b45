//! Tenant IDs reach file paths and object keys, so they are checked before use.

/// Why a tenant ID was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant ID is empty")]
    Empty,
    #[error("tenant ID is too long: max 150 characters")]
    TooLong,
    #[error("tenant ID '{0}' contains unsupported character '{1}'")]
    BadChar(String, char),
    #[error("tenant ID '{0}' is not allowed")]
    Reserved(String),
}

/// Checks a tenant ID the way Loki (dskit `tenant.ValidTenantID`) does: at most 150
/// characters from `[a-zA-Z0-9!-_.*'()]`, and neither `.` nor `..`.
pub fn validate_tenant(id: &str) -> Result<(), TenantError> {
    if id.is_empty() {
        return Err(TenantError::Empty);
    }
    if id.len() > 150 {
        return Err(TenantError::TooLong);
    }
    if id == "." || id == ".." || id == "__unknown__" {
        return Err(TenantError::Reserved(id.to_string()));
    }
    for c in id.chars() {
        let ok = c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')');
        if !ok {
            return Err(TenantError::BadChar(id.to_string(), c));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_paths_and_control_chars() {
        assert!(validate_tenant("team-a").is_ok());
        assert!(validate_tenant("fake").is_ok());
        assert!(validate_tenant("").is_err());
        assert!(validate_tenant("..").is_err());
        assert!(validate_tenant("a/b").is_err());
        assert!(validate_tenant("a\nb").is_err());
        assert!(validate_tenant(&"x".repeat(151)).is_err());
    }
}
