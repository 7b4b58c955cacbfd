//! The three kinds of import, their columns, `--map`, and the header check.
//!
//! Pure: a header is checked before anything is stored (`billrun import` refuses a
//! file that is not CSV at all) and again by the job, with the same code.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use csv::ByteRecord;

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportKind {
    /// Customers and accounts, one row per account.
    Accounts,
    /// Usage events, one row per event.
    Usage,
    /// License quantity updates, one row per update.
    Licenses,
}

impl ImportKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [ImportKind; 3] = [
        ImportKind::Accounts,
        ImportKind::Usage,
        ImportKind::Licenses,
    ];

    /// As stored and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ImportKind::Accounts => "accounts",
            ImportKind::Usage => "usage",
            ImportKind::Licenses => "licenses",
        }
    }

    /// Parses a kind; `customers` and `events` are accepted as synonyms.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "accounts" | "customers" => Ok(ImportKind::Accounts),
            "usage" | "events" => Ok(ImportKind::Usage),
            "licenses" | "license" => Ok(ImportKind::Licenses),
            _ => Err(format!(
                "unknown import kind {s:?}: expected accounts, usage or licenses"
            )),
        }
    }

    /// Every column the kind knows (usage also takes `attribute.<name>` and
    /// `dimension.<name>`).
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Accounts => ACCOUNT_COLUMNS,
            ImportKind::Usage => USAGE_COLUMNS,
            ImportKind::Licenses => LICENSE_COLUMNS,
        }
    }

    /// The columns a file must have.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            ImportKind::Accounts => &[
                "account_id",
                "customer_id",
                "account_name",
                "invoice_currency",
            ],
            ImportKind::Usage => &["event_id", "timestamp", "account_id", "schema"],
            ImportKind::Licenses => LICENSE_COLUMNS,
        }
    }

    /// A sample file: the header and a few rows (`billrun import sample <kind>`).
    pub fn sample(self) -> &'static str {
        match self {
            ImportKind::Accounts => SAMPLE_ACCOUNTS,
            ImportKind::Usage => SAMPLE_USAGE,
            ImportKind::Licenses => SAMPLE_LICENSES,
        }
    }
}

impl fmt::Display for ImportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const ACCOUNT_COLUMNS: &[&str] = &[
    "account_id",
    "customer_id",
    "customer_name",
    "account_name",
    "invoice_currency",
    "billing_emails",
    "additional_emails",
    "net_term_days",
    "timezone",
    "address_line1",
    "address_line2",
    "postal_code",
    "city",
    "state",
    "country",
    "aliases",
    "plan_id",
    "plan_version",
    "plan_from",
];

const USAGE_COLUMNS: &[&str] = &["event_id", "timestamp", "account_id", "schema"];

const LICENSE_COLUMNS: &[&str] = &[
    "license_id",
    "account_id",
    "update_type",
    "quantity",
    "effective_from",
    "idempotency_key",
];

const SAMPLE_ACCOUNTS: &str = "\
account_id,customer_id,customer_name,account_name,invoice_currency,billing_emails,additional_emails,net_term_days,timezone,address_line1,address_line2,postal_code,city,state,country,aliases,plan_id,plan_version,plan_from
acme-eu,acme,Acme Corp,Acme Europe,USD,billing@acme.example;ap@acme.example,cfo@acme.example,30,Europe/Berlin,Hauptstrasse 1,,10115,Berlin,,DE,acme-eu-prod;acme-eu-staging,growth,,2026-01-01
acme-us,acme,Acme Corp,\"Acme, Inc. (US)\",USD,billing@acme.example,,,America/New_York,1 Main St,Suite 5,10001,New York,NY,US,acme-us-prod,growth,1,2026-01-15
globex,globex,Globex,Globex,USD,ap@globex.example,,15,,,,,,,,,,,
";

const SAMPLE_USAGE: &str = "\
event_id,timestamp,account_id,schema,attribute.calls,dimension.region
evt-0001,2026-01-05T10:00:00Z,acme-eu,api,120,eu
evt-0002,2026-01-05T10:00:01+01:00,acme-eu-prod,api,80,eu
evt-0003,2026-01-06T08:30:00Z,acme-us,api,2.5,us
";

