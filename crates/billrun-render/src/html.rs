//! HTML through Tera, and templates as a whole (HTML plus the PDF route that goes
//! with them).
//!
//! Autoescaping is always on: every value from the view model is HTML-escaped, so a
//! customer named `<script>alert(1)</script> & Co` prints as text. The view model
//! is the template's context: its top-level fields (`number`, `customer`,
//! `groups`, ...) are the template's variables.
//!
//! # Organisation templates are untrusted
//! A template is code an organisation uploads, so it sees the invoice and nothing
//! else. Every template is compiled into its own Tera instance built from
//! `Tera::default()` with its functions replaced by an allowlist: only
//! [`range`](https://keats.github.io/tera/docs/#range) (at most [`MAX_RANGE`] items)
//! and `throw`. Tera 1.20 registers `get_env` (the process environment), and with
//! its `builtins` feature `now` and `get_random`; none is available. Before that,
//! [`check_policy`] refuses, with the reason, a template that calls any other
//! function or uses `{% include %}`, `{% import %}` or `{% extends %}` (a template
//! is one file: there is nothing else to include, and including itself recurses
//! forever). Filters and tests are Tera's own, which are pure. What a template can
//! still do is spend time, memory and stack (loops, recursive macros): the
//! application renders organisation templates in a child process with limits.

use std::collections::HashMap;
use std::sync::OnceLock;

use tera::ast::{Expr, ExprVal, FunctionCall, Node};
use tera::{Context, Tera, Value};

use crate::model::InvoiceDocument;
use crate::RenderError;

/// The built-in template's text (`templates/invoice.html.tera`).
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/invoice.html.tera");

/// Tera decides autoescaping by template name: a `.html` name turns it on.
const NAME: &str = "invoice.html";

/// An invoice template: the built-in one, or an organisation's.
pub struct Template {
    tera: Tera,
    builtin: bool,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template")
            .field("builtin", &self.builtin)
            .finish()
    }
}

impl Template {
    /// The built-in template (compiled once per process).
    pub fn builtin() -> &'static Template {
        static BUILTIN: OnceLock<Template> = OnceLock::new();
        BUILTIN.get_or_init(|| Template {
            tera: compile(BUILTIN_TEMPLATE).expect("the built-in template passes the policy"),
            builtin: true,
        })
    }

    /// Compiles an organisation's template and checks it by rendering the
    /// [`crate::sample()`] invoice, so a template that names a missing field, has a
    /// syntax error or breaks the policy (see the module docs) is refused when it is
    /// added, not when invoices render.
    ///
    /// This runs the template: a hostile one can recurse until the stack overflows
    /// or loop for long. Call it where that is contained (the application does it in
    /// its render sandbox process).
    pub fn parse(text: &str) -> Result<Template, RenderError> {
        let t = Template::compile(text)?;
        t.render_html(&crate::sample::sample())?;
        Ok(t)
    }

    /// Compiles an organisation's template under the policy without rendering
    /// anything (for rendering invoices with a template already checked on upload).
    pub fn compile(text: &str) -> Result<Template, RenderError> {
        Ok(Template {
            tera: compile(text)?,
            builtin: false,
        })
    }

    /// Whether this is the built-in template.
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The invoice as HTML (the logo inline, as a data URI).
    pub fn render_html(&self, doc: &InvoiceDocument) -> Result<String, RenderError> {
        self.render(context(doc, None)?)
    }

    /// The invoice as PDF. The built-in template is drawn directly (fast); an
    /// organisation template is rendered to HTML and laid out by printpdf's HTML
    /// renderer, so its PDF shows what its HTML says.
    pub fn render_pdf(&self, doc: &InvoiceDocument) -> Result<Vec<u8>, RenderError> {
        if self.builtin {
            return Ok(crate::pdf::render_pdf(doc));
        }
        #[cfg(feature = "html-pdf")]
        {
            let html = self.render(context(doc, Some("logo"))?)?;
            crate::pdf::render_pdf_from_html(
                &html,
                doc.organisation.logo.as_ref(),
                &crate::pdf::PdfInfo::of(doc),
            )
        }
        #[cfg(not(feature = "html-pdf"))]
        Err(RenderError::HtmlLayout(
            "organisation templates need billrun-render's `html-pdf` feature for PDF".into(),
        ))
    }

    /// The template rendered with a view model already turned into JSON (see
    /// [`context_value`]); what the render sandbox receives.
    pub fn render_value(&self, ctx: &Value) -> Result<String, RenderError> {
        self.render(Context::from_value(ctx.clone()).map_err(template_error)?)
    }

    fn render(&self, ctx: Context) -> Result<String, RenderError> {
        self.tera.render(NAME, &ctx).map_err(template_error)
    }
}

