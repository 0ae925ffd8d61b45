//! The embedded files of the UI: one table entry per file under `assets/`, with its
//! content type and a compile-time hash used as the `ETag`.
//!
//! A file added under `assets/` must be listed in [`ASSETS`] too; the unit test
//! `every_file_under_assets_is_listed` fails otherwise.

/// One embedded file.
pub struct Asset {
    /// Path relative to `assets/` (and to the `/ui/` URL prefix).
    pub path: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
    /// FNV-1a 64 of `bytes`, computed at compile time.
    pub hash: u64,
}

impl Asset {
    /// The strong entity tag of this file, quoted as HTTP wants it.
    pub fn etag(&self) -> String {
        format!("\"{:016x}\"", self.hash)
    }
}

/// The page served at `/`.
pub const INDEX: &str = "index.html";

/// The page served at `/rules`: rule groups, their state, the alerts firing.
pub const RULES: &str = "rules.html";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($path:literal, $content_type:expr) => {{
        const BYTES: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path));
        Asset { path: $path, content_type: $content_type, bytes: BYTES, hash: fnv1a(BYTES) }
    }};
}

/// Every embedded file.
pub static ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/lexer.js", JS),
    asset!("js/editor.js", JS),
    asset!("js/complete.js", JS),
    asset!("js/timerange.js", JS),
    asset!("js/logs.js", JS),
    asset!("js/volume.js", JS),
    asset!("js/graph.js", JS),
    asset!("js/table.js", JS),
    asset!("js/tail.js", JS),
    asset!("js/format.js", JS),
    asset!("rules.html", HTML),
    asset!("js/rules.js", JS),
];

/// The asset at `path` (relative to `assets/`), if there is one.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.path == path)
}

/// FNV-1a, 64 bits: small, stable across Rust versions, and usable in `const`.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn files_under(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).expect("reading assets/").map(|e| e.expect("dir entry").path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                files_under(&path, root, out);
            } else {
                let relative = path.strip_prefix(root).expect("under root").to_string_lossy().replace('\\', "/");
                out.push(relative);
            }
        }
    }

    #[test]
    fn every_file_under_assets_is_listed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        let mut on_disk = Vec::new();
        files_under(&root, &root, &mut on_disk);
        for path in &on_disk {
            assert!(find(path).is_some(), "assets/{path} is not listed in ASSETS");
        }
        assert_eq!(on_disk.len(), ASSETS.len(), "ASSETS lists a file twice or one that is gone");
    }

    #[test]
    fn content_types_follow_extensions() {
        for asset in ASSETS {
            let expected = match asset.path.rsplit('.').next() {
                Some("html") => HTML,
                Some("css") => CSS,
                Some("js") => JS,
                Some("svg") => SVG,
                other => panic!("no content type rule for {other:?} ({})", asset.path),
            };
            assert_eq!(asset.content_type, expected, "{}", asset.path);
        }
    }

    #[test]
    fn fnv1a_matches_reference_values() {
        // Reference values of FNV-1a 64 (from the algorithm's published test vectors).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn assets_reference_no_outside_host() {
        for asset in ASSETS {
            // The SVG namespace is a name, not a download.
            let text = String::from_utf8_lossy(asset.bytes).replace("http://www.w3.org/2000/svg", "");
            for needle in ["http://", "https://", "@import"] {
                assert!(!text.contains(needle), "{} mentions {needle}: assets must be self-contained", asset.path);
            }
        }
    }
}
