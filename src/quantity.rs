//! Kubernetes resource quantities: the canonical text the adapter writes for every metric value
//! (`"1500m"`, `"2"`, `"1k"`, `"1536Ki"`), and an independent parser for reading them back.
//!
//! The formatter reproduces apimachinery's canonical form (`Quantity.String()`) for the two formats
//! the adapter uses, so clients see exactly what prometheus-adapter would print for the same milli
//! count. Unlike prometheus-adapter, sample values are *rounded* to the nearest milli-unit
//! (`1.005` → `1005m`, where upstream truncates to `1004m`), and NaN, ±Inf and values whose milli
//! count overflows an `i64` are refused instead of printed as Go's overflow garbage.
//! The parser is written from the client-side grammar, not from the formatter, so tests can use it
//! as a second opinion; it reads values the way consumers do (`milli_value` is Go's `MilliValue`).

use std::str::FromStr;

/// The two formats the adapter writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Powers of ten: `n u m "" k M G T P E` (CPU, custom and external metrics).
    DecimalSI,
    /// Powers of 1024 for whole numbers of at least 1024: `Ki Mi Gi Ti Pi Ei` (memory);
    /// everything else falls back to [`Format::DecimalSI`], as apimachinery does.
    BinarySI,
}

/// Why a sample value cannot become a quantity, or a string is not a quantity.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantityError {
    /// NaN or ±Inf: Kubernetes clients reject these, so the sample must be left out.
    #[error("{0} is not a finite number and has no quantity")]
    NotFinite(f64),
    /// The value's milli-unit count does not fit in an `i64` (|value| ≳ 9.22e15).
    #[error("{0} is too large for a quantity counted in milli-units")]
    OutOfRange(f64),
    /// The text is empty (or only spaces).
    #[error("a quantity cannot be empty")]
    Empty,
    /// The text is not `[+-]digits[.digits][suffix]`.
    #[error("quantity {0:?} does not match [+-]digits[.digits][suffix]")]
    Syntax(String),
    /// The number is followed by something that is not a known suffix.
    #[error("quantity {input:?} has unknown suffix {suffix:?}")]
    Suffix {
        /// The whole text.
        input: String,
        /// The part after the number.
        suffix: String,
    },
}

/// Decimal suffixes by power of ten divided by three, from `n` (10^-9) to `E` (10^18).
const DECIMAL_SUFFIXES: [(&str, i64); 10] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("", 0),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

/// Binary suffixes by power of 1024.
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// Canonical text of `milli` thousandths in `format` ("1500m", "2", "1k", "1536Ki").
pub fn format_milli(milli: i64, format: Format) -> String {
    if milli == 0 {
        return "0".to_owned();
    }
    if format == Format::BinarySI && milli % 1000 == 0 && milli.unsigned_abs() >= 1_024_000 {
        let mut whole = milli / 1000;
        let mut power = 0;
        while whole % 1024 == 0 && power + 1 < BINARY_SUFFIXES.len() {
            whole /= 1024;
            power += 1;
        }
        let suffix = BINARY_SUFFIXES.get(power).copied().unwrap_or_default();
        return format!("{whole}{suffix}");
    }
    // i128 so that lowering the exponent can never overflow, whatever the mantissa.
    let mut mantissa = i128::from(milli);
    let mut exponent: i64 = -3;
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    let lower = exponent.rem_euclid(3);
    mantissa *= 10_i128.pow(lower as u32);
    exponent -= lower;
    let suffix = DECIMAL_SUFFIXES
        .iter()
        .find(|(_, e)| *e == exponent)
        .map_or("", |(s, _)| s);
    format!("{mantissa}{suffix}")
}

/// The nearest milli-unit count of a sample value, half away from zero (`1.005` → 1005,
/// `0.0005` → 1, `-0.0004` → 0); NaN/±Inf and counts outside `i64` are errors.
pub fn round_to_milli(value: f64) -> Result<i64, QuantityError> {
    if !value.is_finite() {
        return Err(QuantityError::NotFinite(value));
    }
    let milli = (value * 1000.0).round();
    // -2^63 is representable exactly; 2^63 is the first value above i64::MAX.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&milli) {
        Ok(milli as i64)
    } else {
        Err(QuantityError::OutOfRange(value))
    }
}

/// A Prometheus sample value to canonical text: rounded to the nearest milli-unit (half away from
/// zero: 1.005 -> "1005m", 0.0005 -> "1m", 0.0004 -> "0", -0.0004 -> "0" (never "-0")), error for
/// NaN/±Inf (NotFinite) and for values whose milli count does not fit in i64 (OutOfRange).
pub fn from_f64(value: f64, format: Format) -> Result<String, QuantityError> {
    round_to_milli(value).map(|milli| format_milli(milli, format))
}

