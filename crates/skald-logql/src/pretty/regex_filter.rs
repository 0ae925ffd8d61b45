//! How Loki prints a `=~` label filter: when its filter optimiser
//! (`pkg/logql/log/filter.go`, `parseRegexpFilter` / `RegexSimplifier.Simplify`) can
//! turn the regex into literal filters, the matcher is printed (`x=~"a.*"`); when it
//! cannot, the filter is a bare regexp filter that prints the regex as written, in
//! backticks (`` x=~`a.+` ``, or double-quoted when the regex holds a backtick).
//!
//! The optimiser works on Go's `regexp/syntax` tree, so this module rebuilds the parts of
//! that tree it looks at from `regex-syntax`'s AST: runs of literals merged, `.`,
//! `*`/`+` of a piece, groups (captures are cleared), alternations factored as Go's
//! parser factors them (common literal prefixes; single characters merged into a
//! class), and everything else as an opaque piece the optimiser refuses.

use regex_syntax::ast::{self, Ast};

/// Go's regexp/syntax pieces that matter to Loki's simplifier.
#[derive(Debug, Clone, PartialEq)]
enum Go {
    /// A run of literal characters, and whether it is case-insensitive.
    Literal(String, bool),
    AnyCharNotNl,
    Star(Box<Go>),
    Plus(Box<Go>),
    Empty,
    Concat(Vec<Go>),
    Alternate(Vec<Go>),
    /// A character class (also what single-character alternatives become).
    CharClass,
    /// Anything else (`?`, counted repetition, anchors, classes like `\d` ...).
    Other,
}

/// Whether Loki's simplifier turns this label regex into literal filters (then the
/// matcher is printed as written, double-quoted).
pub(super) fn simplifiable_label_regex(regex: &str) -> bool {
    let Ok(ast) = ast::parse::Parser::new().parse(regex) else { return false };
    simplify(&to_go(&ast, false))
}

fn to_go(ast: &Ast, fold: bool) -> Go {
    match ast {
        Ast::Empty(_) => Go::Empty,
        Ast::Literal(l) => Go::Literal(l.c.to_string(), fold),
        Ast::Dot(_) => Go::AnyCharNotNl,
        Ast::Repetition(r) => {
            let sub = Box::new(to_go(&r.ast, fold));
            match r.op.kind {
                ast::RepetitionKind::ZeroOrMore => Go::Star(sub),
                ast::RepetitionKind::OneOrMore => Go::Plus(sub),
                _ => Go::Other,
            }
        }
        Ast::Group(g) => {
            let fold = match &g.kind {
                ast::GroupKind::NonCapturing(flags) => flag_fold(flags, fold),
                _ => fold,
            };
            to_go(&g.ast, fold)
        }
        Ast::Concat(c) => {
            let mut pieces = Vec::new();
            let mut fold = fold;
            for item in &c.asts {
                if let Ast::Flags(f) = item {
                    fold = flag_fold(&f.flags, fold);
                    continue;
                }
                push_piece(&mut pieces, to_go(item, fold));
            }
            match pieces.len() {
                0 => Go::Empty,
                1 => pieces.pop().unwrap_or(Go::Empty),
                _ => Go::Concat(pieces),
            }
        }
        Ast::Alternation(a) => factor(a.asts.iter().map(|x| to_go(x, fold)).collect()),
        Ast::Flags(_) => Go::Empty,
        Ast::ClassBracketed(_) | Ast::ClassPerl(_) | Ast::ClassUnicode(_) => Go::CharClass,
        Ast::Assertion(_) => Go::Other,
    }
}

/// Whether `(?i)` is on after these flags.
fn flag_fold(flags: &ast::Flags, fold: bool) -> bool {
    let mut on = true;
    let mut fold = fold;
    for item in &flags.items {
        match item.kind {
            ast::FlagsItemKind::Negation => on = false,
            ast::FlagsItemKind::Flag(ast::Flag::CaseInsensitive) => fold = on,
            ast::FlagsItemKind::Flag(_) => {}
        }
    }
    fold
}

/// Go merges consecutive literal characters (of the same case folding) into one literal.
fn push_piece(pieces: &mut Vec<Go>, piece: Go) {
    if let (Some(Go::Literal(text, fold)), Go::Literal(more, more_fold)) = (pieces.last_mut(), &piece)
        && fold == more_fold
    {
        text.push_str(more);
        return;
    }
    pieces.push(piece);
}

/// The literal an alternative starts with, and its folding.
fn leading_literal(g: &Go) -> Option<(&str, bool)> {
    match g {
        Go::Literal(text, fold) => Some((text, *fold)),
        Go::Concat(pieces) => match pieces.first() {
            Some(Go::Literal(text, fold)) => Some((text, *fold)),
            _ => None,
        },
        _ => None,
    }
}

