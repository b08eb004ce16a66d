//! Label sets, kept as the raw text between the braces and decoded only when asked for.
//!
//! The grammar lives in [`next_pair`] alone, so the line parser (which validates a label set
//! once, when the sample is read) and [`LabelIter`] (which walks it again on demand) cannot
//! disagree about where a pair ends.

use std::borrow::Cow;

use super::{Invalid, scan};

/// The label set of a [`Sample`](super::Sample), validated but not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Labels<'a> {
    /// Text between `{` and `}`, already known to follow [`next_pair`]'s grammar.
    raw: &'a str,
}

impl<'a> Labels<'a> {
    /// Validates the label set at the start of `rest` (the line after its `{`). Returns the set
    /// and the rest of the line after the closing `}`.
    pub(super) fn read(rest: &'a str, max_pairs: usize) -> Result<(Labels<'a>, &'a str), Invalid> {
        let mut pos = 0;
        let mut pairs = 0usize;
        while next_pair(rest, &mut pos)?.is_some() {
            pairs += 1;
            if pairs > max_pairs {
                return Err(Invalid::TooManyLabels);
            }
        }
        if rest.as_bytes().get(pos) != Some(&b'}') {
            return Err(Invalid::LabelSetUnterminated);
        }
        // `pos` is at an ASCII `}`, so both slices cut on char boundaries.
        let raw = rest.get(..pos).ok_or(Invalid::LabelSetUnterminated)?;
        let after = rest.get(pos + 1..).ok_or(Invalid::LabelSetUnterminated)?;
        Ok((Labels { raw }, after))
    }

    /// The text between the braces, escapes and all (empty when the sample had no braces).
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// The decoded value of the first label named `key`. Only that value is decoded.
    pub fn get(&self, key: &str) -> Option<Cow<'a, str>> {
        let mut pos = 0;
        // Validated when the sample was parsed, so an error cannot occur; it would read as absent.
        while let Ok(Some((name, value))) = next_pair(self.raw, &mut pos) {
            if name == key {
                return Some(value.decode());
            }
        }
        None
    }

    /// The pairs in page order, values decoded (borrowed unless they contain escapes).
    pub fn iter(&self) -> LabelIter<'a> {
        LabelIter { raw: self.raw, pos: 0 }
    }
}

/// Iterator over the `(name, value)` pairs of a [`Labels`].
#[derive(Debug, Clone)]
pub struct LabelIter<'a> {
    raw: &'a str,
    pos: usize,
}

impl<'a> Iterator for LabelIter<'a> {
    type Item = (&'a str, Cow<'a, str>);

    fn next(&mut self) -> Option<Self::Item> {
        // The text was validated when the sample was parsed, so an error cannot occur here;
        // if it somehow did, ending the iteration is the harmless answer.
        let (name, value) = next_pair(self.raw, &mut self.pos).ok().flatten()?;
        Some((name, value.decode()))
    }
}

/// A label value as written on the page, between its quotes.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawValue<'a> {
    text: &'a str,
    escaped: bool,
}

impl<'a> RawValue<'a> {
    /// Undoes the exposition format's three escapes (`\\`, `\"`, `\n`); borrows when there are none.
    fn decode(self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.text);
        }
        let mut out = String::with_capacity(self.text.len());
        let mut chars = self.text.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            // Validation admitted only these three escapes.
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        }
        Cow::Owned(out)
    }
}

/// Reads the pair starting at `*pos` in `raw` and moves `*pos` past it and its separating comma.
/// `Ok(None)` at the end of the set: the end of `raw` or a `}` outside quotes, where `*pos` is
/// left. `raw` is either the rest of a line after its `{` or, later, the stored set.
///
/// Grammar, with optional blanks (space, tab) between all tokens:
/// `[name = "value" {, name = "value"} [,]]`. The trailing comma is what the Java simpleclient
/// writes (`{reason="X",}`).
pub(super) fn next_pair<'a>(raw: &'a str, pos: &mut usize) -> Result<Option<(&'a str, RawValue<'a>)>, Invalid> {
    let bytes = raw.as_bytes();
    let mut i = skip_blanks(bytes, *pos);
    if matches!(bytes.get(i), None | Some(b'}')) {
        *pos = i;
        return Ok(None);
    }
    let name_start = i;
    if !bytes.get(i).is_some_and(|b| scan::is_label_name_start(*b)) {
        return Err(Invalid::LabelName);
    }
    while bytes.get(i).is_some_and(|b| scan::is_label_name_char(*b)) {
        i += 1;
    }
    // Both ends sit next to ASCII bytes (or at the end), hence on char boundaries.
    let name = raw.get(name_start..i).ok_or(Invalid::LabelName)?;
    i = skip_blanks(bytes, i);
    if bytes.get(i) != Some(&b'=') {
        return Err(Invalid::LabelEquals);
    }
    i = skip_blanks(bytes, i + 1);
    if bytes.get(i) != Some(&b'"') {
        return Err(Invalid::LabelQuote);
    }
    i += 1;
    let value_start = i;
    let mut escaped = false;
    loop {
        let run = bytes
            .get(i..)
            .and_then(scan::find_quote_or_backslash)
            .ok_or(Invalid::LabelUnterminated)?;
        i += run;
        if bytes.get(i) == Some(&b'"') {
            break;
        }
        if !matches!(bytes.get(i + 1), Some(b'\\' | b'"' | b'n')) {
            return Err(Invalid::LabelEscape);
        }
        escaped = true;
        i += 2;
    }
    let text = raw.get(value_start..i).ok_or(Invalid::LabelUnterminated)?;
    i = skip_blanks(bytes, i + 1);
    match bytes.get(i) {
        None | Some(b'}') => {}
        Some(b',') => i += 1,
        Some(_) => return Err(Invalid::LabelSeparator),
    }
    *pos = i;
    Ok(Some((name, RawValue { text, escaped })))
}

fn skip_blanks(bytes: &[u8], mut i: usize) -> usize {
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}
