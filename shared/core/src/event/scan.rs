//! The quickest path, for the plainest shape of the bulk of every input: a `run.metrics.logged`
//! envelope whose strings have no escapes, scanned byte by byte in one pass with no deserializer
//! machinery (metric values are most of an envelope's bytes, and serde's visitors, borrowed-or-
//! owned keys and key comparisons were most of the cost of reading them).
//!
//! Like [`super::fast`], it answers only where the answer is yes, and the same yes: anything it
//! is not sure of (an escape or a control character in a string, an unexpected type, a duplicate
//! key, a number out of range, a date that does not parse) returns `None`, and the envelope goes
//! on to the typed path and then to the reader in [`super::parse`], which defines what is valid.
//! The tests compare it with the reader on generated envelopes.
//!
//! Numbers: read to JSON's grammar by `lexical-parse-float`, which rounds correctly, as
//! serde_json does with its `float_roundtrip` feature (on in this workspace), and as an integer
//! converted `as f64` does, so they agree to the bit (a property test checks it).

use super::fast::Names;
use super::{Envelope, EventData, MetricsEvent, Row, RunInfo, RunKey};
use crate::time::Timestamp;
use lexical_parse_float::{FromLexicalWithOptions, Options};
use serde_json::{Map, Value};

/// JSON's number grammar: no `+`, no leading zeros, digits on both sides of a `.`, no `NaN`.
const JSON_NUMBER: u128 = lexical_parse_float::format::JSON;
const NUMBER_OPTIONS: Options = Options::new();

/// A metrics envelope in its plainest shape, or `None` for the typed path to judge.
pub(super) fn parse(text: &str) -> Option<Envelope> {
    let mut c = Cursor { text, b: text.as_bytes(), i: 0 };
    let env = c.envelope()?;
    c.ws();
    (c.i == c.b.len()).then_some(env)
}

struct Cursor<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

/// A metric's key: known by the previous row's order, or read.
enum Key<'a> {
    Interned(u32),
    Name(&'a str),
}

/// Fields read once: a second of one is left to the reader.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(value);
    Some(())
}

