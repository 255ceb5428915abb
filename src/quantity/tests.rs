use super::*;
use proptest::prelude::*;

fn parse(text: &str) -> Quantity {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

fn decimal(value: f64) -> String {
    from_f64(value, Format::DecimalSI).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn binary(value: f64) -> String {
    from_f64(value, Format::BinarySI).unwrap_or_else(|e| panic!("{value}: {e}"))
}

/// k8s-contract.md §2.6, the canonical DecimalSI table, row by row.
#[test]
fn decimal_si_matches_the_contract_table() {
    let rows: [(f64, &str); 18] = [
        (0.0, "0"),
        (1000.0, "1k"),
        (0.001, "1m"),
        (1001.0, "1001"),
        (0.5, "500m"),
        (1500.0, "1500"),
        (1.0, "1"),
        (10000.0, "10k"),
        (1.5, "1500m"),
        (1_234_000.0, "1234k"),
        (2.0, "2"),
        (1e6, "1M"),
        (123.456, "123456m"),
        (2.5e9, "2500M"),
        (999.0, "999"),
        (-2.5, "-2500m"),
        (1e15, "1P"),
        // The contract says "0 after milli truncation"; rounding gives the same here.
        (0.0004, "0"),
    ];
    for (value, text) in rows {
        assert_eq!(decimal(value), text, "{value}");
    }
}

/// k8s-contract.md §2.6, the BinarySI examples.
#[test]
fn binary_si_matches_the_contract_examples() {
    let rows: [(f64, &str); 6] = [
        (512.0, "512"),
        (1536.5, "1536500m"),
        (1024.0, "1Ki"),
        (1536.0, "1536"),
        (1_048_576.0, "1Mi"),
        (1_572_864.0, "1536Ki"),
    ];
    for (value, text) in rows {
        assert_eq!(binary(value), text, "{value}");
    }
}

/// adapter-behavior.md §3.6, every row in both formats. prometheus-adapter truncates `v*1000`;
/// we round to the nearest milli-unit, so four rows deliberately differ (marked `ROUNDS`).
#[test]
fn values_to_quantities_match_the_adapter_table() {
    // (value, DecimalSI, BinarySI)
    let rows: [(f64, &str, &str); 24] = [
        (0.5, "500m", "500m"),
        (1.0, "1", "1"),
        (10.0, "10", "10"),
        (100.0, "100", "100"),
        (1.5, "1500m", "1500m"),
        (1000.0, "1k", "1k"),
        (1500.0, "1500", "1500"),
        (2000.0, "2k", "2000"),
        (0.016, "16m", "16m"),
        (0.001, "1m", "1m"),
        // ROUNDS: upstream truncates 0.5m to "0".
        (0.0005, "1m", "1m"),
        // ROUNDS: upstream "2m" (2.5m truncated); half away from zero gives 3m.
        (0.0025, "3m", "3m"),
        (-0.5, "-500m", "-500m"),
        (-0.0004, "0", "0"),
        (12345.678, "12345678m", "12345678m"),
        // ROUNDS: upstream "3999m" (3999.9m truncated).
        (3.9999, "4", "4"),
        (1e6, "1M", "1000000"),
        (1e9, "1G", "1000000000"),
        (1.5e9, "1500M", "1500000000"),
        (1024.0, "1024", "1Ki"),
        (1_048_576.0, "1048576", "1Mi"),
        (1e12, "1T", "976562500Ki"),
        // ROUNDS: upstream "1004m" (1.005 × 1000 is 1004.999… in f64).
        (1.005, "1005m", "1005m"),
        // Upstream "1" (1000.999… truncated); the design doc's example of a lost milli-unit.
        (1.001, "1001m", "1001m"),
    ];
    for (value, dec, bin) in rows {
        assert_eq!(decimal(value), dec, "DecimalSI {value}");
        assert_eq!(binary(value), bin, "BinarySI {value}");
    }
}

#[test]
fn rounding_is_to_the_nearest_milli_half_away_from_zero() {
    assert_eq!(round_to_milli(1.005), Ok(1005));
    assert_eq!(round_to_milli(0.0005), Ok(1));
    assert_eq!(round_to_milli(-0.0005), Ok(-1));
    assert_eq!(round_to_milli(0.0004), Ok(0));
    assert_eq!(round_to_milli(-0.0004), Ok(0));
    assert_eq!(decimal(-0.0004), "0", "never -0");
    assert_eq!(decimal(0.0125), "13m");
}

#[test]
fn non_finite_and_overflowing_values_are_refused() {
    for format in [Format::DecimalSI, Format::BinarySI] {
        assert!(matches!(
            from_f64(f64::NAN, format),
            Err(QuantityError::NotFinite(v)) if v.is_nan()
        ));
        assert_eq!(
            from_f64(f64::INFINITY, format),
            Err(QuantityError::NotFinite(f64::INFINITY))
        );
        assert_eq!(
            from_f64(f64::NEG_INFINITY, format),
            Err(QuantityError::NotFinite(f64::NEG_INFINITY))
        );
        assert_eq!(from_f64(1e16, format), Err(QuantityError::OutOfRange(1e16)));
        assert_eq!(
            from_f64(-1e300, format),
            Err(QuantityError::OutOfRange(-1e300))
        );
        // v × 1000 overflows f64 itself: still a range error, not a "not finite" one.
        assert_eq!(
            from_f64(f64::MAX, format),
            Err(QuantityError::OutOfRange(f64::MAX))
        );
    }
    // The largest values that still fit.
    assert_eq!(decimal(9.2e15), "9200T");
    assert_eq!(decimal(-9.2e15), "-9200T");
    // -2^63 milli is representable, 2^63 milli is not.
    assert_eq!(round_to_milli(-9_223_372_036_854_775.808), Ok(i64::MIN));
    assert!(round_to_milli(9_223_372_036_854_775.808).is_err());
}

#[test]
fn the_extremes_of_i64_format_without_overflow() {
    assert_eq!(
        format_milli(i64::MIN, Format::DecimalSI),
        "-9223372036854775808m"
    );
    assert_eq!(
        format_milli(i64::MAX, Format::DecimalSI),
        "9223372036854775807m"
    );
    assert_eq!(
        format_milli(i64::MIN, Format::BinarySI),
        "-9223372036854775808m"
    );
    // 9.223e18 milli = 9223372036854775 whole units: odd, so no factor of 1024.
    assert_eq!(
        format_milli(9_223_372_036_854_775_000, Format::BinarySI),
        "9223372036854775"
    );
    // The largest whole multiple of 1 Pi that fits.
    assert_eq!(
        format_milli(8 * 1024_i64.pow(5) * 1000, Format::BinarySI),
        "8Pi"
    );
}

#[test]
fn binary_si_handles_negatives_and_the_1024_boundary() {
    assert_eq!(format_milli(-1_024_000, Format::BinarySI), "-1Ki");
    assert_eq!(format_milli(-1_023_000, Format::BinarySI), "-1023");
    assert_eq!(format_milli(1_023_000, Format::BinarySI), "1023");
    assert_eq!(format_milli(1_024_001, Format::BinarySI), "1024001m");
    assert_eq!(
        format_milli(3 * 1024 * 1024 * 1000, Format::BinarySI),
        "3Mi"
    );
    assert_eq!(format_milli(2048 * 1000, Format::BinarySI), "2Ki");
}

#[test]
fn decimal_si_lowers_the_exponent_to_a_multiple_of_three() {
    assert_eq!(format_milli(10, Format::DecimalSI), "10m");
    assert_eq!(format_milli(100, Format::DecimalSI), "100m");
    assert_eq!(format_milli(10_000, Format::DecimalSI), "10");
    assert_eq!(format_milli(100_000, Format::DecimalSI), "100");
    assert_eq!(format_milli(-100_000_000, Format::DecimalSI), "-100k");
    assert_eq!(
        format_milli(1_000_000_000_000_000_000, Format::DecimalSI),
        "1P"
    );
}

#[test]
fn the_parser_reads_the_client_grammar() {
    // (text, MilliValue, as_f64)
    let rows: [(&str, i64, f64); 30] = [
        ("0", 0, 0.0),
        ("-0", 0, 0.0),
        ("1500m", 1500, 1.5),
        ("1.5", 1500, 1.5),
        ("2", 2000, 2.0),
        ("1k", 1_000_000, 1000.0),
        ("1Ki", 1_024_000, 1024.0),
        ("1.5Ki", 1_536_000, 1536.0),
        ("1536Ki", 1_572_864_000, 1_572_864.0),
        ("1Mi", 1_048_576_000, 1_048_576.0),
        ("2500M", 2_500_000_000_000, 2.5e9),
        ("1P", 1_000_000_000_000_000_000, 1e15),
        ("1e3", 1_000_000, 1000.0),
        ("1E3", 1_000_000, 1000.0),
        ("1e+3", 1_000_000, 1000.0),
        ("12e-1", 1200, 1.2),
        ("1e-3", 1, 0.001),
        ("-2500m", -2500, -2.5),
        ("+5", 5000, 5.0),
        (".5", 500, 0.5),
        ("5.", 5000, 5.0),
        ("  2 ", 2000, 2.0),
        ("007", 7000, 7.0),
        // Finer than a milli-unit rounds up (away from zero), as MilliValue does.
        ("1n", 1, 1e-9),
        ("100u", 1, 1e-4),
        ("1000001n", 2, 0.001000001),
        ("0.0001", 1, 1e-4),
        ("-0.0001", -1, -1e-4),
        ("1.0005", 1001, 1.0005),
        ("123456789n", 124, 0.123456789),
    ];
    for (text, milli, float) in rows {
        let q = parse(text);
        assert_eq!(q.milli_value(), milli, "{text:?}");
        assert!(
            (q.as_f64() - float).abs() <= float.abs() * 1e-15,
            "{text:?}: {} != {float}",
            q.as_f64()
        );
    }
}

#[test]
fn values_beyond_i64_milli_saturate() {
    assert_eq!(parse("1E").milli_value(), i64::MAX);
    assert_eq!(parse("-1E").milli_value(), i64::MIN);
    assert_eq!(parse("8Ei").milli_value(), i64::MAX);
    assert_eq!(parse("1e2000000000").milli_value(), i64::MAX);
    assert_eq!(parse("1e-2000000000").milli_value(), 1);
    assert_eq!(parse("9223372036854775807m").milli_value(), i64::MAX);
    assert_eq!(parse("-9223372036854775808m").milli_value(), i64::MIN);
    assert_eq!(parse("-9223372036854775809m").milli_value(), i64::MIN);
    assert_eq!(parse("1e2000000000").as_f64(), f64::INFINITY);
}

#[test]
fn the_parser_refuses_what_clients_refuse() {
    let empty = ["", "   "];
    for text in empty {
        assert_eq!(text.parse::<Quantity>().err(), Some(QuantityError::Empty));
    }
    let syntax = [
        "NaN", "Inf", "+Inf", "-Inf", "inf", "nan", "-", "+", ".", "1.2.3", "1 k", "--1", "+-1",
        "0x10", "1,5", "m", "1Kib", "e3", "1e3.5", "½", "1k\u{0}", "1 2",
    ];
    for text in syntax {
        assert!(
            matches!(text.parse::<Quantity>(), Err(QuantityError::Syntax(_))),
            "{text:?} should be a syntax error"
        );
    }
    let suffix = [
        "1K",
        "1ki",
        "1e",
        "1mm",
        "1m1",
        "1e99999999999",
        "1e-",
        "1i",
    ];
    for text in suffix {
        assert!(
            matches!(text.parse::<Quantity>(), Err(QuantityError::Suffix { .. })),
            "{text:?} should be a suffix error"
        );
    }
}

#[test]
fn errors_say_what_is_wrong() {
    assert_eq!(
        "1K".parse::<Quantity>().err().map(|e| e.to_string()),
        Some(r#"quantity "1K" has unknown suffix "K""#.to_owned())
    );
    assert_eq!(
        QuantityError::NotFinite(f64::INFINITY).to_string(),
        "inf is not a finite number and has no quantity"
    );
}

fn any_format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::DecimalSI), Just(Format::BinarySI)]
}

