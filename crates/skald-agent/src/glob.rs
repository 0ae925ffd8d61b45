//! Path globs for `__path__` / `__path_exclude__`: `*`, `?`, `[...]` (with `!`/`^`
//! negation), `{a,b}` alternatives and `**` (any number of directories), as
//! Promtail's doublestar globs.
//!
//! A glob is compiled into an anchored regex matched against whole paths, and the
//! directory walk starts at the longest literal prefix so `/var/log/*.log` never looks
//! outside `/var/log`. Directory symlinks are not followed (no loops); file symlinks are.

use std::path::{Path, PathBuf};

/// Deepest directory walk for `**` (a safety bound, not a feature).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
pub struct Glob {
    regex: regex::Regex,
    /// Directory where the walk starts.
    base: PathBuf,
    /// How many levels below `base` can match (`None` with `**` or `{`).
    depth: Option<usize>,
}

impl PartialEq for Glob {
    fn eq(&self, other: &Glob) -> bool {
        self.pattern() == other.pattern()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid glob {glob:?}: {message}")]
pub struct GlobError {
    pub glob: String,
    pub message: String,
}

fn is_meta(c: char) -> bool {
    matches!(c, '*' | '?' | '[' | '{')
}

impl Glob {
    /// The regex text the glob compiled to (equal for equal patterns).
    fn pattern(&self) -> &str {
        self.regex.as_str()
    }

    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        let fail = |message: &str| GlobError { glob: pattern.to_string(), message: message.to_string() };
        if !pattern.starts_with('/') {
            return Err(fail("must be an absolute path"));
        }
        let regex_text = to_regex(pattern).map_err(|m| fail(&m))?;
        let regex = regex::Regex::new(&regex_text).map_err(|e| fail(&e.to_string()))?;
        // The base: the components before the first one holding a metacharacter.
        let components: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        let mut base = PathBuf::from("/");
        let mut literal = 0;
        for component in &components {
            if component.chars().any(is_meta) {
                break;
            }
            base.push(component);
            literal += 1;
        }
        let unbounded = pattern.contains("**") || pattern.contains('{');
        let depth = if unbounded { None } else { Some(components.len() - literal) };
        if literal == components.len() {
            // No metacharacter: the base is the file itself; walk from its parent.
            base.pop();
            return Ok(Glob { regex, base, depth: Some(1) });
        }
        Ok(Glob { regex, base, depth })
    }

    /// The directory the walk starts from, and whether matches may lie below its direct
    /// children (what a notification watch must cover).
    pub fn watch_root(&self) -> (&Path, bool) {
        (&self.base, self.depth != Some(1))
    }

    pub fn matches(&self, path: &Path) -> bool {
        path.to_str().is_some_and(|p| self.regex.is_match(p))
    }

    /// Every regular file (or symlink to one) matching the glob, sorted.
    pub fn walk(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let max_depth = self.depth.unwrap_or(MAX_DEPTH);
        walk_dir(&self.base, 1, max_depth, &mut |path| {
            if self.matches(path) {
                found.push(path.to_path_buf());
            }
        });
        found.sort();
        found
    }
}

fn walk_dir(dir: &Path, depth: usize, max_depth: usize, visit: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let Ok(file_type) = entry.file_type() else { continue };
        let path = entry.path();
        if file_type.is_dir() {
            if depth < max_depth {
                walk_dir(&path, depth + 1, max_depth, visit);
            }
        } else if file_type.is_file() || (file_type.is_symlink() && path.is_file()) {
            visit(&path);
        }
    }
}

/// Translates a glob into an anchored regex.
fn to_regex(glob: &str) -> Result<String, String> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("^");
    let mut i = 0;
    let mut brace_depth = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' => {
                if chars.get(i + 1) == Some(&'*') {
                    // `**/` matches zero or more directories; a trailing `**` anything.
                    if chars.get(i + 2) == Some(&'/') {
                        out.push_str("(?:[^/]*/)*");
                        i += 3;
                    } else {
                        out.push_str(".*");
                        i += 2;
                    }
                    continue;
                }
                out.push_str("[^/]*");
            }
            '?' => out.push_str("[^/]"),
            '[' => {
                let mut j = i + 1;
                let mut class = String::from("[");
                if matches!(chars.get(j), Some('!') | Some('^')) {
                    class.push('^');
                    j += 1;
                }
                let start = j;
                while j < chars.len() && (chars[j] != ']' || j == start) {
                    let k = chars[j];
                    if k == '\\' || k == '[' {
                        class.push('\\');
                    }
                    class.push(k);
                    j += 1;
                }
                if j >= chars.len() {
                    return Err("unclosed '['".into());
                }
                class.push(']');
                out.push_str(&class);
                i = j;
            }
            '{' => {
                brace_depth += 1;
                out.push_str("(?:");
            }
            '}' if brace_depth > 0 => {
                brace_depth -= 1;
                out.push(')');
            }
            ',' if brace_depth > 0 => out.push('|'),
            '\\' if i + 1 < chars.len() => {
                i += 1;
                out.push_str(&regex::escape(&chars[i].to_string()));
            }
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    if brace_depth != 0 {
        return Err("unclosed '{'".into());
    }
    out.push('$');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, path: &str) -> bool {
        Glob::new(glob).unwrap().matches(Path::new(path))
    }

    #[test]
    fn star_question_class_braces() {
        assert!(m("/var/log/*.log", "/var/log/a.log"));
        assert!(!m("/var/log/*.log", "/var/log/sub/a.log"));
        assert!(m("/var/log/?.log", "/var/log/a.log"));
        assert!(!m("/var/log/?.log", "/var/log/ab.log"));
        assert!(m("/var/log/[ab].log", "/var/log/b.log"));
        assert!(!m("/var/log/[!ab].log", "/var/log/b.log"));
        assert!(m("/var/log/{app,web}.log", "/var/log/web.log"));
        assert!(!m("/var/log/{app,web}.log", "/var/log/db.log"));
    }

    #[test]
    fn double_star_crosses_directories() {
        assert!(m("/var/log/**/*.log", "/var/log/a.log"));
        assert!(m("/var/log/**/*.log", "/var/log/x/y/a.log"));
        assert!(!m("/var/log/**/*.log", "/var/lib/a.log"));
    }

    #[test]
    fn bad_globs_are_errors() {
        assert!(Glob::new("relative/*.log").is_err());
        assert!(Glob::new("/a/[b").is_err());
        assert!(Glob::new("/a/{b,c").is_err());
    }

    #[test]
    fn walk_finds_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("x/y")).unwrap();
        for p in ["a.log", "b.txt", "x/c.log", "x/y/d.log"] {
            std::fs::write(root.join(p), "").unwrap();
        }
        let flat = Glob::new(&format!("{}/*.log", root.display())).unwrap().walk();
        assert_eq!(flat, vec![root.join("a.log")]);
        let deep = Glob::new(&format!("{}/**/*.log", root.display())).unwrap().walk();
        assert_eq!(deep, vec![root.join("a.log"), root.join("x/c.log"), root.join("x/y/d.log")]);
        let exact = Glob::new(&format!("{}/b.txt", root.display())).unwrap().walk();
        assert_eq!(exact, vec![root.join("b.txt")]);
    }
}
