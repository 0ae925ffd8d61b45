//! Loki's pattern language: literals and captures `<name>` (`<_>` is unnamed),
//! used by the `pattern` parser and the `|>`/`!>` line filters.

#[derive(Debug, Clone)]
enum Node {
    Literal(Vec<u8>),
    /// `None` for `<_>`.
    Capture(Option<String>),
}

#[derive(Debug, Clone)]
pub struct PatternMatcher {
    nodes: Vec<Node>,
    names: Vec<String>,
}

fn parse_nodes(input: &str) -> Vec<Node> {
    let bytes = input.as_bytes();
    let mut nodes: Vec<Node> = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            // try a capture
            let mut j = i + 1;
            let ok_start = j < bytes.len() && (bytes[j].is_ascii_alphabetic() || bytes[j] == b'_');
            if ok_start {
                j += 1;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j] == b'>' {
                    let name = &input[i + 1..j];
                    if !lit.is_empty() {
                        nodes.push(Node::Literal(std::mem::take(&mut lit)));
                    }
                    nodes.push(Node::Capture(if name == "_" { None } else { Some(name.to_string()) }));
                    i = j + 1;
                    continue;
                }
            }
        }
        lit.push(bytes[i]);
        i += 1;
    }
    if !lit.is_empty() {
        nodes.push(Node::Literal(lit));
    }
    nodes
}

/// The first two consecutive captures, as Loki quotes them (`<a><_>`).
fn consecutive(nodes: &[Node]) -> String {
    let text = |n: &Node| match n {
        Node::Capture(Some(name)) => format!("<{name}>"),
        _ => "<_>".to_string(),
    };
    nodes
        .windows(2)
        .find(|w| matches!(w, [Node::Capture(_), Node::Capture(_)]))
        .map(|w| format!("{}{}", text(&w[0]), text(&w[1])))
        .unwrap_or_default()
}

impl PatternMatcher {
    fn build(input: &str, need_capture: bool) -> Result<PatternMatcher, String> {
        let nodes = parse_nodes(input);
        let mut names = Vec::new();
        let mut prev_capture = false;
        for n in &nodes {
            match n {
                Node::Capture(name) => {
                    if prev_capture {
                        return Err(format!("found consecutive capture '{}': invalid expression", consecutive(&nodes)));
                    }
                    prev_capture = true;
                    if let Some(name) = name {
                        if names.contains(name) {
                            return Err(format!("duplicate capture name ({name}): invalid expression"));
                        }
                        names.push(name.clone());
                    }
                }
                Node::Literal(_) => prev_capture = false,
            }
        }
        if need_capture && names.is_empty() {
            return Err("at least one capture is required".into());
        }
        // Loki's line filter (`|> "..."`) takes only `<_>`.
        if !need_capture && let Some(name) = names.first() {
            return Err(format!("named captures are not allowed: found '<{name}>'"));
        }
        Ok(PatternMatcher { nodes, names })
    }

    /// The parser form: at least one named capture.
    pub fn new_parser(input: &str) -> Result<PatternMatcher, String> {
        PatternMatcher::build(input, true)
    }

    /// The line-filter form.
    pub fn new_filter(input: &str) -> Result<PatternMatcher, String> {
        PatternMatcher::build(input, false)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Captured values of the named captures, in order; may be fewer than the names
    /// when the line ends early. Calls `f(index, value)`.
    pub fn matches<'l>(&self, mut input: &'l [u8], mut f: impl FnMut(usize, &'l [u8])) {
        if input.is_empty() || self.nodes.is_empty() {
            return;
        }
        let mut nodes = &self.nodes[..];
        if let Node::Literal(ls) = &nodes[0] {
            if !input.starts_with(ls) {
                return;
            }
            input = &input[ls.len()..];
            nodes = &nodes[1..];
        }
        let mut idx = 0;
        while !nodes.is_empty() {
            let Node::Capture(cap) = &nodes[0] else {
                return;
            };
            if nodes.len() == 1 {
                if cap.is_some() {
                    f(idx, input);
                }
                return;
            }
            let Node::Literal(ls) = &nodes[1] else { return };
            nodes = &nodes[2..];
            match memchr::memmem::find(input, ls) {
                None => {
                    if cap.is_some() {
                        f(idx, input);
                    }
                    return;
                }
                Some(i) => {
                    if cap.is_some() {
                        f(idx, &input[..i]);
                        idx += 1;
                    }
                    input = &input[i + ls.len()..];
                }
            }
        }
    }

    /// The line-filter test.
    pub fn test(&self, input: &[u8]) -> bool {
        if input.is_empty() || self.nodes.is_empty() {
            return input.is_empty() && self.nodes.is_empty();
        }
        let mut off = 0;
        for (i, n) in self.nodes.iter().enumerate() {
            let Node::Literal(lit) = n else { continue };
            let Some(j) = memchr::memmem::find(&input[off..], lit) else {
                return false;
            };
            if i != 0 && j == 0 {
                return false;
            }
            off += j + lit.len();
        }
        let req_rem = matches!(self.nodes.last(), Some(Node::Capture(_)));
        let has_rem = off != input.len();
        req_rem == has_rem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(p: &str, line: &str) -> Vec<(String, String)> {
        let m = PatternMatcher::new_parser(p).unwrap();
        let mut out = Vec::new();
        m.matches(line.as_bytes(), |i, v| out.push((m.names()[i].clone(), String::from_utf8_lossy(v).into_owned())));
        out
    }

    #[test]
    fn nginx() {
        let line = r#"10.0.0.66 - dave [01/Jun/2024:00:00:01 +0000] "POST /api/users HTTP/1.1" 400 13759 "-" "curl/8.0" 1.999"#;
        let got = caps(r#"<ip> - <user> [<_>] "<method> <path> <_>" <status> <bytes> <_>"#, line);
        let want: Vec<(String, String)> =
            [("ip", "10.0.0.66"), ("user", "dave"), ("method", "POST"), ("path", "/api/users"), ("status", "400"), ("bytes", "13759")]
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        assert_eq!(got, want);
        let got = caps(r#"<_> "<_>" <status> <_>"#, line);
        assert_eq!(got, vec![("status".to_string(), "400".to_string())]);
    }

    #[test]
    fn partial_and_errors() {
        assert_eq!(caps("<a> x <b> y", "1 x 2"), vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        assert!(PatternMatcher::new_parser("<_> foo").is_err());
        assert!(PatternMatcher::new_parser("<a><b>").is_err());
        assert!(PatternMatcher::new_parser("<a> <a>").is_err());
    }

    #[test]
    fn filter_test() {
        let m = PatternMatcher::new_filter("<_> WARN <_>").unwrap();
        assert!(m.test(b"2024-06-01T00:01:39Z WARN [auth] session expired user=carol"));
        assert!(!m.test(b"2024-06-01T00:01:39Z INFO [auth] WARNING"));
        let m = PatternMatcher::new_filter("<_> bar").unwrap();
        assert!(!m.test(b"foo bar baz"));
        assert!(PatternMatcher::new_filter("<_> baz").unwrap().test(b"foo bar baz"));
        assert!(PatternMatcher::new_filter("foo <_>").unwrap().test(b"foo bar baz"));
        assert!(!PatternMatcher::new_filter("<_> bar <_>").unwrap().test(b" bar "));
        assert!(PatternMatcher::new_filter("<_>bar<_>").unwrap().test(b" bar "));
    }
}