/// The most items `range(...)` gives an organisation template (Tera's own has no
/// bound: `range(end=100000000)` allocates gigabytes).
pub const MAX_RANGE: usize = 10_000;

/// The functions an organisation template may call; every other name is refused
/// by [`check_policy`] and is not registered in its Tera instance.
pub const ALLOWED_FUNCTIONS: &[&str] = &["range", "throw"];

/// Refuses what an organisation template may not do, with the reason: calling a
/// function other than [`ALLOWED_FUNCTIONS`] (`get_env` reads the process
/// environment, `now` the clock, `get_random` the random source), and
/// `{% include %}`, `{% import %}`, `{% extends %}` (one template is one file).
/// Errors are [`RenderError::Forbidden`].
pub fn check_policy(text: &str) -> Result<(), RenderError> {
    let parsed = tera::Template::new(NAME, None, text).map_err(template_error)?;
    let mut found = Vec::new();
    nodes(&parsed.ast, &mut found);
    found.dedup();
    if found.is_empty() {
        Ok(())
    } else {
        Err(RenderError::Forbidden(found.join("; ")))
    }
}

fn nodes(ast: &[Node], found: &mut Vec<String>) {
    for node in ast {
        match node {
            Node::Extends(_, name) => found.push(format!(
                "{{% extends \"{name}\" %}}: a template is one file and cannot extend another"
            )),
            Node::Include(_, names, _) => found.push(format!(
                "{{% include \"{}\" %}}: a template is one file and cannot include another (or itself)",
                names.join("\", \"")
            )),
            Node::ImportMacro(_, file, _) => found.push(format!(
                "{{% import \"{file}\" %}}: a template is one file; define its macros in it"
            )),
            Node::VariableBlock(_, e) => expr(e, found),
            Node::MacroDefinition(_, m, _) => {
                m.args.values().flatten().for_each(|e| expr(e, found));
                nodes(&m.body, found);
            }
            Node::Set(_, s) => expr(&s.value, found),
            Node::FilterSection(_, f, _) => {
                call(&f.filter, found, false);
                nodes(&f.body, found);
            }
            Node::Block(_, b, _) => nodes(&b.body, found),
            Node::Forloop(_, f, _) => {
                expr(&f.container, found);
                nodes(&f.body, found);
                if let Some(body) = &f.empty_body {
                    nodes(body, found);
                }
            }
            Node::If(i, _) => {
                for (_, cond, body) in &i.conditions {
                    expr(cond, found);
                    nodes(body, found);
                }
                if let Some((_, body)) = &i.otherwise {
                    nodes(body, found);
                }
            }
            Node::Super
            | Node::Text(_)
            | Node::Raw(..)
            | Node::Break(_)
            | Node::Continue(_)
            | Node::Comment(..) => {}
        }
    }
}

fn expr(e: &Expr, found: &mut Vec<String>) {
    value(&e.val, found);
    for f in &e.filters {
        call(f, found, false);
    }
}

fn value(v: &ExprVal, found: &mut Vec<String>) {
    match v {
        ExprVal::FunctionCall(f) => call(f, found, true),
        ExprVal::Math(m) => {
            expr(&m.lhs, found);
            expr(&m.rhs, found);
        }
        ExprVal::Logic(l) => {
            expr(&l.lhs, found);
            expr(&l.rhs, found);
        }
        ExprVal::In(i) => {
            expr(&i.lhs, found);
            expr(&i.rhs, found);
        }
        ExprVal::Test(t) => t.args.iter().for_each(|e| expr(e, found)),
        ExprVal::MacroCall(m) => m.args.values().for_each(|e| expr(e, found)),
        ExprVal::Array(items) => items.iter().for_each(|e| expr(e, found)),
        ExprVal::StringConcat(c) => c.values.iter().for_each(|v| value(v, found)),
        ExprVal::String(_)
        | ExprVal::Int(_)
        | ExprVal::Float(_)
        | ExprVal::Bool(_)
        | ExprVal::Ident(_) => {}
    }
}

