//! Cutting a stream of envelopes into items as the bytes arrive, in bounded memory.
//!
//! The same shapes as [`super::split_batch`] (one JSON array; or JSON Lines, where a line may
//! hold an array; or one pretty-printed object), read incrementally so that replay can take a
//! file of any size, or standard input. Memory is bounded by the largest item
//! ([`MAX_ITEM_BYTES`]), never by the input.
//!
//! Items are not parsed here, so one bad item cannot take its neighbours down with it:
//! - a line that is not valid UTF-8 is one bad item, and the next line is read as usual;
//! - in JSON Lines, an object that does not close on its line continues onto the next lines
//!   (a pretty-printed envelope) only while that still reads as one object; when it cannot (the
//!   next lines are items of their own), each of those lines is read again as a line;
//! - in an array, brackets are matched by kind, so `{"a": [1, 2}` is one bad element and the
//!   elements after it are read as usual; a string broken by a raw newline ends there; and an
//!   element still open at the end of the input says how many elements it seems to have taken
//!   with it.

use super::{Position, split_array};

/// The largest item kept whole (four times the envelope limit, so that an envelope over the
/// limit is still reported as such by the parser, with its size). A longer item is reported
/// as too long without being kept.
pub const MAX_ITEM_BYTES: usize = 4 * crate::event::MAX_ENVELOPE_BYTES;

/// One item of a stream: its text, or why it could not be cut out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamItem {
    /// Where the item is in the stream.
    pub position: Position,
    /// The item's text, or why it could not be cut out.
    pub text: Result<String, String>,
}

/// Where items go as they are cut: each with its position, and its text (borrowed from the
/// input where it can be) or why it could not be cut out.
pub trait Items {
    /// Take one item, at `position`: its text, or why it could not be cut out.
    fn item(&mut self, position: Position, text: Result<&str, String>);
}

/// Items collected, owned.
impl Items for Vec<StreamItem> {
    fn item(&mut self, position: Position, text: Result<&str, String>) {
        self.push(StreamItem { position, text: text.map(str::to_string) });
    }
}

/// Items handed to a function.
impl<F: FnMut(Position, Result<&str, String>)> Items for F {
    fn item(&mut self, position: Position, text: Result<&str, String>) {
        self(position, text)
    }
}

enum Mode {
    /// Nothing but blanks read yet.
    Start,
    Lines(Lines),
    Array(Array),
}

/// Splits bytes into items as they are pushed in.
pub struct ItemStream {
    mode: Mode,
    /// Bytes of an incomplete line (lines mode, or the start).
    partial: Vec<u8>,
    /// The number of the line `partial` starts on, from 1.
    line: usize,
}

impl Default for ItemStream {
    fn default() -> Self {
        ItemStream::new()
    }
}

impl ItemStream {
    /// A splitter with nothing read yet.
    pub fn new() -> ItemStream {
        ItemStream { mode: Mode::Start, partial: Vec::new(), line: 1 }
    }

