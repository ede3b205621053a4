//! JSON lines: one JSON value per physical line. A field's value is the raw JSON text of the
//! top-level key's value (`100`, `100.0`, `"100"` with its quotes, `{"a":1}`), NULL for `null`
//! or an absent key. Keys are matched exactly (case-sensitive) after JSON unescaping; if a key
//! appears twice in one object, the last value wins (as in `serde_json::Value`).

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::batch::Batches;
use super::{FieldSpec, FileRead, codes, is_blank};
use crate::error::Error;

/// What reading a JSON-lines file has seen so far; the text comes in pieces of whole lines
/// ([`JsonlRead::feed`]), the verdict at the end ([`JsonlRead::finish`]).
pub(super) struct JsonlRead<'s> {
    specs: &'s [FieldSpec],
    names: Vec<&'s str>,
    /// A field asked for twice reads the same key: (later index, first index) pairs.
    aliases: Vec<(usize, usize)>,
    /// Which fields occur (even as null) in at least one object of the file.
    seen: Vec<bool>,
    objects: usize,
    /// The first object's line and keys (for the MISSING_COLUMNS message).
    first_object: Option<(usize, Vec<String>)>,
    rows: usize,
}

impl<'s> JsonlRead<'s> {
    pub(super) fn new(specs: &'s [FieldSpec]) -> Self {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        let aliases = (0..names.len())
            .filter_map(|j| {
                let first = names.iter().position(|n| *n == names[j])?;
                (first != j).then_some((j, first))
            })
            .collect();
        JsonlRead {
            specs,
            seen: vec![false; names.len()],
            names,
            aliases,
            objects: 0,
            first_object: None,
            rows: 0,
        }
    }

    /// The lines of `text` (whole lines; the first is line `first_line` of the file) into `out`.
    pub(super) fn feed<'t>(
        &mut self,
        text: &'t str,
        first_line: usize,
        out: &mut Batches<'t>,
    ) -> Result<(), Error> {
        let mut values: Vec<Option<&str>> = vec![None; self.names.len()];
        let mut present = vec![false; self.names.len()];
        for (i, raw_line) in text.split('\n').enumerate() {
            let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            if is_blank(line.as_bytes()) {
                continue;
            }
            let number = first_line + i;
            values.iter_mut().for_each(|v| *v = None);
            present.iter_mut().for_each(|p| *p = false);
            if parse_object(line, &self.names, &mut values, &mut present) {
                for &(j, first) in &self.aliases {
                    values[j] = values[first];
                    present[j] = present[first];
                }
                self.objects += 1;
                if self.first_object.is_none() {
                    self.first_object = Some((number, object_keys(line)));
                }
                for (s, p) in self.seen.iter_mut().zip(&present) {
                    *s |= *p;
                }
                out.push(number, line, Some(&values))?;
            } else {
                out.push::<&str>(number, line, None)?;
            }
            self.rows += 1;
        }
        Ok(())
    }

    /// `Some(rejection)` when the whole file, now read, cannot be taken.
    pub(super) fn finish(&self, label: &str) -> Option<FileRead> {
        if self.rows == 0 {
            return Some(FileRead::rejected(
                codes::EMPTY,
                format!("{label}: no records (the file holds only blank lines)"),
            ));
        }
        // A file with no object at all keeps its records: each is MALFORMED, which says more
        // than "missing columns" would.
        let (first_line, keys) = self.first_object.as_ref()?;
        let missing: Vec<&str> = self
            .specs
            .iter()
            .zip(&self.seen)
            .filter(|(spec, seen)| spec.required && !**seen)
            .map(|(spec, _)| spec.name.as_str())
            .collect();
        if missing.is_empty() {
            return None;
        }
        Some(FileRead::rejected(
            codes::MISSING_COLUMNS,
            format!(
                "{label}: required field(s) {} occur in none of the {} JSON objects of the \
                 file; the first object (line {first_line}) has the keys: {}",
                missing.join(", "),
                self.objects,
                keys.join(", ")
            ),
        ))
    }
}

/// Parse one line as a JSON object, filling `values` / `present` for the wanted keys. `false`
/// when the line is not valid JSON (NaN and Infinity are not), or not an object.
fn parse_object<'de>(
    line: &'de str,
    names: &[&str],
    values: &mut [Option<&'de str>],
    present: &mut [bool],
) -> bool {
    if flat::parse(line, names, values, present) {
        return true;
    }
    values.iter_mut().for_each(|v| *v = None);
    present.iter_mut().for_each(|p| *p = false);
    let mut de = serde_json::Deserializer::from_str(line);
    let visitor = ObjectVisitor {
        names,
        values,
        present,
    };
    de::Deserializer::deserialize_map(&mut de, visitor).is_ok() && de.end().is_ok()
}

struct ObjectVisitor<'a, 'de> {
    names: &'a [&'a str],
    values: &'a mut [Option<&'de str>],
    present: &'a mut [bool],
}