/// A parsed quantity: `±digits × 10^exponent × 2^binary_power`, kept exactly.
///
/// Written from the client-side grammar (apimachinery `ParseQuantity`), independently of
/// [`format_milli`]. It is stricter than Go in one way: at least one digit is required (Go
/// reads `"-"`, `"."` and `"m"` as zero), and `e<int>` exponents must fit in an `i32` (Go
/// silently truncates them).
#[derive(Debug, Clone)]
pub struct Quantity {
    negative: bool,
    /// Significant decimal digits (ASCII), without leading or trailing zeros; empty for zero.
    digits: String,
    exponent: i64,
    binary_power: u32,
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let text = input.trim();
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let syntax = || QuantityError::Syntax(input.to_owned());
        let bytes = text.as_bytes();
        let mut pos = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                pos += 1;
                true
            }
            Some(b'+') => {
                pos += 1;
                false
            }
            _ => false,
        };
        // Positions below are all at ASCII characters, so every `get` is `Some`.
        let digits_from = |start: usize| {
            bytes.get(start..).map_or(0, |rest| {
                rest.iter().take_while(|b| b.is_ascii_digit()).count()
            }) + start
        };
        let int_end = digits_from(pos);
        let integer = text.get(pos..int_end).unwrap_or_default();
        let mut fraction = "";
        pos = int_end;
        if bytes.get(pos) == Some(&b'.') {
            let frac_end = digits_from(pos + 1);
            fraction = text.get(pos + 1..frac_end).unwrap_or_default();
            pos = frac_end;
        }
        if integer.is_empty() && fraction.is_empty() {
            return Err(syntax());
        }
        let suffix = text.get(pos..).unwrap_or_default();
        let (exponent, binary_power) = interpret_suffix(suffix).ok_or_else(|| {
            if suffix
                .bytes()
                .all(|b| b"eEinumkKMGTP+-0123456789".contains(&b))
            {
                QuantityError::Suffix {
                    input: input.to_owned(),
                    suffix: suffix.to_owned(),
                }
            } else {
                syntax()
            }
        })?;

        let all: String = format!("{integer}{fraction}");
        let significant = all.trim_start_matches('0');
        let trimmed = significant.trim_end_matches('0');
        let trailing_zeros = (significant.len() - trimmed.len()) as i64;
        let digits = trimmed.to_owned();
        let exponent = exponent
            .saturating_sub(fraction.len() as i64)
            .saturating_add(trailing_zeros);
        Ok(Quantity {
            negative: negative && !digits.is_empty(),
            digits,
            exponent,
            binary_power,
        })
    }
}

/// `(power of ten, power of two)` of a suffix, or `None` if it is not one.
fn interpret_suffix(suffix: &str) -> Option<(i64, u32)> {
    if let Some((_, e)) = DECIMAL_SUFFIXES.iter().find(|(s, _)| *s == suffix) {
        return Some((*e, 0));
    }
    if let Some(i) = BINARY_SUFFIXES[1..].iter().position(|s| *s == suffix) {
        return Some((0, 10 * (i as u32 + 1)));
    }
    let rest = suffix.strip_prefix(['e', 'E'])?;
    let unsigned = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let exponent: i32 = rest.parse().ok()?;
    Some((i64::from(exponent), 0))
}

impl Quantity {
    /// The value in thousandths, as Go's `MilliValue()`: finer parts round up, i.e. away from
    /// zero (ceil for positive values; Go's int64 fast path also rounds negatives away from
    /// zero). Values beyond `i64` saturate (Go returns garbage for them).
    pub fn milli_value(&self) -> i64 {
        if self.digits.is_empty() {
            return 0;
        }
        let saturated = if self.negative { i64::MIN } else { i64::MAX };
        // The value in milli-units is digits × 10^shift × 2^binary_power.
        let shift = self.exponent.saturating_add(3);
        let integer_digits = (self.digits.len() as i64).saturating_add(shift);
        if integer_digits > 19 {
            return saturated;
        }
        let mut digits: Vec<u8> = self.digits.bytes().map(|b| b - b'0').collect();
        for _ in 0..self.binary_power {
            double_decimal(&mut digits);
        }
        let integer_digits = digits.len() as i64 + shift;
        if integer_digits > 19 {
            return saturated;
        }
        let (integer, fraction): (&[u8], &[u8]) = if integer_digits <= 0 {
            (&[], &digits[..])
        } else if integer_digits as usize >= digits.len() {
            (&digits[..], &[])
        } else {
            digits.split_at(integer_digits as usize)
        };
        let mut magnitude: u128 = integer.iter().fold(0, |acc, d| acc * 10 + u128::from(*d));
        for _ in digits.len() as i64..integer_digits {
            magnitude *= 10;
        }
        if fraction.iter().any(|d| *d != 0) {
            magnitude += 1;
        }
        if self.negative {
            if magnitude > 1 << 63 {
                i64::MIN
            } else {
                -(magnitude as i128) as i64
            }
        } else {
            i64::try_from(magnitude).unwrap_or(i64::MAX)
        }
    }

    /// The value as the nearest `f64` (±Inf past `f64::MAX`).
    pub fn as_f64(&self) -> f64 {
        if self.digits.is_empty() {
            return 0.0;
        }
        let sign = if self.negative { "-" } else { "" };
        let decimal: f64 = format!("{sign}{}e{}", self.digits, self.exponent)
            .parse()
            .unwrap_or(f64::NAN);
        decimal * 2f64.powi(self.binary_power as i32)
    }
}

/// Multiply a big-endian vector of decimal digits by two, in place.
fn double_decimal(digits: &mut Vec<u8>) {
    let mut carry = 0;
    for d in digits.iter_mut().rev() {
        let doubled = *d * 2 + carry;
        *d = doubled % 10;
        carry = doubled / 10;
    }
    if carry > 0 {
        digits.insert(0, carry);
    }
}

#[cfg(test)]
mod tests;
