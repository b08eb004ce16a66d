use std::borrow::Cow;

use super::*;

const FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/radix_metrics.txt");

fn only(body: &str) -> Sample<'_> {
    let (samples, stats) = parse_all(body.as_bytes()).expect("parses");
    assert_eq!((samples.len(), stats.skipped_invalid), (1, 0), "{body:?}: {stats:?}");
    samples[0]
}

fn labels_of<'a>(sample: &Sample<'a>) -> Vec<(&'a str, Cow<'a, str>)> {
    sample.labels().collect()
}

#[test]
fn fixture_parses_without_invalid_lines() {
    let (samples, stats) = parse_all(FIXTURE).expect("fixture parses");
    assert_eq!(stats.skipped_invalid, 0);
    assert_eq!(stats.ignored, 0);
    assert_eq!(stats.samples, samples.len());
    assert_eq!(stats.lines, 77);
    assert_eq!(samples.len(), 33);
    let find = |name: &str| samples.iter().find(|s| s.name == name).expect(name);
    assert_eq!(find("rn_sync_current_state_version").value, 231_457_012.0);
    assert_eq!(find("rn_ledger_overall_health_factor").value, 1.0);
    assert!(find("api_latency_max").value.is_nan());
    let info = find("rn_misc_config_info");
    assert_eq!(
        info.label("branch_and_commit").as_deref(),
        Some("release/cuttlefish-b4ae2f1")
    );
    assert_eq!(info.labels().count(), 4);
    // The HELP line without a metric name before it does not hide the sample.
    assert_eq!(find("nodeinfo").label("health").as_deref(), Some("UP"));
}

#[test]
fn trailing_comma_in_label_set() {
    let sample = only("rn_sync_unexpected_responses_received_total{reason=\"STALE\",} 2.0\n");
    assert_eq!(labels_of(&sample), vec![("reason", Cow::Borrowed("STALE"))]);
    assert_eq!(sample.value, 2.0);
}

#[test]
fn blanks_inside_label_sets_and_around_tokens() {
    let sample = only("  m { a = \"1\" ,\tb=\"2\" , }\t3  \n");
    assert_eq!(sample.name, "m");
    assert_eq!(
        labels_of(&sample),
        vec![("a", Cow::Borrowed("1")), ("b", Cow::Borrowed("2"))]
    );
    assert_eq!(only("m{}4").value, 4.0);
    assert_eq!(only("m{a=\"b\"}5").value, 5.0, "no blank needed after the label set");
}