    /// Take the next bytes of the input; the items they complete are appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut dyn Items) {
        while !bytes.is_empty() {
            match &mut self.mode {
                Mode::Start => {
                    let Some(i) = bytes.iter().position(|b| !b.is_ascii_whitespace()) else {
                        self.line += bytes.iter().filter(|&&b| b == b'\n').count();
                        return;
                    };
                    self.line += bytes[..i].iter().filter(|&&b| b == b'\n').count();
                    bytes = &bytes[i..];
                    self.mode = if bytes[0] == b'[' {
                        bytes = &bytes[1..];
                        Mode::Array(Array { trailing_line: self.line, ..Array::default() })
                    } else {
                        Mode::Lines(Lines::default())
                    };
                }
                Mode::Array(a) => {
                    let used = a.push(bytes, out);
                    bytes = &bytes[used..];
                    if a.closed {
                        // After the array, whatever follows is read as JSON Lines.
                        let Array { trailing_line, .. } = std::mem::take(a);
                        self.line = trailing_line;
                        self.mode = Mode::Lines(Lines::default());
                    }
                }
                Mode::Lines(l) => {
                    let Some(nl) = memchr(b'\n', bytes) else {
                        self.partial.extend_from_slice(bytes);
                        if self.partial.len() > MAX_ITEM_BYTES + 1 {
                            // A line this long is refused whole; keep only its tail's count.
                            l.overlong = true;
                            self.partial.clear();
                        }
                        return;
                    };
                    let line = self.line;
                    if self.partial.is_empty() {
                        l.line(line, &bytes[..nl], out);
                    } else {
                        self.partial.extend_from_slice(&bytes[..nl]);
                        let text = std::mem::take(&mut self.partial);
                        l.line(line, &text, out);
                    }
                    self.line += 1;
                    bytes = &bytes[nl + 1..];
                }
            }
        }
    }

    /// The input ended: the items still pending go to `out`.
    pub fn finish(&mut self, out: &mut dyn Items) {
        match &mut self.mode {
            Mode::Start => {}
            Mode::Array(a) => a.finish(out),
            Mode::Lines(l) => {
                if !self.partial.is_empty() || l.overlong {
                    let text = std::mem::take(&mut self.partial);
                    l.line(self.line, &text, out);
                }
                l.finish(out);
            }
        }
        self.mode = Mode::Start;
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    memchr::memchr(needle, haystack)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

fn utf8(b: &[u8]) -> Result<&str, String> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(s),
        Err(e) => Err(format!("not valid UTF-8 (at byte {} of the item)", e.valid_up_to())),
    }
}

/// Bracket and string tracking over bytes, shared by both modes.
#[derive(Default, Clone)]
struct Scan {
    /// Open brackets, innermost last.
    stack: Vec<u8>,
    in_string: bool,
    escape: bool,
    /// Brackets closed by the wrong kind, or a string broken by a newline.
    broken: bool,
    /// The last byte read was a raw newline inside a string.
    string_broke: bool,
    /// Inside the item's outermost object, a `,` was just read: a `{` next cannot be a key, so
    /// it is most likely the next element, swallowed.
    comma_at_top: bool,
    swallowed: usize,
}

impl Scan {
    /// Read one byte; true when it closes the item's outermost bracket.
    #[inline]
    fn byte(&mut self, c: u8) -> bool {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if c == b'\\' {
                self.escape = true;
            } else if c == b'"' {
                self.in_string = false;
            } else if c == b'\n' {
                // JSON strings hold no raw newline: this one was never closed.
                self.in_string = false;
                self.broken = true;
                self.string_broke = true;
            }
            return false;
        }
        if self.comma_at_top && !c.is_ascii_whitespace() {
            self.comma_at_top = false;
            if c == b'{' {
                self.swallowed += 1;
            }
        }
        match c {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.stack.push(c),
            b'}' | b']' => {
                let want = if c == b'}' { b'{' } else { b'[' };
                match self.stack.last() {
                    Some(&top) if top == want => {
                        self.stack.pop();
                    }
                    _ => {
                        self.broken = true;
                        // Close up to the matching opener, as if the missing closers were there.
                        match self.stack.iter().rposition(|&o| o == want) {
                            Some(i) => self.stack.truncate(i),
                            None => self.stack.clear(),
                        }
                    }
                }
                return self.stack.is_empty();
            }
            b',' if self.stack == [b'{'] => self.comma_at_top = true,
            _ => {}
        }
        false
    }
}

/// An object that did not close on its first line: its lines (with their numbers) so far, the
/// scan, and their size in bytes.
type Open = (Vec<(usize, Vec<u8>)>, Scan, usize);

/// JSON Lines, with pretty-printed objects over several lines.
#[derive(Default)]
struct Lines {
    open: Option<Open>,
    /// The current line was too long to keep.
    overlong: bool,
}

