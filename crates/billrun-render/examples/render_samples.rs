//! `cargo run -p billrun-render --example render_samples [DIR]`: writes the sample
//! invoices (typical, long, EUR, JPY, draft) as HTML and PDF into DIR (default
//! `./samples`), to look at them.

use billrun_core::Currency;
use billrun_render::{render_html, render_pdf, sample_with, InvoiceStatus};

fn main() -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "samples".into()));
    std::fs::create_dir_all(&dir)?;
    let mut draft = sample_with(4, Currency::USD);
    draft.status = InvoiceStatus::Draft;
    draft.status_label = InvoiceStatus::Draft.label().into();
    draft.number = "DRAFT".into();
    let docs = [
        ("typical", sample_with(10, Currency::USD)),
        ("long", sample_with(120, Currency::USD)),
        ("eur", sample_with(10, Currency::EUR)),
        ("jpy", sample_with(10, Currency::JPY)),
        ("draft", draft),
    ];
    for (name, doc) in docs {
        std::fs::write(
            dir.join(format!("{name}.html")),
            render_html(&doc).expect("renders"),
        )?;
        std::fs::write(dir.join(format!("{name}.pdf")), render_pdf(&doc))?;
        println!("{}", dir.join(name).display());
    }
    Ok(())
}
