//! Records out of a file that arrives in slices.
//!
//! The job reads the stored file one chunk at a time, so a record (a quoted field
//! may hold commas and line breaks) can straddle two chunks. [`Splitter`] keeps the
//! bytes of the last, possibly incomplete record and parses them again with the next
//! slice: memory holds one chunk plus one record, whatever the file's size. Every
//! record carries its absolute byte offset and line, which is what a checkpoint is.

use csv::{ByteRecord, ReaderBuilder};

/// The UTF-8 byte order mark some spreadsheets write at the start of a file.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One CSV record and where it is in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its fields, as bytes (UTF-8 is checked per field, so a bad byte is a bad row).
    pub fields: ByteRecord,
    /// 1-based line it starts on.
    pub line: u64,
    /// Byte offset just after it: where reading the next row starts (possibly inside
    /// its line ending, which the next read skips).
    pub end: u64,
    /// Line the next row starts on.
    pub next_line: u64,
}

/// Splits a stream of byte slices into CSV records.
#[derive(Debug)]
pub struct Splitter {
    carry: Vec<u8>,
    carry_offset: u64,
    carry_line: u64,
}

impl Splitter {
    /// Starts at byte `offset`, which is line `line`, the start of a record.
    pub fn new(offset: u64, line: u64) -> Splitter {
        Splitter {
            carry: Vec::new(),
            carry_offset: offset,
            carry_line: line,
        }
    }

    /// Adds the next slice; appends every record now known to be complete to `out`
    /// (all of them when `eof`). Returns how many were appended.
    pub fn push(&mut self, bytes: &[u8], eof: bool, out: &mut Vec<Record>) -> usize {
        self.carry.extend_from_slice(bytes);
        let mut reader = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(&self.carry[..]);
        let before = out.len();
        let mut record = ByteRecord::new();
        // csv's own line numbers do not count the line breaks inside quoted fields the
        // way an editor shows them: count '\n' bytes instead.
        let mut counted = (0usize, self.carry_line);
        let mut line_at = |byte: usize, carry: &[u8]| {
            let (from, line) = counted;
            let n = carry[from..byte].iter().filter(|b| **b == b'\n').count() as u64;
            counted = (byte, line + n);
            line + n
        };
        // (start byte, start line) of the last record read: it may be incomplete.
        let mut last_start: Option<(usize, u64)> = None;
        // Only I/O errors are possible on a slice in flexible mode: none.
        while let Ok(true) = reader.read_byte_record(&mut record) {
            // The reader may stop inside a CRLF; a record never starts with a line break.
            let mut start = record.position().map_or(0, |p| p.byte()) as usize;
            while matches!(self.carry.get(start), Some(b'\r' | b'\n')) {
                start += 1;
            }
            let end = reader.position().byte() as usize;
            let line = line_at(start, &self.carry);
            let next_line = line_at(end, &self.carry);
            out.push(Record {
                fields: record.clone(),
                line,
                end: self.carry_offset + end as u64,
                next_line,
            });
            last_start = Some((start, line));
        }
        if eof {
            self.carry_offset += self.carry.len() as u64;
            self.carry.clear();
            return out.len() - before;
        }
        // Hold the last record back: the next slice may continue it.
        if let Some((start, line)) = last_start {
            out.pop();
            self.carry.drain(..start);
            self.carry_offset += start as u64;
            self.carry_line = line;
        }
        out.len() - before
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all_at_once(data: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        Splitter::new(0, 1).push(data, true, &mut out);
        out
    }

    fn in_slices(data: &[u8], size: usize) -> Vec<Record> {
        let mut s = Splitter::new(0, 1);
        let mut out = Vec::new();
        let chunks: Vec<&[u8]> = data.chunks(size.max(1)).collect();
        for (i, c) in chunks.iter().enumerate() {
            s.push(c, i + 1 == chunks.len(), &mut out);
        }
        if chunks.is_empty() {
            s.push(&[], true, &mut out);
        }
        out
    }

    const SAMPLE: &[u8] =
        b"a,b,c\r\n1,\"x, y\",3\r\n\r\n2,\"multi\nline\",4\n3,\"say \"\"hi\"\"\",5";

    #[test]
    fn quotes_commas_line_breaks_and_crlf() {
        let recs = all_at_once(SAMPLE);
        let fields: Vec<Vec<&[u8]>> = recs.iter().map(|r| r.fields.iter().collect()).collect();
        assert_eq!(fields[1], vec![&b"1"[..], b"x, y", b"3"]);
        assert_eq!(fields[2], vec![&b"2"[..], b"multi\nline", b"4"]);
        assert_eq!(fields[3], vec![&b"3"[..], b"say \"hi\"", b"5"]);
        let lines: Vec<u64> = recs.iter().map(|r| r.line).collect();
        // The blank line 3 is no record; the quoted line break makes line 5 part of row 4.
        assert_eq!(lines, vec![1, 2, 4, 6]);
        assert_eq!(recs[3].end, SAMPLE.len() as u64);
    }

    #[test]
    fn resuming_at_a_checkpoint_reads_the_same_rows() {
        let whole = all_at_once(SAMPLE);
        let cut = &whole[1];
        let mut out = Vec::new();
        Splitter::new(cut.end, cut.next_line).push(&SAMPLE[cut.end as usize..], true, &mut out);
        assert_eq!(out, whole[2..].to_vec());
    }

    proptest! {
        #[test]
        fn slicing_never_changes_the_records(size in 1usize..40) {
            prop_assert_eq!(in_slices(SAMPLE, size), all_at_once(SAMPLE));
        }
    }
}
