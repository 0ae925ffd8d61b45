//! Loki's number and duration formats: Go's float and `time.Duration` printing,
//! humanized bytes and Prometheus durations.

use crate::print::duration_string;
use skald_common::format_duration;

/// Go's `fmt.Sprint(float64)` (`%v`, i.e. `strconv.FormatFloat(v, 'g', -1, 64)`): shortest
/// digits, in exponent form when the exponent is < -4 or >= 6 (`1e+06`, `1e-05`).
pub(super) fn go_float_v(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        v.to_string()
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`.
pub(super) fn go_float_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        v.to_string()
    }
}

/// Go's `time.Duration.String()`: `1h30m0s`, `5m0s`, `1.5s`, `250ms`, `1µs`, `0s`.
pub(super) fn go_duration(nanos: i64) -> String {
    fn frac(v: u64, prec: u32) -> (u64, String) {
        let div = 10u64.pow(prec);
        let f = v % div;
        let s = if f == 0 {
            String::new()
        } else {
            let digits = format!("{f:0width$}", width = prec as usize);
            format!(".{}", digits.trim_end_matches('0'))
        };
        (v / div, s)
    }
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let body = if u == 0 {
        return "0s".into();
    } else if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        let (i, f) = frac(u, 3);
        format!("{i}{f}µs")
    } else if u < 1_000_000_000 {
        let (i, f) = frac(u, 6);
        format!("{i}{f}ms")
    } else {
        let (secs, f) = frac(u, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            format!("{h}h{m}m{s}{f}s")
        } else if m > 0 {
            format!("{m}m{s}{f}s")
        } else {
            format!("{s}{f}s")
        }
    };
    if neg { format!("-{body}") } else { body }
}

/// `humanize.Bytes` (SI units, one decimal below 10) without its space, as Loki prints
/// byte label filters: `100kB`, `1.5MB`, `5B`.
pub(super) fn humanize_bytes(v: u64) -> String {
    if v < 10 {
        return format!("{v}B");
    }
    const SIZES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((v as f64).ln() / 1000f64.ln()).floor();
    let suffix = SIZES[(e as usize).min(SIZES.len() - 1)];
    let val = ((v as f64) / 1000f64.powf(e) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 { format!("{val:.1}{suffix}") } else { format!("{val:.0}{suffix}") }
}

/// The model (Prometheus) duration of ranges: `5m`, `1h30m`; negative ones keep their sign.
pub(super) fn model_duration(nanos: i64) -> String {
    if nanos >= 0 { format_duration(nanos) } else { duration_string(nanos) }
}