impl Lines {
    fn line(&mut self, n: usize, raw: &[u8], out: &mut dyn Items) {
        if std::mem::take(&mut self.overlong) || raw.len() > MAX_ITEM_BYTES {
            self.fallback(out);
            out.item(Position::Line(n), Err(format!("the line is over {MAX_ITEM_BYTES} bytes")));
            return;
        }
        if let Some((lines, scan, size)) = &mut self.open {
            let mut closed_at = None;
            for (i, &c) in raw.iter().enumerate() {
                if scan.byte(c) {
                    closed_at = Some(i);
                    break;
                }
            }
            // A raw newline ends a line, so a string still open here is broken.
            if scan.in_string {
                scan.broken = true;
            }
            *size += raw.len() + 1;
            lines.push((n, raw.to_vec()));
            let size = *size;
            match closed_at {
                Some(i) if !scan.broken && trim(&raw[i + 1..]).is_empty() => {
                    let (lines, _, _) = self.open.take().unwrap_or_default();
                    let start = lines.first().map_or(n, |(l, _)| *l);
                    let mut text = Vec::with_capacity(size);
                    for (_, l) in &lines {
                        text.extend_from_slice(l);
                        text.push(b'\n');
                    }
                    out.item(Position::Line(start), utf8(trim(&text)));
                }
                Some(_) => self.fallback(out),
                None if scan.broken || size > MAX_ITEM_BYTES => self.fallback(out),
                None => {}
            }
            return;
        }
        self.single(n, raw, out, true);
    }

    /// One line read as a line. `may_open`: an unclosed object may continue onto the next lines.
    fn single(&mut self, n: usize, raw: &[u8], out: &mut dyn Items, may_open: bool) {
        let t = trim(raw);
        if t.is_empty() {
            return;
        }
        if t[0] == b'[' {
            match std::str::from_utf8(t) {
                Ok(s) => {
                    for (i, text) in split_array(s) {
                        out.item(Position::LineItem(n, i), text);
                    }
                }
                Err(e) => out
                    .item(Position::Line(n), Err(format!("not valid UTF-8 (at byte {} of the line)", e.valid_up_to()))),
            }
            return;
        }
        if may_open && t[0] == b'{' && t[t.len() - 1] != b'}' {
            let mut scan = Scan::default();
            let closed = t.iter().any(|&c| scan.byte(c));
            if !closed && !scan.broken && !scan.in_string {
                self.open = Some((vec![(n, t.to_vec())], scan, t.len() + 1));
                return;
            }
        }
        out.item(Position::Line(n), utf8(t));
    }

    /// The open object was not one object after all: read each of its lines as a line.
    fn fallback(&mut self, out: &mut dyn Items) {
        let Some((lines, _, _)) = self.open.take() else { return };
        for (n, l) in lines {
            self.single(n, &l, out, false);
        }
    }

    fn finish(&mut self, out: &mut dyn Items) {
        self.fallback(out);
    }
}

/// The elements of one JSON array, as the bytes arrive.
#[derive(Default)]
struct Array {
    scan: Scan,
    /// The current element's bytes (up to [`MAX_ITEM_BYTES`]).
    cur: Vec<u8>,
    /// The current element is longer than [`MAX_ITEM_BYTES`]: not kept.
    oversize: bool,
    /// Some non-blank byte of the current element was read.
    started: bool,
    index: usize,
    /// The closing `]` was read.
    closed: bool,
    /// The line being read, so that what follows the array is numbered right.
    trailing_line: usize,
}