impl<'de> Visitor<'de> for ObjectVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeySeed(self.names))? {
            match key {
                Some(idx) => {
                    let raw: &'de RawValue = map.next_value()?;
                    let text = raw.get();
                    self.values[idx] = (text != "null").then_some(text);
                    self.present[idx] = true;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Deserializes an object key into the index of the wanted field it names, if any.
struct KeySeed<'a>(&'a [&'a str]);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|n| *n == key))
    }
}

/// The top-level keys of an object line (for messages only).
fn object_keys(line: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The fast path of [`parse_object`]: a flat object whose keys and string values hold no
/// escapes, and whose values are strings, numbers, `true`, `false` or `null` — what event
/// streams and exports write, line after line. One pass over the bytes with the JSON grammar
/// of those pieces; anything else (an escape, a nested value, a syntax error) returns `false`
/// and the line goes to serde_json, which then decides. So a line this accepts is one
/// serde_json accepts, with the same values (reading the generated benchmark events: about
/// twice as fast as serde_json's visitor).
mod flat {
    /// JSON's whitespace (a line holds no LF).
    fn ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        i
    }

    /// A string without escapes starting at `i` (a quote): the index after its closing quote.
    fn string(b: &[u8], i: usize) -> Option<usize> {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'"' => return Some(j + 1),
                b'\\' => return None,
                c if c < 0x20 => return None,
                _ => j += 1,
            }
        }
        None
    }

    fn digits(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    }

    /// A JSON number starting at `i`: the index after it.
    fn number(b: &[u8], mut i: usize) -> Option<usize> {
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(c) if c.is_ascii_digit() => i = digits(b, i),
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            let j = digits(b, i + 1);
            if j == i + 1 {
                return None;
            }
            i = j;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let j = digits(b, i);
            if j == i {
                return None;
            }
            i = j;
        }
        Some(i)
    }

    fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
        b[i..].starts_with(word).then_some(i + word.len())
    }

    pub(super) fn parse<'de>(
        line: &'de str,
        names: &[&str],
        values: &mut [Option<&'de str>],
        present: &mut [bool],
    ) -> bool {
        let b = line.as_bytes();
        let mut i = ws(b, 0);
        if b.get(i) != Some(&b'{') {
            return false;
        }
        i = ws(b, i + 1);
        if b.get(i) == Some(&b'}') {
            return ws(b, i + 1) == b.len();
        }
        loop {
            if b.get(i) != Some(&b'"') {
                return false;
            }
            let Some(key_end) = string(b, i) else {
                return false;
            };
            let key = &line[i + 1..key_end - 1];
            i = ws(b, key_end);
            if b.get(i) != Some(&b':') {
                return false;
            }
            let start = ws(b, i + 1);
            let end = match b.get(start) {
                Some(b'"') => string(b, start),
                Some(b't') => literal(b, start, b"true"),
                Some(b'f') => literal(b, start, b"false"),
                Some(b'n') => literal(b, start, b"null"),
                Some(_) => number(b, start),
                None => None,
            };
            let Some(end) = end else {
                return false;
            };
            if let Some(idx) = names.iter().position(|n| *n == key) {
                let text = &line[start..end];
                values[idx] = (text != "null").then_some(text);
                present[idx] = true;
            }
            i = ws(b, end);
            match b.get(i) {
                Some(b',') => i = ws(b, i + 1),
                Some(b'}') => return ws(b, i + 1) == b.len(),
                _ => return false,
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::parse;

        /// The fast path agrees with serde_json wherever it answers, and declines the rest.
        #[test]
        fn accepts_flat_objects_and_declines_the_rest() {
            let names = ["a", "b"];
            let run = |line: &str| {
                let mut values = [None, None];
                let mut present = [false, false];
                parse(line, &names, &mut values, &mut present)
                    .then(|| (values.map(|v| v.map(str::to_string)), present))
            };
            let some = |a: Option<&str>, b: Option<&str>, pa: bool, pb: bool| {
                Some(([a.map(str::to_string), b.map(str::to_string)], [pa, pb]))
            };
            assert_eq!(
                run(r#"{"a": "x", "b": -1.5e3}"#),
                some(Some(r#""x""#), Some("-1.5e3"), true, true)
            );
            assert_eq!(
                run(r#" {"b":null,"c":true,"a":0} "#),
                some(Some("0"), None, true, true)
            );
            assert_eq!(run(r#"{"a":1,"a":2}"#), some(Some("2"), None, true, false));
            assert_eq!(run("{}"), some(None, None, false, false));
            for declined in [
                r#"{"a":"x\"y"}"#,
                r#"{"a":{"b":1}}"#,
                r#"{"a":[1]}"#,
                r#"{"a":01}"#,
                r#"{"a":1.}"#,
                r#"{"a":-}"#,
                r#"{"a":1,}"#,
                r#"{"a":1} x"#,
                r#"{"a":NaN}"#,
                r#"{"a":tru}"#,
                "{\"a\":\"x\ty\"}",
                r#"[1]"#,
                r#"{"a" 1}"#,
                r#"{"a":1"#,
                "",
            ] {
                assert_eq!(run(declined), None, "{declined}");
            }
        }
    }
}