const SAMPLE_LICENSES: &str = "\
license_id,account_id,update_type,quantity,effective_from,idempotency_key
seats,acme-eu,ABSOLUTE,12,2026-01-01T00:00:00Z,acme-eu-seats-1
seats,acme-eu,RELATIVE,-2,2026-01-16T00:00:00Z,acme-eu-seats-2
seats,acme-us-prod,ABSOLUTE,5,2026-01-15,acme-us-seats-1
";

/// `--map theirs=ours,...`: a file's own column names onto ours; `ours` = `-`
/// ignores the column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping(pub BTreeMap<String, String>);

impl Mapping {
    /// Parses `theirs=ours` pairs (comma-separated, each possibly given separately).
    pub fn parse(pairs: &[String]) -> Result<Mapping, String> {
        let mut map = BTreeMap::new();
        for pair in pairs.iter().flat_map(|p| p.split(',')) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let Some((theirs, ours)) = pair.split_once('=') else {
                return Err(format!(
                    "--map {pair:?}: expected THEIRS=OURS, e.g. --map 'Customer ID=customer_id'"
                ));
            };
            let (theirs, ours) = (theirs.trim(), ours.trim());
            if theirs.is_empty() || ours.is_empty() {
                return Err(format!("--map {pair:?}: both names are needed"));
            }
            if map.insert(theirs.to_string(), ours.to_string()).is_some() {
                return Err(format!("--map: column {theirs:?} is mapped twice"));
            }
        }
        Ok(Mapping(map))
    }

    /// Our name for a column of the file.
    fn ours<'a>(&'a self, theirs: &'a str) -> &'a str {
        self.0.get(theirs).map_or(theirs, String::as_str)
    }
}

/// What one column of the file is, once mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// One of the kind's columns.
    Named(&'static str),
    /// `attribute.<name>` (usage).
    Attribute(String),
    /// `dimension.<name>` (usage).
    Dimension(String),
    /// Mapped to `-`.
    Ignored,
}

/// A checked header: where each of our columns is in the file.
#[derive(Debug, Clone)]
pub struct Header {
    /// The kind of file.
    pub kind: ImportKind,
    /// Each column of the file, in order.
    pub fields: Vec<Field>,
    /// The file's own header, as it was (for the errors file).
    pub raw: ByteRecord,
    named: HashMap<&'static str, usize>,
}

