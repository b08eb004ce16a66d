//! What a broken or hostile endpoint makes of an answer: a redirect elsewhere, values that are
//! not numbers, bytes that are not UTF-8, and the headers that go with them. Pure: each takes
//! the answer a healthy node would give and changes only what its mode says.
//!
//! The changes work on the bytes of the page and on JSON as JSON, by the formats' own grammar
//! (a sample line's value is its first token after the name and labels; a JSON number written
//! as a string is a string of digits), never with the operator's parsers.

use serde_json::Value;

use super::{Body, Call, PLAIN, Reply};
use crate::sim::mode::{Mode, REDIRECT_TO};

/// What `nan_values` writes, in turn, where a number was.
const NOT_NUMBERS: [&str; 4] = ["NaN", "+Inf", "-Inf", "-0"];
/// What `invalid_utf8` puts at the start of each string: a lone continuation byte and a byte
/// UTF-8 never uses.
const NOT_UTF8: &[u8] = b"\x80\xff";

/// `302 Found` to the same path on another host and port.
pub(super) fn redirect() -> Reply {
    Reply {
        status: 302,
        content_type: PLAIN,
        body: Body::Full(b"Found (nodehealth-sim redirect mode)\n".to_vec()),
    }
}

/// Headers an answer needs beyond its content type: where a redirect points, the encoding of a
/// gzip bomb, the length an oversized body announces.
pub fn headers(mode: Mode, call: &Call, body: &Body) -> Vec<(&'static str, String)> {
    match (mode, body) {
        (Mode::Redirect, _) => vec![("location", format!("{REDIRECT_TO}{}", call.path))],
        (Mode::GzipBomb { .. }, _) => vec![("content-encoding", "gzip".to_owned())],
        (
            Mode::Oversized {
                content_length: true, ..
            },
            Body::Streamed(chunks),
        ) => vec![("content-length", chunks.len().to_string())],
        _ => Vec::new(),
    }
}

/// Every sample value of an exposition, or every number-as-string of a JSON body, replaced in
/// turn by `NaN`, `+Inf`, `-Inf`, `-0`. JSON numbers stay: JSON cannot write NaN.
pub(super) fn nan_values(reply: Reply) -> Reply {
    let Body::Full(body) = &reply.body else {
        return reply;
    };
    let body = if reply.content_type.contains("json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(mut v) => {
                strings_not_numbers(&mut v, &mut 0);
                serde_json::to_vec(&v).unwrap_or_default()
            }
            Err(_) => return reply,
        }
    } else {
        values_not_numbers(body)
    };
    Reply {
        body: Body::Full(body),
        ..reply
    }
}

/// Each string of `v` that writes a number (`"12345"`, `"0x1a"`, `"-3.5"`) becomes the next
/// of [`NOT_NUMBERS`].
fn strings_not_numbers(v: &mut Value, n: &mut usize) {
    match v {
        Value::String(s) if writes_a_number(s) => {
            *s = NOT_NUMBERS[*n % NOT_NUMBERS.len()].to_owned();
            *n += 1;
        }
        Value::Array(items) => items.iter_mut().for_each(|i| strings_not_numbers(i, n)),
        Value::Object(fields) => fields.values_mut().for_each(|f| strings_not_numbers(f, n)),
        _ => {}
    }
}

