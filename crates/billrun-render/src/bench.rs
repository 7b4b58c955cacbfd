//! The render benchmark behind `billrun bench render`.
//!
//! For a typical (10-line) and a long (120-line) invoice it measures, in one run:
//! HTML (built-in template), PDF by the built-in layout (one thread, and one thread
//! per core), PDF through printpdf's HTML renderer (the organisation-template
//! route), and WeasyPrint on the same HTML, as a ratio to the built-in PDF.
//!
//! WeasyPrint runs as one `python3` subprocess over a batch of HTML files written
//! to `work_dir`; its rate is timed inside that process around the rendering loop,
//! so interpreter start-up and imports do not count against it (the ratio is, if
//! anything, generous to WeasyPrint). This module is the crate's only I/O.

use std::fmt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::model::InvoiceDocument;

/// What to measure and how much.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// PDFs and HTML documents per case for the direct routes.
    pub iterations: usize,
    /// PDFs per case through printpdf's HTML renderer (slow; 0 to skip).
    pub html_route_iterations: usize,
    /// HTML files per case given to WeasyPrint (0 to skip).
    pub weasyprint_batch: usize,
    /// The Python interpreter that has WeasyPrint (`pip install weasyprint`).
    pub python: String,
    /// Where WeasyPrint's input and output files go.
    pub work_dir: PathBuf,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            iterations: 400,
            html_route_iterations: 5,
            weasyprint_batch: 10,
            python: "python3".into(),
            work_dir: std::env::temp_dir()
                .join(format!("billrun-bench-render-{}", std::process::id())),
        }
    }
}

/// Figures for one invoice size.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CaseReport {
    /// "typical" or "long".
    pub name: String,
    /// Charge lines of the invoice.
    pub lines: usize,
    /// Pages of its PDF.
    pub pages: usize,
    /// Size of its PDF in bytes.
    pub pdf_bytes: usize,
    /// HTML documents per second, one thread.
    pub html_per_sec: f64,
    /// PDFs per second by the built-in layout, one thread.
    pub pdf_per_sec: f64,
    /// PDFs per second by the built-in layout, one thread per core.
    pub pdf_per_sec_all_cores: f64,
    /// Threads used for `pdf_per_sec_all_cores`.
    pub threads: usize,
    /// PDFs per second through printpdf's HTML renderer (organisation templates).
    pub html_route_pdf_per_sec: Option<f64>,
    /// PDFs per second through WeasyPrint, same HTML, one process.
    pub weasyprint_per_sec: Option<f64>,
    /// Why WeasyPrint was not measured, if it was not.
    pub weasyprint_error: Option<String>,
}

impl CaseReport {
    /// How many times faster the built-in PDF is than WeasyPrint (one thread each).
    pub fn weasyprint_ratio(&self) -> Option<f64> {
        self.weasyprint_per_sec.map(|w| self.pdf_per_sec / w)
    }
}

/// The benchmark's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// One entry per invoice size.
    pub cases: Vec<CaseReport>,
}

/// Runs the benchmark (a release build gives meaningful figures).
pub fn bench(opts: &BenchOptions) -> BenchReport {
    let cases = [
        ("typical", crate::sample::sample()),
        ("long", crate::sample::sample_long()),
    ]
    .into_iter()
    .map(|(name, doc)| case(name, &doc, opts))
    .collect();
    let _ = std::fs::remove_dir_all(&opts.work_dir);
    BenchReport { cases }
}

fn rate(n: usize, f: impl Fn()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn case(name: &str, doc: &InvoiceDocument, opts: &BenchOptions) -> CaseReport {
    let n = opts.iterations.max(1);
    let html = crate::render_html(doc).expect("the built-in template renders");
    let pdf = crate::render_pdf(doc);
    // Warm up: fonts parsed, template compiled, allocator primed.
    for _ in 0..3 {
        std::hint::black_box(crate::render_pdf(doc));
    }
    let html_per_sec = rate(n, || {
        std::hint::black_box(crate::render_html(doc).unwrap());
    });
    let pdf_per_sec = rate(n, || {
        std::hint::black_box(crate::render_pdf(doc));
    });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..n.div_ceil(threads) {
                    std::hint::black_box(crate::render_pdf(doc));
                }
            });
        }
    });
    let pdf_per_sec_all_cores =
        (n.div_ceil(threads) * threads) as f64 / start.elapsed().as_secs_f64();
    let (weasyprint_per_sec, weasyprint_error) = if opts.weasyprint_batch > 0 {
        match weasyprint(name, &html, opts) {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        }
    } else {
        (None, Some("skipped".into()))
    };
    CaseReport {
        name: name.into(),
        lines: doc.line_count,
        pages: count_pages(&pdf),
        pdf_bytes: pdf.len(),
        html_per_sec,
        pdf_per_sec,
        pdf_per_sec_all_cores,
        threads,
        html_route_pdf_per_sec: html_route(doc, opts.html_route_iterations),
        weasyprint_per_sec,
        weasyprint_error,
    }
}