impl Header {
    /// Checks a file's first record as the header of a `kind` file.
    ///
    /// Refuses what is not a header at all (binary, another delimiter, data in the
    /// first line), a missing required column, an unknown or repeated column, so
    /// that a wrong file is refused before anything is loaded.
    pub fn parse(kind: ImportKind, raw: &ByteRecord, mapping: &Mapping) -> Result<Header, String> {
        let mut names = Vec::with_capacity(raw.len());
        for (i, f) in raw.iter().enumerate() {
            let text = std::str::from_utf8(f).map_err(|_| {
                format!(
                    "the header is not UTF-8 text (column {}): is this a CSV file? {}",
                    i + 1,
                    expected_header(kind)
                )
            })?;
            if text.contains('\0') {
                return Err(format!(
                    "the file is binary, not CSV text. {}",
                    expected_header(kind)
                ));
            }
            names.push(text.trim().to_string());
        }
        if names.iter().all(String::is_empty) {
            return Err(format!(
                "the first line is empty: expected a header line. {}",
                expected_header(kind)
            ));
        }
        if names.len() == 1 {
            let only = &names[0];
            if let Some(d) = [';', '\t', '|'].into_iter().find(|d| only.contains(*d)) {
                let shown = if d == '\t' {
                    "tab".into()
                } else {
                    format!("{d:?}")
                };
                return Err(format!(
                    "the header has one column {only:?}: columns seem separated by {shown}; \
                     billrun reads comma-separated files (save the file as CSV with commas)"
                ));
            }
        }
        for m in mapping.0.keys() {
            if !names.iter().any(|n| n == m) {
                return Err(format!(
                    "--map names column {m:?}, which the file does not have (columns: {})",
                    names.join(", ")
                ));
            }
        }
        let mut fields = Vec::with_capacity(names.len());
        let mut named = HashMap::new();
        let mut unknown = Vec::new();
        let mut extra = std::collections::HashSet::new();
        for (i, theirs) in names.iter().enumerate() {
            let ours = mapping.ours(theirs);
            let field = if ours == "-" {
                Field::Ignored
            } else if let Some(c) = kind.columns().iter().find(|c| **c == ours) {
                if named.insert(*c, i).is_some() {
                    return Err(format!(
                        "column {c:?} appears twice in the header (after --map)"
                    ));
                }
                Field::Named(c)
            } else if let (ImportKind::Usage, Some(a)) = (kind, ours.strip_prefix("attribute.")) {
                if a.is_empty() || !extra.insert(ours.to_string()) {
                    return Err(format!("column {ours:?}: empty or repeated attribute name"));
                }
                Field::Attribute(a.to_string())
            } else if let (ImportKind::Usage, Some(d)) = (kind, ours.strip_prefix("dimension.")) {
                if d.is_empty() || !extra.insert(ours.to_string()) {
                    return Err(format!("column {ours:?}: empty or repeated dimension name"));
                }
                Field::Dimension(d.to_string())
            } else {
                unknown.push(theirs.clone());
                Field::Ignored
            };
            fields.push(field);
        }
        let missing: Vec<&str> = kind
            .required()
            .iter()
            .copied()
            .filter(|c| !named.contains_key(c))
            .collect();
        if !missing.is_empty() {
            let looks_like_data = named.is_empty();
            return Err(format!(
                "{} {}{}; the header has: {}. {}",
                if missing.len() == 1 {
                    "missing required column"
                } else {
                    "missing required columns"
                },
                missing.join(", "),
                if looks_like_data {
                    " (no known column at all: does the file start with a header line?)"
                } else {
                    ""
                },
                names.join(", "),
                expected_header(kind)
            ));
        }
        if !unknown.is_empty() {
            return Err(format!(
                "unknown column{} {}: map {} onto ours with --map 'THEIRS=OURS', or ignore {} \
                 with --map 'THEIRS=-'. {}",
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .map(|u| format!("{u:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if unknown.len() == 1 { "it" } else { "them" },
                if unknown.len() == 1 { "it" } else { "them" },
                expected_header(kind)
            ));
        }
        Ok(Header {
            kind,
            fields,
            raw: raw.clone(),
            named,
        })
    }

    /// Where our column `name` is in the file.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.named.get(name).copied()
    }

    /// The file's column name at `i`, for messages (ours if mapped).
    pub fn column_name(&self, i: usize) -> String {
        match &self.fields[i] {
            Field::Named(n) => (*n).to_string(),
            Field::Attribute(a) => format!("attribute.{a}"),
            Field::Dimension(d) => format!("dimension.{d}"),
            Field::Ignored => String::from_utf8_lossy(&self.raw[i]).into_owned(),
        }
    }
}

/// A checked header and where the rows after it start.
#[derive(Debug, Clone)]
pub struct HeaderAt {
    /// The header.
    pub header: Header,
    /// Byte offset of the first row.
    pub rows_offset: u64,
    /// Line of the first row.
    pub rows_line: u64,
}

/// Finds and checks the header in the first bytes of a file (`eof`: they are the
/// whole file). Refuses an empty file, a binary one, and a header that is not one.
pub fn locate_header(
    kind: ImportKind,
    mapping: &Mapping,
    head: &[u8],
    eof: bool,
) -> Result<HeaderAt, String> {
    let start = if head.starts_with(super::split::BOM) {
        3
    } else {
        0
    };
    let body = &head[start..];
    if eof && body.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("the file is empty. {}", expected_header(kind)));
    }
    // Text files have no NUL bytes; spreadsheets (.xlsx), images and archives do.
    if body.iter().take(8192).any(|b| *b == 0) {
        return Err(format!(
            "the file is binary (an .xlsx workbook or an archive?), not CSV text: export it \
             as CSV (UTF-8, comma-separated). {}",
            expected_header(kind)
        ));
    }
    let mut recs = Vec::new();
    let mut splitter = super::split::Splitter::new(start as u64, 1);
    splitter.push(body, eof, &mut recs);
    let Some(first) = recs.into_iter().next() else {
        return Err(if eof {
            format!("the file is empty. {}", expected_header(kind))
        } else {
            format!(
                "no line break in the first {} bytes: not a CSV header. {}",
                head.len(),
                expected_header(kind)
            )
        });
    };
    let header = Header::parse(kind, &first.fields, mapping)?;
    Ok(HeaderAt {
        header,
        rows_offset: first.end,
        rows_line: first.next_line,
    })
}

