//! What every command shares: the `--org` and `--json` flags, and one printer for
//! tables and JSON.
//!
//! Tables go to stdout, one header line then a line per row, each cell padded to its
//! column's width (a longer value overflows its cell rather than being cut, so a
//! value is never lost); `--json` prints the same rows as a pretty JSON array of the
//! views' camelCase fields (README "--json"). Notes about a listing (a cut page, a
//! count) go to stderr so that both stay parseable.

use serde::Serialize;

use crate::store::OrgId;

/// `--org ID`: the organisation a command acts in. The CLI checks that it exists when
/// it opens the database, before the command runs.
#[derive(clap::Args, Debug, Clone)]
pub struct OrgArgs {
    /// Organisation.
    #[arg(long)]
    pub org: String,
}

impl OrgArgs {
    /// The organisation's id.
    pub fn id(&self) -> OrgId {
        OrgId::from(self.org.as_str())
    }
}

/// `--json`: JSON for scripts instead of text for people.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct OutputArgs {
    /// JSON instead of text (camelCase names; a listing is an array).
    #[arg(long)]
    pub json: bool,
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// How a column's cells are aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Padded on the right (text, ids).
    Left,
    /// Padded on the left (amounts, counts).
    Right,
}

/// A text table: columns with a header, a width and an alignment.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(&'static str, usize, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns: `(header, width, alignment)`. The last column is
    /// not padded.
    pub fn new(columns: &[(&'static str, usize, Align)]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        self.rows.push(cells);
    }

    /// The table as text, a line per row after the header, each ending in `\n`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let headers: Vec<String> = self.columns.iter().map(|c| c.0.to_string()).collect();
        for cells in std::iter::once(&headers).chain(&self.rows) {
            let last = cells.len().saturating_sub(1);
            for (i, (cell, (_, width, align))) in cells.iter().zip(&self.columns).enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if i == last {
                    // No trailing padding, but a right-aligned last column is still
                    // aligned.
                    match align {
                        Align::Left => out.push_str(cell),
                        Align::Right => out.push_str(&format!("{cell:>width$}")),
                    }
                } else {
                    match align {
                        Align::Left => out.push_str(&format!("{cell:<width$}")),
                        Align::Right => out.push_str(&format!("{cell:>width$}")),
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    /// Prints the table on stdout.
    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// Prints `rows` as JSON (`--json`) or as the table `table` makes of them.
pub fn print_rows<T: Serialize>(
    output: OutputArgs,
    rows: &[T],
    table: impl FnOnce(&[T]) -> Table,
) -> anyhow::Result<()> {
    if output.json {
        print_json(&rows)
    } else {
        table(rows).print();
        Ok(())
    }
}

/// `-` for an absent value, as tables show it.
pub fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

#[cfg(test)]
mod tests {
    use super::{Align, Table};

    #[test]
    fn a_table_pads_every_cell_but_the_last_and_lets_long_values_overflow() {
        let mut t = Table::new(&[
            ("ID", 4, Align::Left),
            ("TOTAL", 7, Align::Right),
            ("NAME", 0, Align::Left),
        ]);
        t.row(vec!["a".into(), "1.50".into(), "Acme".into()]);
        t.row(vec!["abcdef".into(), "1234.50".into(), "B".into()]);
        assert_eq!(
            t.render(),
            "ID     TOTAL NAME\n\
             a       1.50 Acme\n\
             abcdef 1234.50 B\n"
        );
    }
}
