//! The LogQL parser must never panic or hang, and whatever it accepts must print back
//! to a query that parses to the same tree.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(expr) = skald_logql::parse_expr(text) {
        let printed = expr.to_string();
        let reparsed = skald_logql::parse_expr(&printed).expect("printed query must parse");
        assert_eq!(reparsed, expr, "round trip changed the query: {printed}");
    }
    let _ = skald_logql::parse_matchers(text);
});
