//! An ingester's ring tokens: random, distinct, and kept across restarts when a tokens
//! file is configured (`ingester.lifecycler.tokens_file_path`), so a restarted ingester
//! owns the same streams again.
//!
//! The file is Loki's: JSON `{"tokens":[...]}`. As in dskit's lifecycler, a file that is
//! missing or unreadable is not fatal (tokens are generated, with a warning for a
//! damaged file); a file with fewer tokens than wanted is topped up; the tokens in use
//! are written back.

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RingError;

#[derive(Serialize, Deserialize)]
struct TokensFile {
    tokens: Vec<u32>,
}

/// `count` tokens: those in `path` (if any) first, then random new ones; sorted,
/// distinct. Writes them to `path` when given.
pub(crate) fn load_or_generate(count: usize, path: Option<&Path>) -> Result<Vec<u32>, RingError> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let mut tokens = BTreeSet::new();
    if let Some(path) = path {
        for token in read_tokens_file(path) {
            if tokens.len() == count {
                break;
            }
            tokens.insert(token);
        }
    }
    while tokens.len() < count {
        tokens.insert(rand::random::<u32>());
    }
    let tokens: Vec<u32> = tokens.into_iter().collect();
    if let Some(path) = path {
        write_tokens_file(path, &tokens)?;
    }
    Ok(tokens)
}

/// Tokens stored in `path`; empty when there is no file or it is damaged.
fn read_tokens_file(path: &Path) -> Vec<u32> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read tokens file, generating new tokens");
            return Vec::new();
        }
    };
    match serde_json::from_slice::<TokensFile>(&bytes) {
        Ok(file) => file.tokens,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "tokens file is not {{\"tokens\":[...]}}, generating new tokens");
            Vec::new()
        }
    }
}

/// Writes the file atomically (temporary file, then rename).
fn write_tokens_file(path: &Path, tokens: &[u32]) -> Result<(), RingError> {
    let to_error = |source| RingError::TokensFile { path: path.to_path_buf(), source };
    let body = serde_json::to_vec(&TokensFile { tokens: tokens.to_vec() }).map_err(|error| to_error(std::io::Error::other(error)))?;
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(to_error)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, body).map_err(to_error)?;
    std::fs::rename(&temporary, path).map_err(to_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_distinct_sorted_tokens() {
        let tokens = load_or_generate(128, None).unwrap();
        assert_eq!(tokens.len(), 128);
        assert!(tokens.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(load_or_generate(0, None).unwrap().is_empty());
    }

    #[test]
    fn tokens_file_keeps_tokens_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/tokens");
        let first = load_or_generate(16, Some(&path)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"tokens\":["), "{text}");
        let second = load_or_generate(16, Some(&path)).unwrap();
        assert_eq!(first, second);
        // Asking for more keeps the old ones and adds new ones.
        let more = load_or_generate(20, Some(&path)).unwrap();
        assert_eq!(more.len(), 20);
        assert!(first.iter().all(|token| more.contains(token)));
    }

    #[test]
    fn loki_tokens_file_is_read_and_damaged_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, r#"{"tokens":[3,1,2]}"#).unwrap();
        assert_eq!(load_or_generate(3, Some(&path)).unwrap(), vec![1, 2, 3]);
        std::fs::write(&path, "not json").unwrap();
        let tokens = load_or_generate(3, Some(&path)).unwrap();
        assert_eq!(tokens.len(), 3);
        let stored: TokensFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(stored.tokens, tokens);
    }
}