/// A function call (`function`) or a filter's arguments.
fn call(f: &FunctionCall, found: &mut Vec<String>, function: bool) {
    if function && !ALLOWED_FUNCTIONS.contains(&f.name.as_str()) {
        let why = match f.name.as_str() {
            "get_env" => "it would read the process environment (database passwords, keys)",
            "now" => "it would read the clock (a document must not depend on when it is rendered)",
            "get_random" => "it would read the random source",
            _ => "not an allowed function",
        };
        found.push(format!(
            "function {}(): {why}; organisation templates may call only {}",
            f.name,
            ALLOWED_FUNCTIONS.join(", ")
        ));
    }
    f.args.values().for_each(|e| expr(e, found));
}

/// The invoice as HTML with the built-in template.
pub fn render_html(doc: &InvoiceDocument) -> Result<String, RenderError> {
    Template::builtin().render_html(doc)
}

/// The invoice as HTML with an organisation's template text. Compiles the template
/// on each call: keep a [`Template`] to render many invoices.
pub fn render_html_with(template: &str, doc: &InvoiceDocument) -> Result<String, RenderError> {
    Template::compile(template)?.render_html(doc)
}

/// The policy first ([`check_policy`]), then a Tera instance with only the allowed
/// functions.
fn compile(text: &str) -> Result<Tera, RenderError> {
    check_policy(text)?;
    let mut tera = Tera::default();
    // Tera::default() registers range, throw and get_env (and now, get_random with
    // its `builtins` feature): keep none of them, register our own.
    tera.functions.clear();
    tera.register_function("range", bounded_range);
    tera.register_function("throw", throw);
    tera.autoescape_on(vec![".html"]);
    tera.add_raw_template(NAME, text).map_err(template_error)?;
    Ok(tera)
}

fn int_arg(args: &HashMap<String, Value>, name: &str) -> tera::Result<Option<i64>> {
    match args.get(name) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            tera::Error::msg(format!("range: `{name}` must be an integer, got {v}"))
        }),
    }
}

/// Tera's `range(start=0, end, step_by=1)`, refusing more than [`MAX_RANGE`] items.
fn bounded_range(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let start = int_arg(args, "start")?.unwrap_or(0);
    let end = int_arg(args, "end")?.ok_or_else(|| tera::Error::msg("range: `end` is required"))?;
    let step = int_arg(args, "step_by")?.unwrap_or(1);
    if step <= 0 {
        return Err(tera::Error::msg("range: `step_by` must be at least 1"));
    }
    let count = if end > start {
        (end as i128 - start as i128 + step as i128 - 1) / step as i128
    } else {
        0
    };
    if count > MAX_RANGE as i128 {
        return Err(tera::Error::msg(format!(
            "range: {count} items, organisation templates may have at most {MAX_RANGE}"
        )));
    }
    let items: Vec<i64> = (start..end).step_by(step as usize).collect();
    Ok(Value::from(items))
}

/// Tera's `throw(message)`: fails the render with the template's own message.
fn throw(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let msg = args
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("throw() called");
    Err(tera::Error::msg(msg.to_string()))
}

/// The view model as the JSON templates see; `logo_src` replaces the logo's data
/// URI (the HTML-to-PDF route refers to the logo by the name `logo`).
pub fn context_value(doc: &InvoiceDocument, logo_src: Option<&str>) -> Result<Value, RenderError> {
    let mut value = serde_json::to_value(doc).map_err(|e| RenderError::Template(e.to_string()))?;
    if let (Some(src), Some(logo)) = (logo_src, value["organisation"]["logo"].as_object_mut()) {
        logo.insert("src".into(), src.into());
    }
    Ok(value)
}

fn context(doc: &InvoiceDocument, logo_src: Option<&str>) -> Result<Context, RenderError> {
    Context::from_value(context_value(doc, logo_src)?).map_err(template_error)
}

