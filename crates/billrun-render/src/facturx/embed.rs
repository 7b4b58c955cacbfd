//! Embedding the CII XML in a PDF: the Factur-X PDF/A-3 structure.
//!
//! What Factur-X 1.0.07 (§6, "PDF/A-3 container") asks, written with lopdf (the
//! version printpdf uses):
//! - the XML as an embedded file stream (`/Type /EmbeddedFile`, `/Subtype
//!   /text#2Fxml`, `/Params` with its size and date), in a file specification
//!   named `factur-x.xml` with `/AFRelationship /Alternative` (the XML is the
//!   invoice in another form: Factur-X's value for the EN 16931 profile, `/Data`
//!   being for MINIMUM and BASIC WL), listed in the catalog's `/Names
//!   /EmbeddedFiles` name tree and its `/AF` array (PDF/A-3 associated file);
//! - XMP metadata (`/Metadata`, uncompressed): `pdfaid:part 3`, `pdfaid:conformance
//!   B`, the document information (title, author, dates, creator, producer) and the
//!   Factur-X extension schema (`fx:DocumentType INVOICE`, `fx:DocumentFileName
//!   factur-x.xml`, `fx:Version 1.0`, `fx:ConformanceLevel EN 16931`) with its
//!   PDF/A schema description;
//! - an sRGB output intent (`/S /GTS_PDFA1`) with an ICC profile: Clinton Ingram's
//!   compact sRGB v2 profile (CC0, `assets/sRGB-v2-magic.icc`, see its LICENSE
//!   file), 736 bytes;
//! - the document information dictionary rewritten to match the XMP (PDF/A asks
//!   they agree), PDF version 1.7 (PDF/A-3 is based on it), and a file `/ID` (kept
//!   if the PDF has one).

use chrono::{DateTime, Utc};
use lopdf::{Dictionary, Object, Stream, StringFormat};

use super::{EInvoiceError, FILE_NAME};
use crate::pdf::PdfInfo;

/// The sRGB ICC profile of the output intent (see the module docs).
pub const SRGB_ICC: &[u8] = include_bytes!("../../assets/sRGB-v2-magic.icc");

/// The Factur-X XMP namespace (Factur-X 1.0 §6.2.2).
const FX_NS: &str = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#";

/// `pdf` with `xml` embedded as `factur-x.xml` and the PDF/A-3 metadata of `info`
/// (see the module docs). Errors: `pdf` does not parse ([`EInvoiceError::Pdf`]).
pub fn embed(pdf: &[u8], xml: &[u8], info: &PdfInfo) -> Result<Vec<u8>, EInvoiceError> {
    let mut doc = lopdf::Document::load_mem(pdf).map_err(|e| EInvoiceError::Pdf(e.to_string()))?;
    embed_into(&mut doc, xml, info)?;
    crate::pdf::compress_fast(&mut doc);
    let mut out = Vec::with_capacity(pdf.len() + xml.len() + 8 * 1024);
    doc.save_to(&mut out)
        .expect("writing a PDF to memory cannot fail");
    Ok(out)
}

/// [`embed`] on a parsed document (its streams are left uncompressed).
pub fn embed_into(
    doc: &mut lopdf::Document,
    xml: &[u8],
    info: &PdfInfo,
) -> Result<(), EInvoiceError> {
    let created = info.created.unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let pdf_date = created.format("D:%Y%m%d%H%M%S+00'00'").to_string();
    doc.version = "1.7".to_string();

    let mut params = Dictionary::new();
    params.set("Size", xml.len() as i64);
    params.set("ModDate", literal(&pdf_date));
    let mut file_dict = Dictionary::new();
    file_dict.set("Type", Object::Name(b"EmbeddedFile".to_vec()));
    file_dict.set("Subtype", Object::Name(b"text/xml".to_vec()));
    file_dict.set("Params", params);
    let file = doc.add_object(Stream::new(file_dict, xml.to_vec()));

    let mut ef = Dictionary::new();
    ef.set("F", file);
    ef.set("UF", file);
    let mut spec = Dictionary::new();
    spec.set("Type", Object::Name(b"Filespec".to_vec()));
    spec.set("F", literal(FILE_NAME));
    spec.set("UF", literal(FILE_NAME));
    spec.set("Desc", literal("Factur-X invoice (EN 16931)"));
    spec.set("AFRelationship", Object::Name(b"Alternative".to_vec()));
    spec.set("EF", ef);
    let spec = doc.add_object(spec);

    let mut icc_dict = Dictionary::new();
    icc_dict.set("N", 3);
    let icc = doc.add_object(Stream::new(icc_dict, SRGB_ICC.to_vec()));
    let mut intent = Dictionary::new();
    intent.set("Type", Object::Name(b"OutputIntent".to_vec()));
    intent.set("S", Object::Name(b"GTS_PDFA1".to_vec()));
    intent.set("OutputConditionIdentifier", literal("sRGB IEC61966-2.1"));
    intent.set("RegistryName", literal("http://www.color.org"));
    intent.set("Info", literal("sRGB IEC61966-2.1"));
    intent.set("DestOutputProfile", icc);

    let mut xmp_dict = Dictionary::new();
    xmp_dict.set("Type", Object::Name(b"Metadata".to_vec()));
    xmp_dict.set("Subtype", Object::Name(b"XML".to_vec()));
    let mut xmp_stream = Stream::new(xmp_dict, xmp(info, created).into_bytes());
    xmp_stream.allows_compression = false;
    let metadata = doc.add_object(xmp_stream);

    let mut names = Dictionary::new();
    names.set("Names", vec![literal(FILE_NAME), Object::Reference(spec)]);
    let catalog = doc
        .catalog_mut()
        .map_err(|e| EInvoiceError::Pdf(e.to_string()))?;
    let mut catalog_names = match catalog.get(b"Names") {
        Ok(Object::Dictionary(d)) => d.clone(),
        _ => Dictionary::new(),
    };
    catalog_names.set("EmbeddedFiles", names);
    catalog.set("Names", catalog_names);
    catalog.set("AF", vec![Object::Reference(spec)]);
    catalog.set("Metadata", metadata);
    catalog.set("OutputIntents", vec![Object::Dictionary(intent)]);

    let mut doc_info = Dictionary::new();
    doc_info.set("Title", text(&info.title));
    doc_info.set("Author", text(&info.author));
    doc_info.set("Creator", text("billrun"));
    doc_info.set("Producer", text("billrun"));
    doc_info.set("CreationDate", literal(&pdf_date));
    doc_info.set("ModDate", literal(&pdf_date));
    let doc_info = doc.add_object(doc_info);
    doc.trailer.set("Info", doc_info);
    if doc.trailer.get(b"ID").is_err() {
        let id = Object::String(
            format!("{:032x}", fnv(&[info.title.as_bytes(), xml].concat())).into_bytes(),
            StringFormat::Literal,
        );
        doc.trailer.set("ID", vec![id.clone(), id]);
    }
    Ok(())
}