impl Array {
    /// Read bytes up to the end of the array; returns how many were used.
    fn push(&mut self, bytes: &[u8], out: &mut dyn Items) -> usize {
        for (i, &c) in bytes.iter().enumerate() {
            if c == b'\n' {
                self.trailing_line += 1;
            }
            if self.scan.stack.is_empty() && !self.scan.in_string {
                match c {
                    b',' => {
                        self.end_element(out, false);
                        continue;
                    }
                    b']' => {
                        self.end_element(out, true);
                        self.closed = true;
                        return i + 1;
                    }
                    c if c.is_ascii_whitespace() && !self.started => continue,
                    _ => {}
                }
            }
            self.started |= !c.is_ascii_whitespace();
            if self.cur.len() < MAX_ITEM_BYTES {
                self.cur.push(c);
            } else {
                self.oversize = true;
            }
            if self.scan.stack.is_empty() && !self.scan.in_string && c == b'}' {
                // A closer with nothing open (`}` between elements) marks the element broken.
                self.scan.broken = true;
            } else if c == b']' && !self.scan.in_string && !self.scan.stack.contains(&b'[') {
                // A `]` that closes nothing of the element's closes the array: the element
                // was left open, and ran up to here.
                self.cur.pop();
                self.scan.broken = true;
                self.end_element(out, true);
                self.closed = true;
                return i + 1;
            } else {
                self.scan.byte(c);
                if std::mem::take(&mut self.scan.string_broke) {
                    // What follows the broken string is read as the next element.
                    self.end_element(out, false);
                }
            }
        }
        bytes.len()
    }

    fn end_element(&mut self, out: &mut dyn Items, end_of_array: bool) {
        let text = std::mem::take(&mut self.cur);
        let scan = std::mem::take(&mut self.scan);
        let oversize = std::mem::take(&mut self.oversize);
        let started = std::mem::take(&mut self.started);
        if !started {
            // `[]` is an empty batch; an empty element elsewhere (`[a,,b]`, `[a,]`) is an error.
            if !(end_of_array && self.index == 0) {
                out.item(Position::Item(self.index), Err("empty array element".into()));
                self.index += 1;
            }
            return;
        }
        let text = if oversize {
            Err(format!("the element is over {MAX_ITEM_BYTES} bytes"))
        } else if scan.swallowed > 0 && (scan.broken || !scan.stack.is_empty()) {
            Err(format!(
                "the element is never closed: about {} elements after it were read as part of it and are lost",
                scan.swallowed
            ))
        } else if scan.broken {
            Err("its brackets or quotes do not match (a missing or extra bracket or quote)".to_string())
        } else {
            utf8(trim(&text))
        };
        out.item(Position::Item(self.index), text);
        self.index += 1;
    }