#[test]
fn number_spellings() {
    for (text, expected) in [
        ("2.31457E8", 231_457_000.0),
        ("1.0", 1.0),
        ("1", 1.0),
        ("-0.012", -0.012),
        ("1e-3", 0.001),
        ("+Inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("Inf", f64::INFINITY),
    ] {
        let body = format!("m {text}\n");
        assert_eq!(only(&body).value, expected, "{text}");
    }
    assert!(only("m NaN").value.is_nan());
}

#[test]
fn timestamps_and_exemplars() {
    assert_eq!(only("m 1 1763798400000").timestamp_ms, Some(1_763_798_400_000));
    assert_eq!(only("m 1 -5").timestamp_ms, Some(-5));
    // OpenMetrics writes seconds with a fraction.
    assert_eq!(only("m 1 1763798400.5").timestamp_ms, Some(1_763_798_400_500));
    assert_eq!(only("m 1").timestamp_ms, None);
    let with_exemplar = only("m_bucket{le=\"0.1\"} 8 # {trace_id=\"abc\"} 0.05 1763798400.1");
    assert_eq!((with_exemplar.value, with_exemplar.timestamp_ms), (8.0, None));
    let both = only("m_bucket{le=\"0.1\"} 8 1000 # {trace_id=\"abc\"} 0.05");
    assert_eq!(both.timestamp_ms, Some(1000));
}

#[test]
fn created_series_and_metadata_in_any_order() {
    let body = "m_total{a=\"x\",} 2.0\n# TYPE m counter\nm_created{a=\"x\",} 1.7E9\n# HELP m late help\n\
                # HELP Special metric used to convey information about the node using labels.\n\
                nodeinfo{health=\"UP\",} 0.0\n# UNIT m seconds\n# random comment\n#\n";
    let (samples, stats) = parse_all(body.as_bytes()).expect("parses");
    let names: Vec<_> = samples.iter().map(|s| s.name).collect();
    assert_eq!(names, ["m_total", "m_created", "nodeinfo"]);
    assert_eq!(samples[1].value, 1.7e9);
    assert_eq!((stats.lines, stats.skipped_invalid), (9, 0));
}

#[test]
fn escaped_label_values_decode_and_plain_ones_borrow() {
    let sample = only(r#"m{path="/a\"b\\c\nd",code="200",} 7.0"#);
    assert_eq!(sample.label("path"), Some(Cow::Owned("/a\"b\\c\nd".to_owned())));
    assert!(matches!(sample.label("code"), Some(Cow::Borrowed("200"))));
    assert_eq!(sample.label("absent"), None);
    assert_eq!(sample.label_set().raw(), r#"path="/a\"b\\c\nd",code="200","#);
    // Braces, commas and '#' inside quotes are value text.
    let tricky = only(r#"m{a="}{,# x=\"y\"",b="ü"} 1"#);
    assert_eq!(tricky.label("a").as_deref(), Some(r#"}{,# x="y""#));
    assert_eq!(tricky.label("b").as_deref(), Some("ü"));
}

#[test]
fn crlf_blank_lines_and_eof() {
    let body = "# TYPE a gauge\r\n\r\n  \r\na 1\r\nb{x=\"y\"} 2\r\n# EOF\r\nc 3\n";
    let (samples, stats) = parse_all(body.as_bytes()).expect("parses");
    let values: Vec<_> = samples.iter().map(|s| (s.name, s.value)).collect();
    assert_eq!(values, [("a", 1.0), ("b", 2.0)]);
    assert_eq!(samples[1].label("x").as_deref(), Some("y"));
    assert_eq!(stats.lines, 6, "nothing after # EOF is read");
    assert_eq!(only("a 1\n# EOF").value, 1.0);
}

#[test]
fn empty_and_comment_only_bodies_are_empty_expositions() {
    for body in ["", "\n\n", "# HELP a b\n# TYPE a gauge\n", "# EOF\n<html>"] {
        let (samples, stats) = parse_all(body.as_bytes()).expect(body);
        assert!(samples.is_empty());
        assert_eq!(stats.skipped_invalid, 0);
    }
}

#[test]
fn invalid_lines_are_skipped_and_counted() {
    let bad_lines = [
        "9m 1",
        "m.x 1",
        "m",
        "m ",
        "m abc",
        "m 1 abc",
        "m 1 2 3",
        "m{a=\"b\" 1",
        "m{a=\"b} 1",
        "m{a=b} 1",
        "m{a \"b\"} 1",
        "m{9=\"b\"} 1",
        "m{a=\"b\"c=\"d\"} 1",
        "m{a=\"\\t\"} 1",
        "m{,} 1",
        "m{\"a.b\"=\"c\"} 1",
        "m 1 NaN",
        "m 1 1e300",
    ];
    for bad in bad_lines {
        let body = format!("good 1\n{bad}\ngood 2\n");
        let (samples, stats) = parse_all(body.as_bytes()).expect(bad);
        assert_eq!(samples.len(), 2, "{bad:?}");
        assert_eq!((stats.lines, stats.skipped_invalid), (3, 1), "{bad:?}");
    }
}

#[test]
fn invalid_utf8_line_is_skipped_when_the_page_is_otherwise_valid() {
    let body = b"good 1\nm{a=\"\xff\"} 1\ngood 2\n";
    let (samples, stats) = parse_all(body).expect("one bad line is not fatal");
    assert_eq!((samples.len(), stats.skipped_invalid), (2, 1));
    assert_eq!(stats.first_invalid, Some((2, "not UTF-8")), "which line, and why");
}

#[test]
fn nan_infinities_and_negative_zero_are_values_not_errors() {
    let (samples, stats) = parse_all(b"a NaN\nb +Inf\nc -Inf\nd -0\ne -0.0\n").unwrap();
    assert_eq!((samples.len(), stats.skipped_invalid), (5, 0));
    assert!(samples[0].value.is_nan());
    assert_eq!((samples[1].value, samples[2].value), (f64::INFINITY, f64::NEG_INFINITY));
    assert!(samples[3].value == 0.0 && samples[3].value.is_sign_negative());
    assert!(samples[4].value == 0.0 && samples[4].value.is_sign_negative());
}

#[test]
fn bodies_that_are_not_expositions() {
    let cases: [(&[u8], ExpositionError); 5] = [
        (
            b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n",
            ExpositionError::NotAnExposition {
                line: 1,
                reason: "starts with '<' (HTML or XML?)",
            },
        ),
        (
            b"{\"status\": \"UP\"}",
            ExpositionError::NotAnExposition {
                line: 1,
                reason: "starts with '{' or '[' (JSON?)",
            },
        ),
        (
            b"\n404 page not found\n",
            ExpositionError::NotAnExposition {
                line: 2,
                reason: "invalid metric name",
            },
        ),
        (
            b"Service Unavailable",
            ExpositionError::NotAnExposition {
                line: 1,
                reason: "invalid value",
            },
        ),
        (
            b"\x00\x01\x02garbage 1\n",
            ExpositionError::NotAnExposition {
                line: 1,
                reason: "invalid metric name",
            },
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(parse_all(body).map(|_| ()), Err(expected));
    }
    assert_eq!(
        parse_all(b"caf\xe9 1\n").map(|_| ()),
        Err(ExpositionError::NotUtf8 { line: 1 })
    );
    assert_eq!(
        parse_all(b"\n\n\x1f\x8b\x08\x00gzip").map(|_| ()),
        Err(ExpositionError::NotUtf8 { line: 3 })
    );
}

#[test]
fn errors_never_echo_the_body() {
    let body = b"secret_token{password=\"hunter2\"} oops\n";
    let message = parse_all(body).map(|_| ()).expect_err("not an exposition").to_string();
    assert!(!message.contains("hunter2") && !message.contains("secret"), "{message}");
    assert!(message.len() < 120, "{message}");
}

#[test]
fn filter_sees_names_before_labels_and_skips_unwanted_lines_cheaply() {
    let body = "a 1\nb{broken 2\nc{x=\"1\"} 3\n";
    let mut seen = Vec::new();
    let mut names = Vec::new();
    let stats = parse(
        body.as_bytes(),
        &Limits::default(),
        |n| {
            names.push(n.to_owned());
            n != "b"
        },
        |s| seen.push((s.name, s.value)),
    )
    .expect("parses");
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(seen, [("a", 1.0), ("c", 3.0)]);
    // `b` is malformed, but unwanted families are not validated once the page is proven.
    assert_eq!(
        stats,
        ParseStats {
            lines: 3,
            samples: 2,
            skipped_invalid: 0,
            ignored: 1,
            first_invalid: None,
        }
    );
}

#[test]
fn unwanted_families_still_prove_or_disprove_the_page() {
    let none = |_: &str| false;
    let stats = parse(b"a 1\nb 2\n", &Limits::default(), none, |_| {}).expect("valid page, nothing wanted");
    assert_eq!(
        stats,
        ParseStats {
            lines: 2,
            samples: 0,
            skipped_invalid: 0,
            ignored: 2,
            first_invalid: None,
        }
    );
    let garbage = parse(b"Not Found\n", &Limits::default(), none, |_| {});
    assert_eq!(
        garbage,
        Err(ExpositionError::NotAnExposition {
            line: 1,
            reason: "invalid value"
        })
    );
}

#[test]
fn long_lines_are_skipped() {
    let limits = Limits {
        max_line_len: 64,
        ..Limits::default()
    };
    let long = format!("m{{a=\"{}\"}} 1\nm 2\n", "x".repeat(100));
    let mut values = Vec::new();
    let stats = parse(long.as_bytes(), &limits, |_| true, |s| values.push(s.value)).expect("parses");
    assert_eq!((values, stats.skipped_invalid), (vec![2.0], 1));
    // A 10 MB line alone is one invalid line, so the body is not an exposition.
    let huge = format!("m{{a=\"{}\"}} 1", "x".repeat(10 << 20));
    assert_eq!(
        parse_all(huge.as_bytes()).map(|_| ()),
        Err(ExpositionError::NotAnExposition {
            line: 1,
            reason: "line longer than the limit"
        })
    );
}

#[test]
fn too_many_lines_is_an_error() {
    let limits = Limits {
        max_lines: 3,
        ..Limits::default()
    };
    let ok = parse(b"a 1\nb 2\nc 3\n", &limits, |_| true, |_| {});
    assert_eq!(ok.map(|s| s.samples), Ok(3));
    let too_many = parse(b"a 1\nb 2\nc 3\n\n", &limits, |_| true, |_| {});
    assert_eq!(too_many, Err(ExpositionError::TooManyLines { limit: 3 }));
    let body = "m 1\n".repeat(Limits::default().max_lines + 1);
    assert_eq!(
        parse_all(body.as_bytes()).map(|_| ()),
        Err(ExpositionError::TooManyLines { limit: 200_000 })
    );
}

#[test]
fn too_many_label_pairs_are_skipped() {
    let limits = Limits {
        max_label_pairs: 2,
        ..Limits::default()
    };
    let body = "m{a=\"1\",b=\"2\"} 1\nm{a=\"1\",b=\"2\",c=\"3\"} 2\n";
    let stats = parse(body.as_bytes(), &limits, |_| true, |_| {}).expect("parses");
    assert_eq!((stats.samples, stats.skipped_invalid), (1, 1));
}

#[test]
fn openmetrics_fixture() {
    let body = include_bytes!("../../tests/fixtures/metrics_openmetrics.txt");
    let (samples, stats) = parse_all(body).expect("fixture parses");
    assert_eq!((samples.len(), stats.skipped_invalid, stats.lines), (13, 0, 25));
    let stale = &samples[2];
    assert_eq!(
        (stale.label("reason").as_deref(), stale.timestamp_ms),
        (Some("STALE"), Some(1_763_798_400_250))
    );
    let bucket = &samples[3];
    assert_eq!(
        (bucket.label("le").as_deref(), bucket.value, bucket.timestamp_ms),
        (Some("0.1"), 8.0, None)
    );
    assert_eq!(samples[8].name, "rn_misc_build_info");
    let weird = &samples[11];
    assert_eq!(
        weird.label("escaped").as_deref(),
        Some("tab\\t is not an escape, quote \" and newline \n are")
    );
    assert_eq!(weird.value, f64::NEG_INFINITY);
    assert_eq!(samples[12].label("empty").as_deref(), Some(""));
}