/// The `factur-x.xml` embedded in `pdf` by [`embed`] (found through the catalog's
/// `/Names /EmbeddedFiles`), decompressed; none when `pdf` does not parse or has
/// none (a PDF rendered before e-invoices, or a draft's). The email attaches it.
pub fn extract(pdf: &[u8]) -> Option<Vec<u8>> {
    let doc = lopdf::Document::load_mem(pdf).ok()?;
    let deref = |o: &Object| doc.dereference(o).ok().map(|(_, o)| o.clone());
    let names = deref(doc.catalog().ok()?.get(b"Names").ok()?)?;
    let files = deref(names.as_dict().ok()?.get(b"EmbeddedFiles").ok()?)?;
    let list = deref(files.as_dict().ok()?.get(b"Names").ok()?)?;
    let list = list.as_array().ok()?;
    let spec = list
        .chunks(2)
        .find(|pair| matches!(&pair[0], Object::String(s, _) if s == FILE_NAME.as_bytes()))
        .and_then(|pair| pair.get(1))?;
    let spec = deref(spec)?;
    let ef = deref(spec.as_dict().ok()?.get(b"EF").ok()?)?;
    let file = deref(ef.as_dict().ok()?.get(b"F").ok()?)?;
    let stream = file.as_stream().ok()?;
    if stream.dict.get(b"Filter").is_ok() {
        stream.decompressed_content().ok()
    } else {
        Some(stream.content.clone())
    }
}

/// The XMP packet: PDF/A-3B identification, the document information, the
/// Factur-X properties and their extension schema.
fn xmp(info: &PdfInfo, created: DateTime<Utc>) -> String {
    let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
    let date = created.format("%Y-%m-%dT%H:%M:%SZ");
    let property = |name: &str, desc: &str| {
        format!(
            "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>{name}</pdfaProperty:name>\
             <pdfaProperty:valueType>Text</pdfaProperty:valueType>\
             <pdfaProperty:category>external</pdfaProperty:category>\
             <pdfaProperty:description>{desc}</pdfaProperty:description></rdf:li>\n"
        )
    };
    let properties = [
        property("DocumentFileName", "The name of the embedded XML document"),
        property(
            "DocumentType",
            "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER",
        ),
        property(
            "Version",
            "The actual version of the standard applying to the embedded XML document",
        ),
        property(
            "ConformanceLevel",
            "The conformance level of the embedded XML document",
        ),
    ]
    .concat();
    format!(
        r#"<?xpacket begin="{bom}" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>3</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{title}</rdf:li></rdf:Alt></dc:title>
<dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>billrun</pdf:Producer>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreatorTool>billrun</xmp:CreatorTool>
<xmp:CreateDate>{date}</xmp:CreateDate>
<xmp:ModifyDate>{date}</xmp:ModifyDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">
<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
<pdfaSchema:namespaceURI>{fx}</pdfaSchema:namespaceURI>
<pdfaSchema:prefix>fx</pdfaSchema:prefix>
<pdfaSchema:property><rdf:Seq>
{properties}</rdf:Seq></pdfaSchema:property>
</rdf:li></rdf:Bag></pdfaExtension:schemas>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:fx="{fx}">
<fx:DocumentType>INVOICE</fx:DocumentType>
<fx:DocumentFileName>{file}</fx:DocumentFileName>
<fx:Version>1.0</fx:Version>
<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"#,
        bom = '\u{feff}',
        title = esc(&info.title),
        author = esc(&info.author),
        fx = FX_NS,
        file = FILE_NAME,
    )
}

/// A PDF literal string of ASCII text.
fn literal(s: &str) -> Object {
    Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
}

/// A PDF text string: literal for ASCII, else UTF-16BE with its byte-order mark.
fn text(s: &str) -> Object {
    if s.is_ascii() {
        return literal(s);
    }
    let mut bytes = vec![0xFE, 0xFF];
    for u in s.encode_utf16() {
        bytes.extend_from_slice(&u.to_be_bytes());
    }
    Object::String(bytes, StringFormat::Hexadecimal)
}

/// FNV-1a, 64 bits: a file id for a PDF that has none (stable for the same input).
fn fnv(bytes: &[u8]) -> u128 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    u128::from(h) << 64 | u128::from(h.rotate_left(17))
}
