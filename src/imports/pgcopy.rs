//! Rows in PostgreSQL's COPY text format (tab-separated, `\N` for NULL), the
//! fastest way to hand a batch to the server.

use std::fmt::Display;

/// One COPY text batch, built a row at a time.
#[derive(Debug, Default)]
pub struct CopyBuf {
    buf: Vec<u8>,
    first_in_row: bool,
    rows: usize,
}

impl CopyBuf {
    /// An empty batch.
    pub fn new() -> CopyBuf {
        CopyBuf {
            buf: Vec::with_capacity(1 << 20),
            first_in_row: true,
            rows: 0,
        }
    }

    fn sep(&mut self) {
        if !self.first_in_row {
            self.buf.push(b'\t');
        }
        self.first_in_row = false;
    }

    /// A text value, escaped.
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.sep();
        for &b in s.as_bytes() {
            match b {
                b'\\' => self.buf.extend_from_slice(b"\\\\"),
                b'\t' => self.buf.extend_from_slice(b"\\t"),
                b'\n' => self.buf.extend_from_slice(b"\\n"),
                b'\r' => self.buf.extend_from_slice(b"\\r"),
                _ => self.buf.push(b),
            }
        }
        self
    }

    /// A value whose text form needs no escaping (numbers, timestamps, dates).
    pub fn plain(&mut self, v: impl Display) -> &mut Self {
        use std::io::Write;
        self.sep();
        write!(self.buf, "{v}").expect("writing to a Vec never fails");
        self
    }

    /// An optional text value (`None` is NULL).
    pub fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    /// NULL.
    pub fn null(&mut self) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(b"\\N");
        self
    }

    /// A `text[]` value.
    pub fn text_array(&mut self, items: &[String]) -> &mut Self {
        let mut lit = String::from("{");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                lit.push(',');
            }
            lit.push('"');
            for ch in item.chars() {
                if ch == '"' || ch == '\\' {
                    lit.push('\\');
                }
                lit.push(ch);
            }
            lit.push('"');
        }
        lit.push('}');
        self.text(&lit)
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.first_in_row = true;
        self.rows += 1;
    }

    /// Rows so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The bytes to send.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_copy_text_needs() {
        let mut c = CopyBuf::new();
        c.text("a\tb\\c\nd")
            .null()
            .plain(12)
            .text_array(&["x\"y".into(), "z".into()]);
        c.end_row();
        assert_eq!(
            std::str::from_utf8(c.bytes()).unwrap(),
            "a\\tb\\\\c\\nd\t\\N\t12\t{\"x\\\\\"y\",\"z\"}\n"
        );
        assert_eq!(c.rows(), 1);
    }
}