/// Tera's top-level message is generic ("Failed to render ..."); the cause is in
/// its source chain, which template authors need to see.
fn template_error(e: tera::Error) -> RenderError {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    RenderError::Template(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_shows_every_line_and_total() {
        let doc = crate::sample::sample();
        let html = render_html(&doc).unwrap();
        assert!(html.contains("INV-2026-000042"));
        assert!(html.contains("Müller Analytics GmbH"));
        for g in &doc.groups {
            for l in &g.lines {
                assert!(html.contains(&l.display_name), "{}", l.display_name);
                assert!(html.contains(&l.amount.display), "{}", l.amount.display);
            }
        }
        assert!(html.contains(&doc.total.display));
        assert!(html.contains("src=\"data:image/png;base64,"));
    }

    #[test]
    fn values_are_escaped() {
        let mut doc = crate::sample::sample();
        doc.customer.name = "<script>alert(1)</script> & Co".into();
        let html = render_html(&doc).unwrap();
        assert!(!html.contains("<script>"), "raw script tag in the HTML");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co"));
        let own = render_html_with("<p>{{ customer.name }}</p>", &doc).unwrap();
        assert_eq!(
            own,
            "<p>&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co</p>"
        );
    }

    #[test]
    fn organisation_templates_are_checked_when_added() {
        let e = Template::parse("{{ customer.nmae }}").unwrap_err();
        assert!(e.to_string().contains("customer.nmae"), "{e}");
        let e = Template::parse("{% for g in groups %}").unwrap_err();
        assert!(e.to_string().starts_with("template:"), "{e}");
        let t = Template::parse("<h1>{{ number }}</h1>{{ total.display }}").unwrap();
        assert!(!t.is_builtin());
        let html = t.render_html(&crate::sample::sample()).unwrap();
        assert!(html.starts_with("<h1>INV-2026-000042</h1>$"), "{html}");
    }

    #[test]
    fn environment_clock_and_other_files_are_refused_with_the_reason() {
        let cases = [
            (
                "{{ get_env(name=\"DATABASE_URL\", default=\"none\") }}",
                "process environment",
            ),
            // Hidden where the sample render never goes: still refused.
            (
                "{% if false %}{{ x | default(value=get_env(name=\"HOME\")) }}{% endif %}",
                "get_env",
            ),
            (
                "{% macro m() %}{{ get_env(name=\"HOME\") }}{% endmacro %}",
                "get_env",
            ),
            ("{% set t = now() %}", "clock"),
            ("{{ get_random(end=9) }}", "random"),
            ("{% include \"invoice.html\" %}", "include"),
            ("{% import \"invoice.html\" as m %}", "import"),
            ("{% extends \"base.html\" %}", "extend"),
        ];
        for (text, why) in cases {
            let e = Template::parse(text).unwrap_err();
            assert!(matches!(e, RenderError::Forbidden(_)), "{text}: {e}");
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn the_tera_instance_has_only_the_allowed_functions() {
        // Defence in depth: even a template that escaped the policy finds no
        // get_env, now or get_random to call.
        let t = Template::compile("<p>{{ number }}</p>").unwrap();
        let mut names: Vec<&str> = t.tera.functions.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ALLOWED_FUNCTIONS);
        let b = Template::builtin();
        assert!(!b.tera.functions.contains_key("get_env"));
    }

    #[test]
    fn range_is_bounded() {
        // 0, 3, 6, 9: ceil((10 - 0) / 3) = 4 items.
        let t =
            Template::parse("{% for i in range(end=10, step_by=3) %}{{ i }},{% endfor %}").unwrap();
        assert_eq!(t.render_html(&crate::sample::sample()).unwrap(), "0,3,6,9,");
        // MAX_RANGE items exactly is fine; one more is refused before allocating.
        Template::parse("{% for i in range(end=10000) %}{% endfor %}").unwrap();
        let e =
            Template::parse("{% for i in range(end=100000000) %}{{ i }}{% endfor %}").unwrap_err();
        assert!(e.to_string().contains("100000000 items"), "{e}");
        let e =
            Template::parse("{% for i in range(start=1, end=10002) %}{% endfor %}").unwrap_err();
        assert!(e.to_string().contains("10001 items"), "{e}");
    }
}