/// `g` without its first `n` bytes of leading literal.
fn drop_leading(g: Go, n: usize) -> Go {
    match g {
        Go::Literal(text, _) if text.len() == n => Go::Empty,
        Go::Literal(text, fold) => Go::Literal(text[n..].to_string(), fold),
        Go::Concat(mut pieces) => {
            let first = drop_leading(pieces.remove(0), n);
            if first != Go::Empty {
                pieces.insert(0, first);
            }
            match pieces.len() {
                0 => Go::Empty,
                1 => pieces.pop().unwrap_or(Go::Empty),
                _ => Go::Concat(pieces),
            }
        }
        other => other,
    }
}

/// Go's parser factoring of an alternation: runs of alternatives sharing a literal
/// prefix become `prefix(?:rest|...)`, single characters (and classes) next to each
/// other become one class, empty alternatives next to each other one.
fn factor(alternatives: Vec<Go>) -> Go {
    let mut out: Vec<Go> = Vec::new();
    let mut i = 0;
    while i < alternatives.len() {
        let Some((first, fold)) = leading_literal(&alternatives[i]) else {
            out.push(alternatives[i].clone());
            i += 1;
            continue;
        };
        let mut prefix = first.to_string();
        let mut end = i + 1;
        while end < alternatives.len() {
            let Some((next, next_fold)) = leading_literal(&alternatives[end]) else { break };
            let same = prefix.chars().zip(next.chars()).take_while(|(a, b)| a == b).map(|(a, _)| a.len_utf8()).sum::<usize>();
            if next_fold != fold || same == 0 {
                break;
            }
            prefix.truncate(same);
            end += 1;
        }
        if end - i < 2 {
            out.push(alternatives[i].clone());
        } else {
            let rests: Vec<Go> = alternatives[i..end].iter().cloned().map(|a| drop_leading(a, prefix.len())).collect();
            out.push(Go::Concat(vec![Go::Literal(prefix, fold), factor(rests)]));
        }
        i = end;
    }
    // Single characters and classes next to each other merge into one class.
    let single = |g: &Go| matches!(g, Go::CharClass) || matches!(g, Go::Literal(t, _) if t.chars().count() == 1);
    let mut merged: Vec<Go> = Vec::new();
    for g in out {
        let last_single = merged.last().is_some_and(single);
        if single(&g) && last_single {
            merged.pop();
            merged.push(Go::CharClass);
        } else if g == Go::Empty && merged.last() == Some(&Go::Empty) {
            continue;
        } else {
            merged.push(g);
        }
    }
    if merged.len() == 1 { merged.pop().unwrap_or(Go::Empty) } else { Go::Alternate(merged) }
}

/// Loki's `RegexSimplifier.Simplify` (label form): can it become literal filters?
fn simplify(g: &Go) -> bool {
    match g {
        Go::Alternate(alternatives) => alternatives.iter().all(simplify),
        Go::Concat(pieces) => simplify_concat(pieces, false),
        Go::Literal(..) | Go::Empty => true,
        Go::Star(sub) | Go::Plus(sub) => **sub == Go::AnyCharNotNl,
        Go::AnyCharNotNl | Go::CharClass | Go::Other => false,
    }
}

/// `simplifyConcat`: at most three pieces (empty ones dropped), one literal, `.*`, and
/// alternations after the literal whose branches are literals, empty, `.*` or such
/// concatenations.
fn simplify_concat(pieces: &[Go], has_base: bool) -> bool {
    let pieces: Vec<&Go> = pieces.iter().filter(|p| **p != Go::Empty).collect();
    if pieces.len() > 3 {
        return false;
    }
    let mut literals = 0;
    let mut base = has_base;
    for piece in pieces {
        match piece {
            Go::Literal(..) => {
                if literals != 0 {
                    return false;
                }
                literals += 1;
                base = true;
            }
            Go::Alternate(alternatives) if base => {
                let ok = alternatives.iter().all(|alt| match alt {
                    Go::Empty | Go::Literal(..) => true,
                    Go::Concat(inner) => simplify_concat(inner, true),
                    Go::Star(sub) => **sub == Go::AnyCharNotNl,
                    _ => false,
                });
                if !ok {
                    return false;
                }
            }
            Go::Star(sub) if **sub == Go::AnyCharNotNl => {}
            _ => return false,
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::simplifiable_label_regex as simple;

    #[test]
    fn as_lokis_simplifier_decides() {
        // Literal filters: printed as the matcher.
        for re in ["foo", "a.*", ".*foo.*", ".+", ".*", "error|warn", "(GET|POST)", "(?i)error", "b|bar|buzz", "err|error", ""] {
            assert!(simple(re), "{re}");
        }
        // Bare regexp filters: printed in backticks (parser_test.go's `\w.*`, the
        // query_range one).
        for re in [
            r"\w.*",
            "a.+",
            "err.+",
            "5..",
            "[45]..",
            r"\d+",
            "a|b",
            "abc|abd",
            ".*foo.*bar",
            r".*?(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) /loki/api/(?i)(\d+[a-z]|[a-z]+\d)\w*/query_range",
            "a?",
            "^foo",
        ] {
            assert!(!simple(re), "{re}");
        }
    }
}
