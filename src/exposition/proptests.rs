use proptest::prelude::*;

use super::*;

/// Checks what must hold for any input: the stats agree with what was visited, and every
/// visited sample respects the limits.
fn check_invariants(body: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let mut samples = Vec::new();
    match parse(body, limits, |_| true, |s| samples.push(s)) {
        Ok(stats) => {
            prop_assert_eq!(stats.samples, samples.len());
            prop_assert!(stats.samples + stats.skipped_invalid + stats.ignored <= stats.lines);
            prop_assert!(stats.lines <= limits.max_lines);
            for s in &samples {
                prop_assert!(s.labels().count() <= limits.max_label_pairs);
                prop_assert!(s.name.len() + s.label_set().raw().len() <= limits.max_line_len);
            }
        }
        // Only a page without any valid sample (or too long) may be rejected.
        Err(ExpositionError::TooManyLines { limit }) => prop_assert_eq!(limit, limits.max_lines),
        Err(_) => prop_assert!(samples.is_empty()),
    }
    Ok(())
}

/// Bytes drawn mostly from the exposition's own alphabet, so the grammar's corners get hit.
fn exposition_like() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        8 => prop::sample::select(b"ab_:{}=\",\\ \t\n\r#.019eE+-InfNaEOFHELPTYPE".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..400)
}

#[derive(Debug, Clone)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
    timestamp_ms: Option<i64>,
}

fn series() -> impl Strategy<Value = Series> {
    let name = "[a-zA-Z_:][a-zA-Z0-9_:]{0,24}";
    let label = ("[a-zA-Z_][a-zA-Z0-9_]{0,12}", "(\\PC|[\"\\\\\n{},#= ]){0,16}");
    let value = prop_oneof![any::<f64>(), (-1_000_000i64..1_000_000).prop_map(|v| v as f64)];
    (name, prop::collection::vec(label, 0..5), value, any::<Option<i64>>()).prop_map(
        |(name, labels, value, timestamp_ms)| Series {
            name,
            labels,
            value,
            timestamp_ms,
        },
    )
}

/// How one sample is written: each knob is a quirk of one of the writers seen on Radix pages.
#[derive(Debug, Clone, Copy)]
struct Style {
    trailing_comma: bool,
    java_exponent: bool,
    crlf: bool,
    metadata: bool,
    empty_braces: bool,
    padding: bool,
}

fn style() -> impl Strategy<Value = Style> {
    any::<[bool; 6]>().prop_map(
        |[trailing_comma, java_exponent, crlf, metadata, empty_braces, padding]| Style {
            trailing_comma,
            java_exponent,
            crlf,
            metadata,
            empty_braces,
            padding,
        },
    )
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render(page: &[(Series, Style)]) -> String {
    let mut out = String::new();
    for (s, style) in page {
        let end = if style.crlf { "\r\n" } else { "\n" };
        let pad = if style.padding { " \t" } else { "" };
        if style.metadata {
            out += &format!("# HELP {} some help{end}# TYPE {} gauge{end}{end}", s.name, s.name);
        }
        out += &s.name;
        if !s.labels.is_empty() || style.empty_braces {
            let pairs: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}{pad}={pad}\"{}\"", escape(v)))
                .collect();
            let comma = if style.trailing_comma && !pairs.is_empty() {
                ","
            } else {
                ""
            };
            out += &format!("{pad}{{{}{comma}}}", pairs.join(","));
        }
        let value = match s.value {
            v if v.is_nan() => "NaN".to_owned(),
            v if v.is_infinite() => (if v > 0.0 { "+Inf" } else { "-Inf" }).to_owned(),
            v if style.java_exponent => format!("{v:E}"),
            v => format!("{v}"),
        };
        out += &format!(" {pad}{value}");
        if let Some(ts) = s.timestamp_ms {
            out += &format!(" {ts}");
        }
        out += pad;
        out += end;
    }
    out
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2000)) {
        check_invariants(&body, &Limits::default())?;
    }

    #[test]
    fn exposition_like_bytes_never_panic(body in exposition_like()) {
        check_invariants(&body, &Limits::default())?;
        check_invariants(&body, &Limits { max_lines: 4, max_line_len: 16, max_label_pairs: 1 })?;
    }

    #[test]
    fn well_formed_pages_round_trip(page in prop::collection::vec((series(), style()), 1..12), eof: bool) {
        let mut text = render(&page);
        if eof {
            text += "# EOF\n";
        }
        let (samples, stats) = parse_all(text.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(stats.skipped_invalid, 0, "{}", text);
        prop_assert_eq!(samples.len(), page.len());
        for (got, (want, _)) in samples.iter().zip(&page) {
            prop_assert_eq!(got.name, want.name.as_str());
            let labels: Vec<(String, String)> = got.labels().map(|(k, v)| (k.to_owned(), v.into_owned())).collect();
            prop_assert_eq!(&labels, &want.labels);
            for (k, _) in &want.labels {
                // The first pair of a name wins, as in iteration.
                let first = want.labels.iter().find(|(k2, _)| k2 == k).map(|(_, v)| v.as_str());
                let got_value = got.label(k);
                prop_assert_eq!(got_value.as_deref(), first);
            }
            prop_assert!(got.value.to_bits() == want.value.to_bits() || (got.value.is_nan() && want.value.is_nan()));
            prop_assert_eq!(got.timestamp_ms, want.timestamp_ms);
        }
    }
}
