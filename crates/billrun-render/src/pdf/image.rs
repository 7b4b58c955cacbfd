//! The logo as a ready-made PDF image XObject.
//!
//! printpdf re-encodes a decoded image on every save (as JPEG, plus a compressed
//! alpha mask): about 6 ms for a 480x128 logo, more than the rest of an invoice.
//! Encoding it once, when the logo is checked, and handing printpdf the finished
//! stream makes the logo nearly free per PDF.

use std::collections::BTreeMap;
use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;
use printpdf::{DictItem, ExternalStream, ExternalXObject, Px};

/// Decodes a PNG or JPEG and builds its image XObject: 8-bit RGB pixels, Flate
/// compressed, with an 8-bit soft mask when the image has transparency.
pub fn encode(bytes: &[u8]) -> Result<ExternalXObject, image::ImageError> {
    let rgba = image::load_from_memory(bytes)?.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    let mut alpha = Vec::with_capacity((w * h) as usize);
    for p in rgba.pixels() {
        rgb.extend_from_slice(&p.0[..3]);
        alpha.push(p.0[3]);
    }
    let mut dict = image_dict(w, h, "DeviceRGB");
    if alpha.iter().any(|&a| a != 255) {
        let mask = ExternalStream {
            dict: image_dict(w, h, "DeviceGray"),
            content: deflate(&alpha),
            compress: false,
        };
        dict.insert("SMask".into(), DictItem::Stream { stream: mask });
    }
    Ok(ExternalXObject {
        stream: ExternalStream {
            dict,
            content: deflate(&rgb),
            compress: false,
        },
        width: Some(Px(w as usize)),
        height: Some(Px(h as usize)),
        dpi: Some(72.0),
    })
}

fn image_dict(w: u32, h: u32, colour_space: &str) -> BTreeMap<String, DictItem> {
    BTreeMap::from([
        ("Type".into(), DictItem::Name(b"XObject".to_vec())),
        ("Subtype".into(), DictItem::Name(b"Image".to_vec())),
        ("Width".into(), DictItem::Int(w.into())),
        ("Height".into(), DictItem::Int(h.into())),
        (
            "ColorSpace".into(),
            DictItem::Name(colour_space.as_bytes().to_vec()),
        ),
        ("BitsPerComponent".into(), DictItem::Int(8)),
        ("Filter".into(), DictItem::Name(b"FlateDecode".to_vec())),
    ])
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
}