    fn finish(&mut self, out: &mut dyn Items) {
        if self.closed {
            return;
        }
        let open = !self.scan.stack.is_empty() || self.scan.in_string;
        if self.started && open {
            let swallowed = self.scan.swallowed;
            let why = if swallowed > 0 {
                format!(
                    "the element is never closed, so the input ends inside it: about {swallowed} elements after it were read as part of it and are lost"
                )
            } else {
                "the element is never closed, so the input ends inside it".to_string()
            };
            out.item(Position::Item(self.index), Err(why));
            return;
        }
        if self.started {
            self.end_element(out, true);
        }
        out.item(Position::Item(self.index), Err("the array is not terminated (missing ])".to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split `text` pushed in pieces of `chunk` bytes.
    fn split(text: &[u8], chunk: usize) -> Vec<StreamItem> {
        let mut s = ItemStream::new();
        let mut out = Vec::new();
        for piece in text.chunks(chunk.max(1)) {
            s.push(piece, &mut out);
        }
        s.finish(&mut out);
        out
    }

    fn ok(position: Position, text: &str) -> StreamItem {
        StreamItem { position, text: Ok(text.to_string()) }
    }

    #[test]
    fn gives_the_same_items_as_the_whole_text_splitter_at_every_chunk_size() {
        let inputs = [
            "{\"a\":1}\n\n[{\"b\":1},{\"c\":1}]\nnot json\n",
            "[{\"a\":[1,2]}, {\"b\":\"],}\"} , {oops} ,{\"c\":3}]",
            "\n{\n  \"a\": NaN,\n  \"b\": [1,\n 2]\n}\n",
            "{\"a\":1}\r\n{\"b\":2}",
            "[]",
            "[1,,2]",
        ];
        for text in inputs {
            let want: Vec<StreamItem> = super::super::split_batch(text)
                .into_iter()
                .map(|i| StreamItem { position: i.position, text: i.text.map(str::to_string) })
                .collect();
            for chunk in [1, 2, 3, 7, 64, 4096] {
                assert_eq!(split(text.as_bytes(), chunk), want, "{text:?} in pieces of {chunk}");
            }
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_is_one_bad_item() {
        let items = split(b"{\"a\":1}\n{\"b\":\"\xff\"}\n{\"c\":3}\n", 5);
        assert_eq!(items[0], ok(Position::Line(1), "{\"a\":1}"));
        assert_eq!(items[1].position, Position::Line(2));
        assert!(items[1].text.as_ref().unwrap_err().contains("UTF-8"));
        assert_eq!(items[2], ok(Position::Line(3), "{\"c\":3}"));
    }

    #[test]
    fn an_unclosed_line_does_not_swallow_the_lines_after_it() {
        let items = split(b"{\"a\":1\n{\"b\":2}\n{\"c\":3}\n", 4);
        let pos: Vec<_> = items.iter().map(|i| i.position).collect();
        assert_eq!(pos, vec![Position::Line(1), Position::Line(2), Position::Line(3)]);
        assert_eq!(items[0].text, Ok("{\"a\":1".to_string()));
        assert_eq!(items[2], ok(Position::Line(3), "{\"c\":3}"));
    }

    #[test]
    fn pretty_printed_objects_one_after_another() {
        let items = split(b"{\n \"a\": 1\n}\n{\n \"b\": [\n 2\n ]\n}\n{\"c\":3}\n", 3);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].position, Position::Line(1));
        assert_eq!(items[1].position, Position::Line(4));
        assert_eq!(items[2], ok(Position::Line(9), "{\"c\":3}"));
    }

    #[test]
    fn array_elements_with_wrong_brackets_are_bad_alone() {
        let items = split(br#"[{"a":1}, {"b":[1,2}, {"c":3}, {"d":"x}, {"e":5}]"#, 6);
        assert_eq!(items.len(), 4, "{items:?}");
        assert_eq!(items[0], ok(Position::Item(0), r#"{"a":1}"#));
        assert!(items[1].text.is_err(), "{:?}", items[1]);
        assert_eq!(items[2], ok(Position::Item(2), r#"{"c":3}"#));
        // An unterminated string runs to the end of the line: it takes the rest of this line.
        assert!(items[3].text.is_err());
    }

    #[test]
    fn a_string_broken_by_a_newline_ends_there() {
        let items = split(b"[{\"a\":\"x},\n{\"b\":2}]", 2);
        assert!(items[0].text.is_err(), "{items:?}");
        assert_eq!(items.last().unwrap().text, Ok("{\"b\":2}".to_string()), "{items:?}");
    }

    #[test]
    fn an_element_never_closed_says_what_it_took() {
        let items = split(br#"[{"a":1}, {"b":2, {"c":3}, {"d":4}]"#, 5);
        assert_eq!(items[0], ok(Position::Item(0), r#"{"a":1}"#));
        let last = items.last().unwrap();
        let msg = last.text.as_ref().unwrap_err();
        assert!(msg.contains("about 2 elements"), "{msg}");
    }

    #[test]
    fn lines_after_an_array_are_json_lines() {
        let items = split(b"[{\"a\":1}]\n{\"b\":2}\n", 3);
        assert_eq!(items, vec![ok(Position::Item(0), "{\"a\":1}"), ok(Position::Line(2), "{\"b\":2}")]);
    }

    #[test]
    fn an_overlong_line_is_refused_without_being_kept() {
        let mut text = b"{\"a\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_ITEM_BYTES + 10));
        text.extend_from_slice(b"\"}\n{\"b\":2}\n");
        let items = split(&text, 65536);
        assert_eq!(items.len(), 2, "{:?}", items.iter().map(|i| i.position).collect::<Vec<_>>());
        assert!(items[0].text.as_ref().unwrap_err().contains("over"));
        assert_eq!(items[1], ok(Position::Line(2), "{\"b\":2}"));
    }
}
