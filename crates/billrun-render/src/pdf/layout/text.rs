//! The built-in layout's text: what each line and sub-line shows, how tall it is,
//! and how names and address blocks wrap within their lines.

use super::style::*;
use super::*;

/// The grey line under a charge line's name: its period and description.
pub(super) fn secondary(l: &Line) -> Vec<String> {
    let parts: Vec<String> = l
        .period
        .as_ref()
        .map(|p| p.display.to_string())
        .into_iter()
        .chain(l.description.clone())
        .collect();
    let mut out = if parts.is_empty() {
        Vec::new()
    } else {
        vec![parts.join(" · ")]
    };
    // Its share of its rate's tax (README "Taxes"), on a line of its own.
    out.extend(l.tax.clone());
    out
}

/// What a sub-line is called: its description (slab bounds, days), else the name.
pub(crate) fn sub_label(s: &Line) -> &str {
    s.description.as_deref().unwrap_or(&s.display_name)
}

/// A charge line's description lines: its name, then its grey note.
pub(super) fn line_text(l: &Line) -> (Vec<String>, Vec<String>) {
    let name = wrap_at_most(&l.display_name, DESC_W, BODY, LINE_NAME_LINES);
    let notes = secondary(l)
        .iter()
        .flat_map(|n| wrap_at_most(n, DESC_W, NOTE, LINE_NOTE_LINES))
        .collect();
    (name, notes)
}

pub(super) fn sub_text(s: &Line) -> Vec<String> {
    wrap_at_most(sub_label(s), DESC_W - SUB_INDENT, NOTE, SUB_LINES)
}

pub(super) fn line_height(l: &Line) -> f32 {
    let (name, notes) = line_text(l);
    4.0 + name.len() as f32 * BODY_LH + notes.len() as f32 * NOTE_LH
}

pub(super) fn sub_height(s: Option<&Line>) -> f32 {
    s.map_or(0.0, |s| sub_text(s).len() as f32 * NOTE_LH + 0.5)
}

/// The organisation's name beside the title, in `room` points: at 16 pt on up to
/// [`ORG_NAME_LINES`] lines, else at 12 pt on up to one more, cut with `…` beyond.
/// Returns the lines, their style and their line height.
pub(super) fn org_name_lines(name: &str, room: f32) -> (Vec<String>, Style, f32) {
    let big = style(Face::Bold, 16.0, INK);
    let lines = wrap_at_most(name, room, big, ORG_NAME_LINES + 1);
    if lines.len() <= ORG_NAME_LINES {
        return (lines, big, 19.0);
    }
    let small = style(Face::Bold, 12.0, INK);
    (
        wrap_at_most(name, room, small, ORG_NAME_LINES + 1),
        small,
        14.5,
    )
}

/// The lines of a FROM or BILL TO block: each field wrapped in the block's width
/// to at most its own number of lines, the whole to at most [`BLOCK_LINES`].
pub(super) struct Block {
    w: f32,
    lines: Vec<(String, Style)>,
}

impl Block {
    pub(super) fn new(w: f32) -> Block {
        Block {
            w,
            lines: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, text: &str, st: Style, max: usize) {
        if self.lines.len() > BLOCK_LINES {
            return;
        }
        let lines = wrap_at_most(text, self.w, st, max);
        self.lines.extend(lines.into_iter().map(|l| (l, st)));
    }

    pub(super) fn finish(mut self) -> Vec<(String, Style)> {
        if self.lines.len() > BLOCK_LINES {
            self.lines.truncate(BLOCK_LINES);
            if let Some((last, st)) = self.lines.last_mut() {
                ellipsize(last, self.w, *st);
            }
        }
        self.lines
    }
}

/// The largest size of `px` that fits `max_w` x `max_h`, keeping its proportions.
pub(super) fn fit_box(px: (u32, u32), max_w: f32, max_h: f32) -> (f32, f32) {
    let (w, h) = (px.0 as f32, px.1 as f32);
    let k = (max_w / w).min(max_h / h);
    (w * k, h * k)
}
