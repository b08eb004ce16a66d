//! Durations in a spec, written as Kubernetes and Flux users write them: `90s`, `5m`, `1h30m`.

use std::time::Duration;

/// The schema's pattern: hours, minutes, seconds in that order, each optional (the subset of Go
/// durations that whole seconds need). [`parse`] also refuses the empty string it lets through.
pub const PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";

/// Parses `1h30m`, `5m`, `90s`, `0s`: hours, minutes, seconds in that order, each optional,
/// at least one present.
pub fn parse(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like \"90s\", \"5m\" or \"1h30m\"");
    let mut rest = s;
    let mut total: u64 = 0;
    let mut last_unit = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        let (unit, scale) = match rest[digits..].chars().next() {
            Some('h') => (1, 3600),
            Some('m') => (2, 60),
            Some('s') => (3, 1),
            _ => return Err(bad()),
        };
        if unit <= last_unit {
            return Err(bad());
        }
        last_unit = unit;
        total = n
            .checked_mul(scale)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    if last_unit == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Parses `field`'s value and checks it lies within `min..=max`; the error names the field.
pub fn within(field: &str, s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse(s).map_err(|e| format!("{field}: {e}"))?;
    if d < min || d > max {
        return Err(format!(
            "{field} must be within {} and {}, got {s:?}",
            show(min),
            show(max)
        ));
    }
    Ok(d)
}

/// A duration as the spec writes it (`1h30m`, `0s`).
pub fn show(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if s > 0 || out.is_empty() {
        out += &format!("{s}s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubernetes_writes_them() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1h0m5s"), Ok(Duration::from_secs(3605)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        for bad in [
            "",
            "5",
            "m",
            "5x",
            "30s5m",
            "1h1h",
            "-5m",
            "5 m",
            "99999999999999999999h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bounds_name_the_field_and_read_back_as_written() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(3600));
        assert_eq!(within("period", "90s", min, max), Ok(Duration::from_secs(90)));
        assert_eq!(
            within("period", "2h", min, max),
            Err("period must be within 1s and 1h, got \"2h\"".to_owned())
        );
        assert!(within("period", "soon", min, max).unwrap_err().starts_with("period: "));
        for s in ["0s", "59s", "1m", "1h30m", "24h", "1h0m5s"] {
            let d = parse(s).unwrap();
            assert_eq!(parse(&show(d)), Ok(d));
        }
        assert_eq!(show(Duration::from_secs(3605)), "1h5s");
    }
}