impl<'a> Cursor<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte that is not whitespace, not taken.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.i += 1)
    }

    /// `}`/`]` ends the object or array (true); `,` goes on (false).
    #[inline]
    fn more(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            b if b == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Iterate an object's keys: call `each` with the cursor on each value.
    fn object(&mut self, mut each: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            each(self, key)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// A string with no escape and no control character, borrowed.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        let s = self.text.get(start..self.i)?;
        self.i += 1;
        Some(s)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// `null` (`None`) or a string.
    fn nullable_string(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        self.string().map(Some)
    }

    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    /// A JSON number, finite as an f64 (serde_json refuses one out of range). Checked to JSON's
    /// grammar and converted in one pass (a check here and then `str::parse` took twice as long:
    /// each read the digits once).
    #[inline]
    fn number(&mut self) -> Option<f64> {
        self.ws();
        let (x, n) =
            f64::from_lexical_partial_with_options::<JSON_NUMBER>(self.b.get(self.i..)?, &NUMBER_OPTIONS).ok()?;
        self.i += n;
        x.is_finite().then_some(x)
    }

    /// A step: a non-negative integer written as one, within i64.
    fn step(&mut self) -> Option<i64> {
        self.ws();
        let start = self.i;
        if self.digits() == 0 || (self.b[start] == b'0' && self.i - start > 1) {
            return None;
        }
        // A fraction or an exponent makes it a float, which a step is not.
        if let Some(b'.' | b'e' | b'E') = self.b.get(self.i) {
            return None;
        }
        self.text.get(start..self.i)?.parse().ok()
    }

    /// Skip a string, which may have the simple escapes (not `\u`: whether one is valid
    /// depends on its neighbours, which is the reader's to judge).
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match *self.b.get(self.i)? {
                b'"' => break,
                b'\\' => match *self.b.get(self.i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                    _ => return None,
                },
                0..=0x1f => return None,
                _ => self.i += 1,
            }
        }
        self.i += 1;
        Some(())
    }

    /// Skip any JSON value (a field nobody reads).
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => {
                // Keys too may have escapes here.
                self.i += 1;
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip_string()?;
                    self.eat(b':')?;
                    self.skip()?;
                    if !self.more(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' => {
                self.i += 1;
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip()?;
                    if !self.more(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    /// The end of the value starting here, skipped: for a value read by serde from its slice.
    fn slice(&mut self) -> Option<&'a str> {
        self.ws();
        let start = self.i;
        self.skip()?;
        self.text.get(start..self.i)
    }

    fn envelope(&mut self) -> Option<Envelope> {
        let (mut spec, mut id, mut source, mut ty, mut time, mut data) = (None, None, None, None, None, None);
        self.object(|c, key| match key {
            "specversion" => once(&mut spec, c.string()?),
            "id" => once(&mut id, c.string()?),
            "source" => once(&mut source, c.string()?),
            "type" => once(&mut ty, c.string()?),
            "time" => once(&mut time, Timestamp::parse_rfc3339(c.string()?).ok()?),
            "data" => {
                if data.is_some() {
                    return None;
                }
                data = Some(c.data()?);
                Some(())
            }
            _ => c.skip(),
        })?;
        let (id, source) = (id?, source?);
        if spec? != "1.0" || id.is_empty() || source.is_empty() || ty? != "run.metrics.logged" {
            return None;
        }
        Some(Envelope { id: id.to_string(), source: source.to_string(), time: time?, data: EventData::Metrics(data?) })
    }

    fn data(&mut self) -> Option<MetricsEvent> {
        let (mut entity, mut project, mut run_id) = (None, None, None);
        let (mut run_name, mut user, mut author, mut tags, mut config) = (None, None, None, None, None);
        let mut rows = None;
        self.object(|c, key| match key {
            "entity" => once(&mut entity, c.string()?),
            "project" => once(&mut project, c.string()?),
            "run_id" => once(&mut run_id, c.string()?),
            "run_name" => once(&mut run_name, c.nullable_string()?),
            "user" => once(&mut user, c.nullable_string()?),
            "author" => once(&mut author, c.nullable_string()?),
            "tags" => once(&mut tags, c.tags()?),
            "config" => once(&mut config, c.config()?),
            "rows" => {
                if rows.is_some() {
                    return None;
                }
                rows = Some(c.rows()?);
                Some(())
            }
            _ => c.skip(),
        })?;
        let required = |s: Option<&str>| s.filter(|s| !s.trim().is_empty()).map(str::to_string);
        let key = RunKey { entity: required(entity)?, project: required(project)?, run_id: required(run_id)? };
        let owned = |s: Option<Option<&str>>| s.flatten().map(str::to_string);
        let run = RunInfo {
            key,
            run_name: owned(run_name),
            user: owned(user),
            tags: tags.flatten().unwrap_or_default(),
            config: config.flatten().unwrap_or_default(),
            author: owned(author),
        };
        let (rows, names) = rows?;
        let (names, values) = names.into_parts();
        Some(MetricsEvent { run, names, rows, values })
    }

    fn tags(&mut self) -> Option<Option<Vec<String>>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        self.eat(b'[')?;
        let mut tags = Vec::new();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Some(tags));
        }
        loop {
            tags.push(self.string()?.to_string());
            if !self.more(b']')? {
                return Some(Some(tags));
            }
        }
    }

    /// A run's config: any JSON object, read by serde_json from its slice (it is small, and
    /// its values are kept as JSON).
    fn config(&mut self) -> Option<Option<Map<String, Value>>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(None);
        }
        if self.peek()? != b'{' {
            return None;
        }
        serde_json::from_str(self.slice()?).ok().map(Some)
    }

    /// The rows, and the names and values they refer to.
    fn rows(&mut self) -> Option<(Vec<Row>, Names)> {
        self.eat(b'[')?;
        let mut names = Names::default();
        let mut rows = Vec::new();
        if self.peek()? != b']' {
            loop {
                rows.push(self.row(&mut names)?);
                if !self.more(b']')? {
                    break;
                }
            }
        } else {
            self.i += 1;
        }
        Some((rows, names))
    }

    fn row(&mut self, names: &mut Names) -> Option<Row> {
        let (mut step, mut time, mut values) = (None, None, None);
        self.object(|c, key| match key {
            "step" => once(&mut step, c.step()?),
            "time" => {
                let t = match c.nullable_string()? {
                    None => None,
                    Some(s) => Some(Timestamp::parse_rfc3339(s).ok()?),
                };
                once(&mut time, t)
            }
            "values" => {
                if values.is_some() {
                    return None;
                }
                values = Some(c.values(names)?);
                Some(())
            }
            _ => c.skip(),
        })?;
        Some(Row { step: step?, time: time.flatten(), values: values? })
    }

    fn values(&mut self, names: &mut Names) -> Option<std::ops::Range<usize>> {
        names.begin_row()?;
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(names.end_row());
        }
        loop {
            self.ws();
            // Rows logged by one loop name their metrics in one order: the key is first compared
            // in place with the name the previous row had here (interned names have no escape
            // and no quote, so equal bytes followed by a quote are that name).
            let predicted = names.predicted().filter(|&(_, p)| self.at_key(p));
            let key = match predicted {
                Some((idx, _)) => Key::Interned(idx),
                None => Key::Name(self.string()?),
            };
            self.eat(b':')?;
            let value = self.value()?;
            let idx = match key {
                Key::Interned(idx) => names.take_interned(idx)?,
                Key::Name(name) => names.take(name, value)?,
            };
            if let (Some(idx), Some(v)) = (idx, value) {
                names.push_value(idx, v);
            }
            if !self.more(b'}')? {
                return Some(names.end_row());
            }
        }
    }

    /// Whether the key here is `"name"`, taken if so.
    #[inline]
    fn at_key(&mut self, name: &str) -> bool {
        let end = self.i + 1 + name.len();
        let here = self
            .b
            .get(self.i..=end)
            .is_some_and(|k| k[0] == b'"' && k[k.len() - 1] == b'"' && &k[1..k.len() - 1] == name.as_bytes());
        if here {
            self.i = end + 1;
        }
        here
    }

    /// A metric value: a number, `null` (not logged), or a non-finite value as a string.
    #[inline]
    fn value(&mut self) -> Option<Option<f64>> {
        match self.peek()? {
            b'n' => self.literal(b"null").map(|()| None),
            b'"' => match self.string()? {
                "NaN" | "nan" => Some(Some(f64::NAN)),
                "Infinity" | "inf" => Some(Some(f64::INFINITY)),
                "-Infinity" | "-inf" => Some(Some(f64::NEG_INFINITY)),
                _ => None,
            },
            _ => self.number().map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::read_envelope_text;
    use super::*;
    use proptest::prelude::*;

    /// Numbers as trackers write them: any finite f64 in Rust's shortest form, in exponent form
    /// with either letter, with 17 digits, as integers of any size, with a negative zero.
    fn number() -> impl Strategy<Value = String> {
        let finite = any::<u64>().prop_map(f64::from_bits).prop_filter("finite", |x| x.is_finite());
        prop_oneof![
            finite.clone().prop_map(|x| format!("{x}")),
            finite.clone().prop_map(|x| format!("{x:e}")),
            finite.clone().prop_map(|x| format!("{x:.16E}")),
            (-1e3f64..1e3).prop_map(|x| format!("{x}")),
            any::<i64>().prop_map(|n| n.to_string()),
            "[1-9][0-9]{18,30}".prop_map(|s| s),
            Just("-0".to_string()),
            Just("-0.0e-0".to_string()),
            Just("1e-400".to_string()),
            Just("4.9406564584124654e-324".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn the_scanner_answers_only_as_the_reader_would(text in super::super::fast::tests::envelope()) {
            if let Some(scanned) = parse(&text) {
                prop_assert_eq!(format!("{:?}", read_envelope_text(&text)), format!("{:?}", Ok::<_, ()>(scanned)), "{}", text);
            }
        }

        #[test]
        fn numbers_are_read_to_the_bit_as_the_reader_reads_them(values in prop::collection::vec(number(), 1..12)) {
            let vals: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("\"m{i}\":{v}")).collect();
            let text = PLAIN.replace("\"loss\":0.5,\"acc\":null,\"lr\":\"NaN\"", &vals.join(","));
            let scanned = parse(&text).expect("scanned");
            let read = read_envelope_text(&text).expect("valid");
            let bits = |e: &Envelope| match &e.data {
                EventData::Metrics(m) => m.row_values(&m.rows[0]).iter().map(|(i, x)| (*i, x.to_bits())).collect::<Vec<_>>(),
                _ => Vec::new(),
            };
            prop_assert_eq!(bits(&scanned), bits(&read), "{}", text);
        }
    }

    #[test]
    fn the_generator_makes_envelopes_the_scanner_takes() {
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let taken = (0..2000)
            .filter(|_| {
                let text = proptest::strategy::ValueTree::current(
                    &super::super::fast::tests::envelope().new_tree(&mut runner).unwrap(),
                );
                parse(&text).is_some()
            })
            .count();
        assert!(taken > 100, "only {taken} of 2000 generated envelopes were scanned");
    }

    const PLAIN: &str = r#"{"specversion":"1.0","id":"e","source":"t","type":"run.metrics.logged","time":"2026-11-01T12:00:05Z",
        "data":{"entity":"acme","project":"p","run_id":"r","run_name":"train","tags":["x"],"config":{"lr":0.1,"o":{"n":[1,"a\"b"]}},
                "rows":[{"step":1,"time":"2026-11-01T12:00:04Z","values":{"loss":0.5,"acc":null,"lr":"NaN"}},
                        {"step":2,"values":{"acc":0.25,"loss":1,"big":123456789012345678901234567890,"e":-1.5E-3}}]}}"#;

    fn same_as_reader(text: &str) {
        let scanned = parse(text).unwrap_or_else(|| panic!("the plainest shape is scanned: {text}"));
        assert_eq!(format!("{:?}", read_envelope_text(text)), format!("{:?}", Ok::<_, ()>(scanned)), "{text}");
    }

    #[test]
    fn plain_metrics_envelopes_are_scanned_as_the_reader_reads_them() {
        same_as_reader(PLAIN);
        same_as_reader(&PLAIN.replace("\"tags\":[\"x\"]", "\"tags\":null,\"extra\":{\"a\":[true,false,null]}"));
        same_as_reader(&PLAIN.replace("\":", "\" :\n\t").replace(",\"", " ,\r\n \""));
        same_as_reader(&PLAIN.replace("\"step\":2,", "\"step\":2,\"note\":[],"));
    }

    #[test]
    fn anything_unsure_is_left_to_the_other_paths() {
        for (from, to) in [
            ("\"NaN\"", "NaN"),                              // bare NaN: the reader's
            ("run.metrics.logged", "run.heartbeat"),         // another type
            ("\"acme\"", "\"ac\\u006de\""),                  // an escape
            ("\"acme\"", "\"ac\tme\""),                      // a control character
            ("\"step\":2", "\"step\":2.0"),                  // a float step
            ("\"step\":2", "\"step\":02"),                   // a leading zero
            ("\"step\":2", "\"step\":-2"),                   // a negative step
            ("0.25", "1e400"),                               // out of range
            ("0.25", "+1"),                                  // not JSON
            ("0.25", ".5"),                                  // not JSON
            ("0.25", "1."),                                  // not JSON
            ("0.25", "true"),                                // a wrong type
            ("\"loss\":1,", "\"loss\":1,\"loss\":2,"),       // a metric given twice
            ("\"acc\":null,", "\"acc\":null,\"acc\":null,"), // a null name given twice
            ("\"id\":\"e\",", "\"id\":\"e\",\"id\":\"f\","), // a key given twice
            ("\"entity\":\"acme\"", "\"entity\":\"  \""),    // blank
            ("\"time\":\"2026-11-01T12:00:05Z\",", ""),      // no time
            ("\"config\":{", "\"config\":[{"),               // a wrong type
        ] {
            let text = PLAIN.replacen(from, to, 1);
            assert_ne!(text, PLAIN, "{from} is in the sample");
            assert!(parse(&text).is_none(), "scanned: {to}");
        }
        assert!(parse(&format!("{PLAIN} x")).is_none(), "trailing text");
        assert!(parse(&PLAIN[..PLAIN.len() - 1]).is_none(), "cut short");
    }
}
