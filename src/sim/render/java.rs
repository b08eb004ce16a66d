//! Numbers as the two writers of a Radix metrics page print them.

/// Java simpleclient's `doubleToGoString`: `+Inf`, `-Inf`, `NaN`, else Java's `Double.toString`,
/// which prints plain decimals with at least one fraction digit for 10⁻³ ≤ |x| < 10⁷ (`1.0`,
/// `-12.5`) and computerized scientific notation otherwise (`2.31457012E8`, `1.0E-4`).
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let magnitude = x.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let plain = format!("{x}");
        return if plain.contains('.') { plain } else { plain + ".0" };
    }
    // Rust's `{:e}` is the shortest round-tripping digits, like Java ≥ 19's Double.toString.
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// The Rust writer's form (babylon-node's Rust metrics): shortest decimal, no exponent, `1` not `1.0`.
pub fn rust_float(x: f64) -> String {
    if x.is_nan() {
        "NaN".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{x}")
    }
}

/// Rounds to milliseconds, as epoch-second gauges are exposed (the fixture's `…400.512`).
pub fn millis(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_forms_match_the_fixture() {
        assert_eq!(java_double(231_457_012.0), "2.31457012E8");
        assert_eq!(java_double(1_763_798_399.987), "1.763798399987E9");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(-12.5), "-12.5");
        assert_eq!(java_double(1043.0), "1043.0");
        assert_eq!(java_double(2.1e8), "2.1E8");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(9_999_999.0), "9999999.0");
        assert_eq!(java_double(1e-4), "1.0E-4");
        assert_eq!(java_double(-0.012), "-0.012");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn rust_forms_match_the_fixture() {
        assert_eq!(rust_float(1.0), "1");
        assert_eq!(rust_float(millis(1_763_798_400.512_4)), "1763798400.512");
        assert_eq!(rust_float(231_457_012.0), "231457012");
        assert_eq!(rust_float(1.0012), "1.0012");
    }
}
