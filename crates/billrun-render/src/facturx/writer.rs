//! A small XML writer over quick-xml (which escapes text and attribute values) and
//! the number formats of the CII XML.

use chrono::NaiveDate;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use rust_decimal::{Decimal, RoundingStrategy};

/// `d` rounded half away from zero to `minor` decimals.
pub(super) fn round(d: Decimal, minor: u32) -> Decimal {
    d.round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero)
}

/// An amount as CII writes it: exactly `minor` decimals (`"120.05"`).
pub(super) fn amount(d: Decimal, minor: u32) -> String {
    let mut v = round(d, minor);
    v.rescale(minor);
    v.to_string()
}

/// A small writer over quick-xml (which escapes text and attribute values); writing
/// to memory cannot fail.
pub(super) struct X(Writer<Vec<u8>>);

const MEMORY: &str = "writing XML to memory cannot fail";

impl X {
    pub(super) fn new() -> X {
        let mut w = Writer::new_with_indent(Vec::with_capacity(16 * 1024), b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect(MEMORY);
        X(w)
    }
    pub(super) fn open(&mut self, name: &str) {
        self.open_with(name, &[]);
    }
    pub(super) fn open_with(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let mut e = BytesStart::new(name);
        for a in attrs {
            e.push_attribute(*a);
        }
        self.0.write_event(Event::Start(e)).expect(MEMORY);
    }
    pub(super) fn close(&mut self, name: &str) {
        self.0
            .write_event(Event::End(BytesEnd::new(name)))
            .expect(MEMORY);
    }
    pub(super) fn empty(&mut self, name: &str) {
        self.0
            .write_event(Event::Empty(BytesStart::new(name)))
            .expect(MEMORY);
    }
    pub(super) fn text(&mut self, name: &str, text: &str) {
        self.text_with(name, &[], text);
    }
    pub(super) fn text_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.open_with(name, attrs);
        self.0
            .write_event(Event::Text(BytesText::new(text)))
            .expect(MEMORY);
        self.close(name);
    }
    /// A date in format 102 (`20260201`), `prefix` `udt` or `qdt`.
    pub(super) fn date(&mut self, name: &str, prefix: &str, d: NaiveDate) {
        self.open(name);
        self.text_with(
            &format!("{prefix}:DateTimeString"),
            &[("format", "102")],
            &d.format("%Y%m%d").to_string(),
        );
        self.close(name);
    }
    pub(super) fn finish(self) -> Vec<u8> {
        let mut out = self.0.into_inner();
        out.push(b'\n');
        out
    }
}