fn writes_a_number(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("0x") {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    digits.bytes().next().is_some_and(|b| b.is_ascii_digit()) && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// An exposition with each sample line's value (the token after the name and label set) the
/// next of [`NOT_NUMBERS`]; comments and blank lines as they were.
fn values_not_numbers(page: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(page.len());
    let mut n = 0;
    for line in page.split_inclusive(|b| *b == b'\n') {
        let sample = line.first().is_some_and(|b| *b != b'#' && !b.is_ascii_whitespace());
        // The value starts after the label set's `}`, or after the name.
        let after_labels = line.iter().rposition(|b| *b == b'}').map(|i| i + 1);
        let value_at = after_labels
            .or_else(|| line.iter().position(|b| *b == b' '))
            .and_then(|from| Some(from + line[from..].iter().position(|b| *b != b' ')?));
        let (Some(start), true) = (value_at, sample) else {
            out.extend_from_slice(line);
            continue;
        };
        let end = start
            + line[start..]
                .iter()
                .position(|b| b.is_ascii_whitespace())
                .unwrap_or(line.len() - start);
        out.extend_from_slice(&line[..start]);
        out.extend_from_slice(NOT_NUMBERS[n % NOT_NUMBERS.len()].as_bytes());
        out.extend_from_slice(&line[end..]);
        n += 1;
    }
    out
}

/// Bytes that are not UTF-8 at the start of every JSON string value (`"key":"…`) and every
/// label value (`key="…`).
pub(super) fn invalid_utf8(reply: Reply) -> Reply {
    let Body::Full(body) = &reply.body else {
        return reply;
    };
    let opening: &[u8] = if reply.content_type.contains("json") {
        b":\""
    } else {
        b"=\""
    };
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut rest = &body[..];
    while let Some(i) = rest.windows(2).position(|w| w == opening) {
        out.extend_from_slice(&rest[..i + 2]);
        out.extend_from_slice(NOT_UTF8);
        rest = &rest[i + 2..];
    }
    out.extend_from_slice(rest);
    Reply {
        body: Body::Full(out),
        ..reply
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::render::{JSON, PROMETHEUS_TEXT};

    fn full(content_type: &'static str, body: &[u8]) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: Body::Full(body.to_vec()),
        }
    }

    fn bytes(r: Reply) -> Vec<u8> {
        r.body.collect()
    }

    #[test]
    fn every_sample_value_in_turn_is_not_a_number() {
        let page = b"# HELP a x\n# TYPE a gauge\na 1\nb{k=\"v w}\",} 2.5 1700000000000\nc{k=\"v\"} 3\nd  4\ne 5\n\n";
        let out = String::from_utf8(bytes(nan_values(full(PROMETHEUS_TEXT, page)))).unwrap();
        assert_eq!(
            out,
            "# HELP a x\n# TYPE a gauge\na NaN\nb{k=\"v w}\",} +Inf 1700000000000\nc{k=\"v\"} -Inf\nd  -0\ne NaN\n\n"
        );
    }

    #[test]
    fn json_numbers_written_as_strings_are_not_numbers_and_real_numbers_stay() {
        let body = br#"{"a":"123","b":{"c":["0x1a","-4.5","abc"]},"d":7,"e":"","f":"1.2.3x"}"#;
        let v: Value = serde_json::from_slice(&bytes(nan_values(full(JSON, body)))).unwrap();
        assert_eq!(v["a"], "NaN");
        assert_eq!(v["b"]["c"], serde_json::json!(["+Inf", "-Inf", "abc"]));
        assert_eq!(v["d"], 7);
        assert_eq!(v["e"], "");
        assert_eq!(v["f"], "1.2.3x");
    }

    #[test]
    fn strings_and_label_values_start_with_bytes_that_are_not_utf8() {
        let out = bytes(invalid_utf8(full(JSON, br#"{"status":"UP","n":1}"#)));
        assert_eq!(out, b"{\"status\":\"\x80\xffUP\",\"n\":1}");
        assert!(std::str::from_utf8(&out).is_err());
        let out = bytes(invalid_utf8(full(PROMETHEUS_TEXT, b"a 1\nb{k=\"v\"} 2\n")));
        assert_eq!(out, b"a 1\nb{k=\"\x80\xffv\"} 2\n");
    }

    #[test]
    fn headers_of_each_mode() {
        let call = Call {
            path: "/system/health".into(),
            rpc: None,
        };
        let none = Body::Full(Vec::new());
        assert_eq!(
            headers(Mode::Redirect, &call, &none),
            [("location", "http://198.51.100.7:8080/system/health".to_owned())]
        );
        assert_eq!(
            headers(Mode::GzipBomb { mb: 1 }, &call, &none),
            [("content-encoding", "gzip".to_owned())]
        );
        assert!(headers(Mode::Synced, &call, &none).is_empty());
    }
}
