//! Prometheus text exposition (format 0.0.4) and OpenMetrics text parser, built for the pages of
//! real Radix nodes, where a Java writer (simpleclient) and a Rust writer share one exposition.
//!
//! - Zero-copy: a [`Sample`] borrows its name and its label text from the body; label values are
//!   decoded only when asked for, and only allocate when they contain escapes.
//! - Cheap filtering: the caller's `keep` filter sees each metric name before anything else of the
//!   line is read, so unwanted families cost a name scan and no allocation.
//! - Tolerant: trailing commas in label sets, `2.31457E8`, `NaN`, `±Inf`, timestamps (integer
//!   milliseconds or OpenMetrics seconds), exemplars, `_created` series, HELP/TYPE lines in any
//!   order or missing, CRLF line ends, blank lines and `# EOF`. Metadata is not interpreted: a
//!   sample's family is its name, whatever `# TYPE` says.
//! - Strict only where it matters: an invalid line is skipped and counted, never fatal; only a
//!   body with lines but not a single valid sample (HTML, JSON, binary) is an error, and an error
//!   names at most a line number and a fixed reason, never the body's text.
//! - Bounded by [`Limits`]: [`parse`] allocates nothing; [`parse_all`] allocates one entry per
//!   sample line, at most [`Limits::max_lines`].

mod labels;
mod line;
#[cfg(test)]
mod proptests;
mod scan;
#[cfg(test)]
mod tests;

use std::borrow::Cow;

pub use labels::{LabelIter, Labels};

/// One sample line, borrowing from the body it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    /// The metric name as written, suffixes included (`…_total`, `…_created`, `…_sum`).
    pub name: &'a str,
    labels: Labels<'a>,
    pub value: f64,
    /// Milliseconds since the Unix epoch, when the line carries a timestamp.
    pub timestamp_ms: Option<i64>,
}

impl<'a> Sample<'a> {
    pub(crate) fn new(name: &'a str, labels: Labels<'a>, value: f64, timestamp_ms: Option<i64>) -> Self {
        Sample {
            name,
            labels,
            value,
            timestamp_ms,
        }
    }

    /// The decoded value of label `key` (borrowed unless it contains escapes).
    pub fn label(&self, key: &str) -> Option<Cow<'a, str>> {
        self.labels.get(key)
    }

    /// The label pairs in page order, values decoded.
    pub fn labels(&self) -> LabelIter<'a> {
        self.labels.iter()
    }

    /// The label set, validated but undecoded.
    pub fn label_set(&self) -> Labels<'a> {
        self.labels
    }
}

/// How a page parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Lines read, comments and blank lines included (up to `# EOF` when there is one).
    pub lines: usize,
    /// Samples handed to the visitor.
    pub samples: usize,
    /// Lines skipped as invalid. Lines of unwanted families are not validated once the page has
    /// shown a valid sample, so they are counted in `ignored` even when malformed.
    pub skipped_invalid: usize,
    /// Sample lines of families the filter did not keep.
    pub ignored: usize,
    /// The first line skipped as invalid: its number and why, in fixed words (never its text).
    pub first_invalid: Option<(usize, &'static str)>,
}

/// Why a body is not a metrics page.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ExpositionError {
    /// No valid sample, and the body is not UTF-8 (binary data or another charset). `line` holds
    /// the first byte that is not.
    #[error("metrics body is not UTF-8 text (line {line})")]
    NotUtf8 { line: usize },
    /// Lines, but not a single valid sample among them.
    #[error("metrics body is not a Prometheus/OpenMetrics exposition (line {line}: {reason})")]
    NotAnExposition { line: usize, reason: &'static str },
    /// More lines than [`Limits::max_lines`].
    #[error("metrics body has more than {limit} lines")]
    TooManyLines { limit: usize },
}

/// Bounds on the work and memory one page may cost.
///
/// The defaults are sized from a real Babylon node's page: a few thousand lines, the longest
/// (`rn_misc_config_info`) a few hundred bytes with about six label pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// More lines than this make the whole page an error ([`ExpositionError::TooManyLines`]).
    /// Default 200 000: about 50 times a real page, some 20 MB of typical lines.
    pub max_lines: usize,
    /// Longer lines are skipped as invalid, so no single label value can be decoded into a
    /// buffer larger than this. Default 64 KiB: over 100 times the longest real line.
    pub max_line_len: usize,
    /// Lines with more label pairs are skipped as invalid. Default 64: ten times the widest
    /// real label set.
    pub max_label_pairs: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_lines: 200_000,
            max_line_len: 64 * 1024,
            max_label_pairs: 64,
        }
    }
}

/// Why one line was skipped. Each reason is a fixed text, so errors never carry page content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    LineTooLong,
    NotUtf8,
    Markup,
    Json,
    MetricName,
    LabelName,
    LabelEquals,
    LabelQuote,
    LabelUnterminated,
    LabelEscape,
    LabelSeparator,
    LabelSetUnterminated,
    TooManyLabels,
    MissingValue,
    Value,
    Timestamp,
    Trailing,
}