/// Milli counts of every shape: arbitrary, whole units, and whole multiples of powers of 1024.
fn any_milli() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        (-9_223_372_036_854_775_i64..9_223_372_036_854_775).prop_map(|v| v * 1000),
        (1u32..=5).prop_flat_map(|p| {
            let unit = 1024_i64.pow(p) * 1000;
            (i64::MIN / unit..=i64::MAX / unit).prop_map(move |v| v * unit)
        }),
        (0u32..=18).prop_flat_map(|p| {
            let unit = 10_i64.pow(p);
            (-1000_i64..=1000).prop_map(move |v| v.clamp(i64::MIN / unit, i64::MAX / unit) * unit)
        }),
    ]
}

proptest! {
    /// Whatever a client sends as a quantity, the parser answers without panicking.
    #[test]
    fn parsing_never_panics(text in "\\PC*|[-+ .0-9eEinumkKMGTP]{0,24}") {
        if let Ok(q) = text.parse::<Quantity>() {
            let _ = q.milli_value();
            let _ = q.as_f64();
        }
    }

    /// What we write reads back as the same number of milli-units.
    #[test]
    fn formatted_milli_reads_back(milli in any_milli(), format in any_format()) {
        let text = format_milli(milli, format);
        prop_assert_eq!(parse(&text).milli_value(), milli, "{}", text);
    }

    /// What we write is canonical: no decimal point, exponent, plus sign, NaN or Inf, and
    /// formatting the value read back gives the same text.
    #[test]
    fn formatted_milli_is_canonical(milli in any_milli(), format in any_format()) {
        let text = format_milli(milli, format);
        for forbidden in [".", "e", "+", "NaN", "Inf"] {
            prop_assert!(!text.contains(forbidden), "{} contains {}", text, forbidden);
        }
        prop_assert!(!text.starts_with("-0"), "{}", text);
        prop_assert!(!text.starts_with('0') || text == "0", "{}", text);
        prop_assert_eq!(format_milli(parse(&text).milli_value(), format), text);
    }

    /// Finite values in range always convert, to the rounded milli count's canonical text.
    #[test]
    fn finite_values_in_range_convert(
        value in prop_oneof![
            -9.2e15f64..9.2e15,
            -10.0f64..10.0,
            (-1_000_000i64..1_000_000).prop_map(|v| v as f64 / 2000.0),
        ],
        format in any_format(),
    ) {
        let expected = format_milli((value * 1000.0).round() as i64, format);
        prop_assert_eq!(from_f64(value, format), Ok(expected));
    }
}