#[cfg(feature = "html-pdf")]
fn html_route(doc: &InvoiceDocument, n: usize) -> Option<f64> {
    if n == 0 {
        return None;
    }
    // The built-in template's text, treated as an organisation's.
    let t = crate::Template::parse(crate::BUILTIN_TEMPLATE).ok()?;
    t.render_pdf(doc).ok()?;
    Some(rate(n, || {
        std::hint::black_box(t.render_pdf(doc).unwrap());
    }))
}

#[cfg(not(feature = "html-pdf"))]
fn html_route(_: &InvoiceDocument, _: usize) -> Option<f64> {
    None
}

/// Pages of a PDF, counted from its page objects (enough for our own output).
pub fn count_pages(pdf: &[u8]) -> usize {
    let needle = b"/Type /Page";
    let alt = b"/Type/Page";
    let count = |n: &[u8]| {
        pdf.windows(n.len() + 1)
            .filter(|w| &w[..n.len()] == n && w[n.len()] != b's')
            .count()
    };
    count(needle) + count(alt)
}

const WEASYPRINT_SCRIPT: &str = r#"
import sys, time
import weasyprint
files = sys.argv[1:]
weasyprint.HTML(filename=files[0]).write_pdf(files[0] + ".warmup.pdf")
start = time.perf_counter()
for f in files:
    weasyprint.HTML(filename=f).write_pdf(f + ".pdf")
print(len(files) / (time.perf_counter() - start))
"#;

fn weasyprint(name: &str, html: &str, opts: &BenchOptions) -> Result<f64, String> {
    let dir = opts.work_dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for i in 0..opts.weasyprint_batch {
        let path = dir.join(format!("invoice-{i}.html"));
        std::fs::write(&path, html).map_err(|e| format!("{}: {e}", path.display()))?;
        files.push(path);
    }
    let out = Command::new(&opts.python)
        .arg("-c")
        .arg(WEASYPRINT_SCRIPT)
        .args(&files)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", opts.python))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").to_string();
        return Err(format!(
            "WeasyPrint failed ({last}); install it with `pip install weasyprint`"
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("unexpected WeasyPrint output: {e}"))
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invoice documents per second (release build; one thread unless noted)"
        )?;
        for c in &self.cases {
            writeln!(
                f,
                "{} invoice: {} lines, {} page(s), PDF {} KiB",
                c.name,
                c.lines,
                c.pages,
                c.pdf_bytes / 1024
            )?;
            writeln!(
                f,
                "  HTML (Tera, built-in template)      {:>10.0}/s",
                c.html_per_sec
            )?;
            writeln!(
                f,
                "  PDF  (built-in layout)              {:>10.0}/s",
                c.pdf_per_sec
            )?;
            writeln!(
                f,
                "  PDF  (built-in layout, {} threads)   {:>10.0}/s",
                c.threads, c.pdf_per_sec_all_cores
            )?;
            match c.html_route_pdf_per_sec {
                Some(r) => writeln!(
                    f,
                    "  PDF  (printpdf HTML renderer)       {r:>10.1}/s   ({:.0} ms each)",
                    1000.0 / r
                )?,
                None => writeln!(f, "  PDF  (printpdf HTML renderer)       not measured")?,
            }
            match (c.weasyprint_per_sec, &c.weasyprint_error) {
                (Some(w), _) => writeln!(
                    f,
                    "  PDF  (WeasyPrint, same HTML)        {w:>10.1}/s   built-in layout is {:.0}x faster",
                    c.weasyprint_ratio().unwrap_or(0.0)
                )?,
                (None, Some(e)) => writeln!(f, "  PDF  (WeasyPrint)                   not measured: {e}")?,
                (None, None) => {}
            }
        }
        Ok(())
    }
}