fn expected_header(kind: ImportKind) -> String {
    format!(
        "A {} file starts with a header line such as: {} (see `billrun import sample {}`)",
        kind.name(),
        kind.sample().lines().next().unwrap_or_default(),
        kind.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[&str]) -> ByteRecord {
        ByteRecord::from(fields.to_vec())
    }

    #[test]
    fn samples_have_valid_headers() {
        for kind in ImportKind::ALL {
            let first = kind.sample().lines().next().unwrap();
            let header = Header::parse(
                kind,
                &rec(&first.split(',').collect::<Vec<_>>()),
                &Mapping::default(),
            );
            assert!(header.is_ok(), "{kind}: {:?}", header.err());
            assert_eq!(ImportKind::parse(kind.name()).unwrap(), kind);
        }
    }

    #[test]
    fn map_renames_their_columns_and_ignores_some() {
        let map =
            Mapping::parse(&["Event ID=event_id,When=timestamp".into(), "Notes=-".into()]).unwrap();
        let h = Header::parse(
            ImportKind::Usage,
            &rec(&[
                "Event ID",
                "When",
                "account_id",
                "schema",
                "attribute.calls",
                "Notes",
            ]),
            &map,
        )
        .unwrap();
        assert_eq!(h.index("event_id"), Some(0));
        assert_eq!(h.index("timestamp"), Some(1));
        assert_eq!(h.fields[4], Field::Attribute("calls".into()));
        assert_eq!(h.fields[5], Field::Ignored);
        assert!(Mapping::parse(&["oops".into()]).is_err());
        let e = Header::parse(
            ImportKind::Usage,
            &rec(&["a"]),
            &Mapping::parse(&["x=y".into()]).unwrap(),
        )
        .unwrap_err();
        assert!(e.contains("--map names column \"x\""), "{e}");
    }

    #[test]
    fn headers_that_are_not_headers_are_refused() {
        let p = |fields: &[&str]| {
            Header::parse(ImportKind::Licenses, &rec(fields), &Mapping::default()).unwrap_err()
        };
        let e = p(&["license_id;account_id;update_type;quantity;effective_from;idempotency_key"]);
        assert!(e.contains("separated by ';'"), "{e}");
        let e = p(&["seats", "acme", "ABSOLUTE", "3", "2026-01-01", "k1"]);
        assert!(e.contains("does the file start with a header line"), "{e}");
        let e = p(&[
            "license_id",
            "account_id",
            "update_type",
            "quantity",
            "effective_from",
        ]);
        assert!(e.contains("missing required column idempotency_key"), "{e}");
        let e = p(&[
            "license_id",
            "account_id",
            "update_type",
            "quantity",
            "effective_from",
            "idempotency_key",
            "colour",
        ]);
        assert!(e.contains("unknown column \"colour\""), "{e}");
        let e = p(&["license_id", "license_id"]);
        assert!(e.contains("twice"), "{e}");
        let bin = ByteRecord::from(vec![&b"\x89PNG\r\n\x1a\n\0\0"[..]]);
        assert!(Header::parse(ImportKind::Usage, &bin, &Mapping::default()).is_err());
        for (bytes, why) in [
            (&b""[..], "empty"),
            (b"\xEF\xBB\xBF\r\n", "empty"),
            (b"PK\x03\x04\0\0\x08\0event_id\n", "binary"),
        ] {
            let e = locate_header(ImportKind::Usage, &Mapping::default(), bytes, true).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let file = b"\xEF\xBB\xBFlicense_id,account_id,update_type,quantity,effective_from,idempotency_key\r\nx\r\ny";
        let at = locate_header(ImportKind::Licenses, &Mapping::default(), file, false).unwrap();
        let mut rows = Vec::new();
        crate::imports::split::Splitter::new(at.rows_offset, at.rows_line).push(
            &file[at.rows_offset as usize..],
            true,
            &mut rows,
        );
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 3]);
        let bad = ByteRecord::from(vec![&b"event_id\xff"[..]]);
        let e = Header::parse(ImportKind::Usage, &bad, &Mapping::default()).unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
