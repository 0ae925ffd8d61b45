//! Paths of `json name="path"` parameters (`a.b[0]["c d"]`) and their lookup in a line.

use super::scanner::{JsonError, ValueType, array_each, object_each};

#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Parses a `json` parameter path: `a.b[0]["c d"]`, `.a`, `a[1].b`.
pub fn parse_path(expr: &str) -> Result<Vec<PathSeg>, String> {
    let err = || format!("cannot parse expression [{expr}]: syntax error");
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut expect_field = true;
    while i < b.len() {
        match b[i] {
            b'.' => {
                i += 1;
                expect_field = true;
            }
            b'[' => {
                i += 1;
                if i < b.len() && b[i] == b'"' {
                    let mut s = Vec::new();
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => return Err(err()),
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(b'\\') => {
                                if let Some(&n) = b.get(i + 1) {
                                    s.push(n);
                                }
                                i += 2;
                            }
                            Some(&c) => {
                                s.push(c);
                                i += 1;
                            }
                        }
                    }
                    out.push(PathSeg::Key(String::from_utf8_lossy(&s).into_owned()));
                } else {
                    let start = i;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    if start == i {
                        return Err(err());
                    }
                    out.push(PathSeg::Index(expr[start..i].parse().map_err(|_| err())?));
                }
                if b.get(i) != Some(&b']') {
                    return Err(err());
                }
                i += 1;
                expect_field = false;
            }
            _ => {
                if !expect_field && !out.is_empty() {
                    return Err(err());
                }
                let start = i;
                while i < b.len() && !matches!(b[i], b'.' | b'[' | b']' | b'"') {
                    i += 1;
                }
                if start == i {
                    return Err(err());
                }
                out.push(PathSeg::Key(expr[start..i].to_string()));
                expect_field = false;
            }
        }
    }
    if out.is_empty() {
        return Err(err());
    }
    Ok(out)
}

pub(super) enum Lookup<'d> {
    Found(&'d [u8], ValueType),
    Missing,
    Error(JsonError),
}

pub(super) fn lookup<'d>(data: &'d [u8], path: &[PathSeg]) -> Lookup<'d> {
    let mut cur = data;
    let mut cur_ty = None;
    for (n, seg) in path.iter().enumerate() {
        let last = n + 1 == path.len();
        match seg {
            PathSeg::Key(k) => {
                let mut found = None;
                let mut err = None;
                let _ = object_each(cur, &mut |key, value| {
                    if key == k.as_bytes() {
                        match value {
                            Ok((v, t)) => found = Some((v, t)),
                            Err(e) => {
                                if last {
                                    err = Some(e)
                                }
                            }
                        }
                        return Err(JsonError::Stop);
                    }
                    Ok(())
                });
                if let Some(e) = err {
                    return Lookup::Error(e);
                }
                match found {
                    Some((v, t)) => {
                        cur = v;
                        cur_ty = Some(t);
                    }
                    None => return Lookup::Missing,
                }
            }
            PathSeg::Index(idx) => {
                if cur.first() != Some(&b'[') {
                    return Lookup::Missing;
                }
                let mut found = None;
                let mut i = 0;
                let _ = array_each(cur, |v, t| {
                    if i == *idx {
                        found = Some((v, t));
                        return false;
                    }
                    i += 1;
                    true
                });
                match found {
                    Some((v, t)) => {
                        cur = v;
                        cur_ty = Some(t);
                    }
                    None => return Lookup::Missing,
                }
            }
        }
    }
    match cur_ty {
        Some(t) => Lookup::Found(cur, t),
        None => Lookup::Missing,
    }
}
