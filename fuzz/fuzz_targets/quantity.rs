//! Quantities: formatting a sample value (any f64, either format), formatting a milli count
//! (any i64), and parsing any text as a client would.
//!
//! Input: 8 bytes of f64, 8 bytes of i64, 1 format byte, then the text to parse.
//! Invariants: a finite value whose milli count fits in i64 formats to canonical text (digits and
//! a suffix, no exponent, no NaN/Inf, no `-0`) that parses back to exactly its milli count and
//! to within half a milli-unit of the value; anything else is refused with the right error. Any
//! parsed text reformats to a fixed point of the formatter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use metrics_adapter::quantity::{self, Format, Quantity, QuantityError};

fuzz_target!(|data: &[u8]| {
    let Some((value, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Some((milli, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let Some((&format, text)) = rest.split_first() else {
        return;
    };
    let value = f64::from_le_bytes(*value);
    let milli = i64::from_le_bytes(*milli);
    let format = if format & 1 == 0 {
        Format::DecimalSI
    } else {
        Format::BinarySI
    };

    from_value(value, format);
    from_milli(milli, format);
    if let Ok(text) = std::str::from_utf8(text) {
        parse(text, format);
    }
});

/// Canonical text: an optional `-`, digits without a leading zero (or `0` alone), then one of the
/// suffixes the formatter writes.
fn assert_canonical(text: &str) {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let digits_end = unsigned
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(unsigned.len());
    let (digits, suffix) = unsigned.split_at(digits_end);
    assert!(!digits.is_empty(), "{text:?}: no digits");
    assert!(
        digits == "0" || !digits.starts_with('0'),
        "{text:?}: leading zero"
    );
    assert!(
        !(digits == "0" && (text.starts_with('-') || !suffix.is_empty())),
        "{text:?}: zero written other than `0`"
    );
    assert!(
        [
            "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"
        ]
        .contains(&suffix),
        "{text:?}: suffix {suffix:?}"
    );
}

fn from_value(value: f64, format: Format) {
    let result = quantity::from_f64(value, format);
    if !value.is_finite() {
        assert!(
            matches!(result, Err(QuantityError::NotFinite(_))),
            "{value}: {result:?}"
        );
        return;
    }
    let scaled = (value * 1000.0).round();
    let fits = scaled >= -9_223_372_036_854_775_808.0 && scaled < 9_223_372_036_854_775_808.0;
    let text = match result {
        Ok(text) => text,
        Err(QuantityError::OutOfRange(_)) if !fits => return,
        Err(e) => panic!("{value:e} refused: {e}"),
    };
    assert!(
        fits,
        "{value:e} formatted as {text:?} but its milli count overflows"
    );
    assert_canonical(&text);
    let parsed: Quantity = text
        .parse()
        .unwrap_or_else(|e| panic!("{value:e} -> {text:?} does not parse: {e}"));
    assert_eq!(
        parsed.milli_value(),
        quantity::round_to_milli(value).unwrap(),
        "{value:e} -> {text:?}"
    );
    // Within half a milli-unit, plus the rounding of `value * 1000` and of the decimal read-back.
    let error = (parsed.as_f64() - value).abs();
    let slack = 0.0005 + value.abs() * 4.0 * f64::EPSILON;
    assert!(error <= slack, "{value:e} -> {text:?}: off by {error:e}");
}

fn from_milli(milli: i64, format: Format) {
    let text = quantity::format_milli(milli, format);
    assert_canonical(&text);
    let parsed: Quantity = text
        .parse()
        .unwrap_or_else(|e| panic!("{milli} -> {text:?} does not parse: {e}"));
    assert_eq!(parsed.milli_value(), milli, "{milli} -> {text:?}");
}

fn parse(text: &str, format: Format) {
    let Ok(parsed) = text.parse::<Quantity>() else {
        return;
    };
    let milli = parsed.milli_value();
    let as_f64 = parsed.as_f64();
    // Go's MilliValue rounds finer parts away from zero: at most one milli-unit from the value.
    if milli > i64::MIN && milli < i64::MAX && as_f64.is_finite() {
        let error = (milli as f64 / 1000.0 - as_f64).abs();
        let slack = 0.001 + as_f64.abs() * 4.0 * f64::EPSILON;
        assert!(
            error <= slack,
            "{text:?}: milli {milli} but value {as_f64:e}"
        );
    }
    // What the adapter would write for that count is canonical and reads back as the same count.
    let canonical = quantity::format_milli(milli, format);
    let again: Quantity = canonical.parse().unwrap();
    assert_eq!(again.milli_value(), milli, "{text:?} -> {canonical:?}");
    assert_eq!(
        quantity::format_milli(again.milli_value(), format),
        canonical
    );
}
