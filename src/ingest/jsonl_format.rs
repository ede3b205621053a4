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

/// Read a JSON-lines text into `out`; `Some(rejection)` when the file cannot be read.
pub(super) fn read(
    text: &str,
    label: &str,
    specs: &[FieldSpec],
    out: &mut Batches,
) -> Result<Option<FileRead>, Error> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    // A field asked for twice reads the same key: (later index, first index) pairs.
    let aliases: Vec<(usize, usize)> = (0..names.len())
        .filter_map(|j| {
            let first = names.iter().position(|n| *n == names[j])?;
            (first != j).then_some((j, first))
        })
        .collect();
    let mut values: Vec<Option<&str>> = vec![None; names.len()];
    let mut present = vec![false; names.len()];
    // Which fields occur (even as null) in at least one object of the file.
    let mut seen = vec![false; names.len()];
    let mut objects = 0usize;
    let mut first_object: Option<(usize, &str)> = None;

    for (i, raw_line) in text.split('\n').enumerate() {
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if is_blank(line.as_bytes()) {
            continue;
        }
        values.iter_mut().for_each(|v| *v = None);
        present.iter_mut().for_each(|p| *p = false);
        if parse_object(line, &names, &mut values, &mut present) {
            for &(j, first) in &aliases {
                values[j] = values[first];
                present[j] = present[first];
            }
            objects += 1;
            first_object.get_or_insert((i + 1, line));
            for (s, p) in seen.iter_mut().zip(&present) {
                *s |= *p;
            }
            out.push(i + 1, line, Some(&values))?;
        } else {
            out.push::<&str>(i + 1, line, None)?;
        }
    }

    if out.rows() == 0 {
        return Ok(Some(FileRead::rejected(
            codes::EMPTY,
            format!("{label}: no records (the file holds only blank lines)"),
        )));
    }
    // A file with no object at all keeps its records: each is MALFORMED, which says more than
    // "missing columns" would.
    if let Some((first_line, first)) = first_object {
        let missing: Vec<&str> = specs
            .iter()
            .zip(&seen)
            .filter(|(spec, seen)| spec.required && !**seen)
            .map(|(spec, _)| spec.name.as_str())
            .collect();
        if !missing.is_empty() {
            let keys = object_keys(first).join(", ");
            return Ok(Some(FileRead::rejected(
                codes::MISSING_COLUMNS,
                format!(
                    "{label}: required field(s) {} occur in none of the {objects} JSON objects \
                     of the file; the first object (line {first_line}) has the keys: {keys}",
                    missing.join(", "),
                ),
            )));
        }
    }
    Ok(None)
}

/// Parse one line as a JSON object, filling `values` / `present` for the wanted keys. `false`
/// when the line is not valid JSON (NaN and Infinity are not), or not an object.
fn parse_object<'de>(
    line: &'de str,
    names: &[&str],
    values: &mut [Option<&'de str>],
    present: &mut [bool],
) -> bool {
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