impl Invalid {
    fn reason(self) -> &'static str {
        match self {
            Invalid::LineTooLong => "line longer than the limit",
            Invalid::NotUtf8 => "not UTF-8",
            Invalid::Markup => "starts with '<' (HTML or XML?)",
            Invalid::Json => "starts with '{' or '[' (JSON?)",
            Invalid::MetricName => "invalid metric name",
            Invalid::LabelName => "invalid label name",
            Invalid::LabelEquals => "expected '=' after a label name",
            Invalid::LabelQuote => "expected '\"' to open a label value",
            Invalid::LabelUnterminated => "unterminated label value",
            Invalid::LabelEscape => "invalid escape in a label value",
            Invalid::LabelSeparator => "expected ',' or '}' after a label value",
            Invalid::LabelSetUnterminated => "label set not closed by '}'",
            Invalid::TooManyLabels => "more label pairs than the limit",
            Invalid::MissingValue => "missing value",
            Invalid::Value => "invalid value",
            Invalid::Timestamp => "invalid timestamp",
            Invalid::Trailing => "unexpected text after the timestamp",
        }
    }
}

/// Parses `body`, handing every valid sample of a family that `keep` accepts to `visit`.
///
/// `keep` gets each sample line's metric name (suffixes included) before its labels are read.
/// On `Err`, samples already visited belong to a page that is being rejected and should be
/// dropped.
pub fn parse<'a>(
    body: &'a [u8],
    limits: &Limits,
    mut keep: impl FnMut(&str) -> bool,
    mut visit: impl FnMut(Sample<'a>),
) -> Result<ParseStats, ExpositionError> {
    let mut stats = ParseStats::default();
    let mut first_invalid: Option<(usize, Invalid)> = None;
    // Until one line has proven the body is an exposition, even unwanted families are fully
    // validated, so a page of garbage is told apart from a page of families nobody asked for.
    // On a real page the first sample line settles it.
    let mut proven = false;
    // One validation of the whole body is cheaper than one per line; a body that fails it is
    // still read, line by line, so that one bad byte costs one line only.
    let text = std::str::from_utf8(body).ok();
    let mut pos = 0;
    while pos < body.len() {
        let rest = body.get(pos..).unwrap_or_default();
        let len = scan::find_newline(rest).unwrap_or(rest.len());
        let (start, end) = (pos, pos + len);
        pos = end + 1;
        stats.lines += 1;
        if stats.lines > limits.max_lines {
            return Err(ExpositionError::TooManyLines {
                limit: limits.max_lines,
            });
        }
        // CRLF: the `\r` belongs to the line end.
        let end = if end > start && body.get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        let line = line::Line {
            bytes: body.get(start..end).unwrap_or_default(),
            // Cut next to ASCII line ends, so always on char boundaries.
            text: text.and_then(|text| text.get(start..end)),
        };
        let outcome = if line.bytes.len() > limits.max_line_len {
            Err(Invalid::LineTooLong)
        } else {
            match line::classify(&line) {
                Ok(line::Kind::Blank | line::Kind::Comment) => continue,
                Ok(line::Kind::Eof) => break,
                Ok(line::Kind::Sample { name, rest_at }) => {
                    let wanted = keep(name);
                    if !wanted && proven {
                        stats.ignored += 1;
                        continue;
                    }
                    line::parse_sample(&line, name, rest_at, limits).map(|sample| (wanted, sample))
                }
                Err(invalid) => Err(invalid),
            }
        };
        match outcome {
            Ok((wanted, sample)) => {
                proven = true;
                if wanted {
                    stats.samples += 1;
                    visit(sample);
                } else {
                    stats.ignored += 1;
                }
            }
            Err(invalid) => {
                stats.skipped_invalid += 1;
                first_invalid.get_or_insert((stats.lines, invalid));
            }
        }
    }
    match first_invalid {
        Some((line, invalid)) if !proven => Err(not_an_exposition(body, line, invalid)),
        _ => {
            stats.first_invalid = first_invalid.map(|(line, invalid)| (line, invalid.reason()));
            Ok(stats)
        }
    }
}

/// The error for a body without a single valid sample. Binary data is named as such, whatever
/// line tripped first; this costs a scan of the body, on the error path only.
fn not_an_exposition(body: &[u8], line: usize, invalid: Invalid) -> ExpositionError {
    match std::str::from_utf8(body) {
        Err(e) => {
            let before = body.get(..e.valid_up_to()).unwrap_or_default();
            ExpositionError::NotUtf8 {
                line: 1 + before.iter().filter(|b| **b == b'\n').count(),
            }
        }
        Ok(_) => ExpositionError::NotAnExposition {
            line,
            reason: invalid.reason(),
        },
    }
}

/// Every valid sample of `body`, under the default [`Limits`].
pub fn parse_all(body: &[u8]) -> Result<(Vec<Sample<'_>>, ParseStats), ExpositionError> {
    let mut samples = Vec::new();
    let stats = parse(body, &Limits::default(), |_| true, |sample| samples.push(sample))?;
    Ok((samples, stats))
}
