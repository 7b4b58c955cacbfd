//! The organisation's logo: checked once, when it is uploaded, so rendering never
//! meets a bad image.
//!
//! [`Logo::from_bytes`] accepts PNG and JPEG only, recognised by their magic bytes
//! (a file name proves nothing), at most [`MAX_LOGO_BYTES`], with each side within
//! [`MIN_LOGO_SIDE`]..=[`MAX_LOGO_SIDE`] pixels as the image header states, and only
//! if it actually decodes. The logo is then decoded and compressed into its PDF
//! image once (see [`crate::pdf::image`]): build the `Logo` once per organisation
//! and clone it into each [`crate::InvoiceDocument`] (cloning shares it), and no
//! PDF pays for image encoding.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use printpdf::ExternalXObject;
use serde::ser::SerializeStruct;
use serde::Serialize;

/// Largest accepted logo file: 1 MiB.
pub const MAX_LOGO_BYTES: usize = 1024 * 1024;
/// Smallest accepted width or height, in pixels.
pub const MIN_LOGO_SIDE: u32 = 16;
/// Largest accepted width or height, in pixels.
pub const MAX_LOGO_SIDE: u32 = 2000;

/// The image formats a logo may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogoFormat {
    /// PNG (transparency is kept).
    Png,
    /// JPEG.
    Jpeg,
}

impl LogoFormat {
    /// The MIME type (`image/png`, `image/jpeg`).
    pub fn mime(self) -> &'static str {
        match self {
            LogoFormat::Png => "image/png",
            LogoFormat::Jpeg => "image/jpeg",
        }
    }
}

/// Why a logo was refused. The messages are meant for the person uploading it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    /// The file is empty.
    #[error("the logo file is empty")]
    Empty,
    /// Neither PNG nor JPEG magic bytes.
    #[error(
        "not a PNG or JPEG image (the file starts with {start}); convert the logo to PNG or JPEG"
    )]
    NotAnImage {
        /// The first bytes, in hex, to help tell what it is.
        start: String,
    },
    /// Over [`MAX_LOGO_BYTES`].
    #[error("logo is {}, at most 1 MiB", size(*bytes))]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// A side outside [`MIN_LOGO_SIDE`]..=[`MAX_LOGO_SIDE`].
    #[error("logo is {width}x{height} px; each side must be 16 to 2000 px")]
    BadDimensions {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The header or the image data is broken.
    #[error("the {format} logo is damaged: {reason}")]
    Corrupt {
        /// "PNG" or "JPEG".
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn size(bytes: usize) -> String {
    // MiB with one decimal, except just over the limit, where "1.0 MiB, at most
    // 1 MiB" would read as a contradiction: KiB then.
    let tenths = (bytes as u64 * 10 + 512 * 1024) / (1024 * 1024);
    if tenths <= 10 {
        format!("{} KiB", (bytes as u64).div_ceil(1024))
    } else {
        format!("{}.{} MiB", tenths / 10, tenths % 10)
    }
}

/// A validated logo: the original file, its format and pixel size, and its decoded
/// pixels for PDF drawing.
#[derive(Clone)]
pub struct Logo {
    bytes: Arc<[u8]>,
    format: LogoFormat,
    width: u32,
    height: u32,
    pdf_image: Arc<ExternalXObject>,
}

impl Logo {
    /// Checks and decodes a logo file (see the module docs for the rules).
    pub fn from_bytes(bytes: &[u8]) -> Result<Logo, LogoError> {
        if bytes.is_empty() {
            return Err(LogoError::Empty);
        }
        let format = sniff(bytes)?;
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(LogoError::TooLarge { bytes: bytes.len() });
        }
        let (width, height) = match format {
            LogoFormat::Png => png_size(bytes)?,
            LogoFormat::Jpeg => jpeg_size(bytes)?,
        };
        let ok = MIN_LOGO_SIDE..=MAX_LOGO_SIDE;
        if !ok.contains(&width) || !ok.contains(&height) {
            return Err(LogoError::BadDimensions { width, height });
        }
        // Dimensions are checked before decoding so a forged header cannot make us
        // allocate a huge pixel buffer.
        let pdf_image = crate::pdf::image::encode(bytes).map_err(|e| LogoError::Corrupt {
            format: format_name(format),
            reason: e.to_string(),
        })?;
        Ok(Logo {
            bytes: bytes.into(),
            format,
            width,
            height,
            pdf_image: Arc::new(pdf_image),
        })
    }

    /// The file as uploaded.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// PNG or JPEG.
    pub fn format(&self) -> LogoFormat {
        self.format
    }
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }
    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }
    /// `data:image/png;base64,...`, for `<img src>` in HTML that travels alone
    /// (email bodies, stored documents).
    pub fn data_uri(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&self.bytes);
        format!("data:{};base64,{b64}", self.format.mime())
    }
    pub(crate) fn pdf_image(&self) -> &ExternalXObject {
        &self.pdf_image
    }
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Logo({:?}, {}x{} px, {} bytes)",
            self.format,
            self.width,
            self.height,
            self.bytes.len()
        )
    }
}

impl PartialEq for Logo {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

/// Templates see `format`, `mime`, `width`, `height` and `src` (a data URI).
impl Serialize for Logo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Logo", 5)?;
        st.serialize_field("format", &self.format)?;
        st.serialize_field("mime", self.format.mime())?;
        st.serialize_field("width", &self.width)?;
        st.serialize_field("height", &self.height)?;
        st.serialize_field("src", &self.data_uri())?;
        st.end()
    }
}

fn format_name(f: LogoFormat) -> &'static str {
    match f {
        LogoFormat::Png => "PNG",
        LogoFormat::Jpeg => "JPEG",
    }
}

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn sniff(bytes: &[u8]) -> Result<LogoFormat, LogoError> {
    if bytes.starts_with(PNG_MAGIC) {
        Ok(LogoFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Ok(LogoFormat::Jpeg)
    } else {
        let start = bytes
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        Err(LogoError::NotAnImage { start })
    }
}

fn corrupt(format: LogoFormat, reason: &str) -> LogoError {
    LogoError::Corrupt {
        format: format_name(format),
        reason: reason.into(),
    }
}

/// Width and height from the IHDR chunk, which the PNG spec requires first.
fn png_size(b: &[u8]) -> Result<(u32, u32), LogoError> {
    if b.len() < 24 || &b[12..16] != b"IHDR" {
        return Err(corrupt(
            LogoFormat::Png,
            "no IHDR header after the signature",
        ));
    }
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    Ok((be(16), be(20)))
}

/// Width and height from the first start-of-frame segment (SOF0..SOF15 except the
/// DHT/JPG/DAC markers C4, C8, CC), walking segment lengths from the start.
fn jpeg_size(b: &[u8]) -> Result<(u32, u32), LogoError> {
    let mut i = 2;
    while i + 4 <= b.len() {
        if b[i] != 0xFF {
            return Err(corrupt(LogoFormat::Jpeg, "bad segment marker"));
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        let is_sof = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            if i + 9 > b.len() {
                break;
            }
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            return Ok((w, h));
        }
        if marker == 0xDA || len < 2 {
            break; // image data began without a frame header
        }
        i += 2 + len;
    }
    Err(corrupt(
        LogoFormat::Jpeg,
        "no frame header (SOF) giving the image size",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_sample_png_and_jpeg() {
        let png = Logo::from_bytes(crate::sample::SAMPLE_LOGO_PNG).unwrap();
        assert_eq!(png.format(), LogoFormat::Png);
        assert!(png.width() >= 16 && png.height() >= 16);
        assert!(png
            .data_uri()
            .starts_with("data:image/png;base64,iVBORw0KGgo"));
        let jpeg = Logo::from_bytes(crate::sample::SAMPLE_LOGO_JPEG).unwrap();
        assert_eq!(jpeg.format(), LogoFormat::Jpeg);
        assert_eq!((jpeg.width(), jpeg.height()), (png.width(), png.height()));
    }

    #[test]
    fn refuses_what_is_not_an_image() {
        let e = Logo::from_bytes(b"%PDF-1.7 not a logo").unwrap_err();
        assert!(e.to_string().starts_with("not a PNG or JPEG image"), "{e}");
        let e = Logo::from_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>").unwrap_err();
        assert!(e.to_string().contains("not a PNG or JPEG"), "{e}");
        assert_eq!(Logo::from_bytes(b"").unwrap_err(), LogoError::Empty);
    }

    #[test]
    fn refuses_a_file_over_one_mib() {
        let mut big = crate::sample::SAMPLE_LOGO_PNG.to_vec();
        big.resize(3_355_444, 0); // 3.2 MiB, still a PNG signature
        let e = Logo::from_bytes(&big).unwrap_err();
        assert_eq!(e.to_string(), "logo is 3.2 MiB, at most 1 MiB");
        let mut just_over = crate::sample::SAMPLE_LOGO_PNG.to_vec();
        just_over.resize(MAX_LOGO_BYTES + 1, 0);
        let e = Logo::from_bytes(&just_over).unwrap_err();
        assert_eq!(e.to_string(), "logo is 1025 KiB, at most 1 MiB");
    }

    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut b = PNG_MAGIC.to_vec();
        b.extend_from_slice(&13u32.to_be_bytes());
        b.extend_from_slice(b"IHDR");
        b.extend_from_slice(&w.to_be_bytes());
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    #[test]
    fn refuses_dimensions_out_of_range_from_the_header() {
        for (w, h) in [(4000, 300), (8, 100), (100, 2001), (100_000, 100_000)] {
            let e = Logo::from_bytes(&png_header(w, h)).unwrap_err();
            assert_eq!(
                e,
                LogoError::BadDimensions {
                    width: w,
                    height: h
                }
            );
            assert!(e.to_string().contains("16 to 2000 px"), "{e}");
        }
    }

    #[test]
    fn refuses_a_damaged_image() {
        // A valid header with no image data behind it.
        let e = Logo::from_bytes(&png_header(100, 100)).unwrap_err();
        assert!(e.to_string().starts_with("the PNG logo is damaged"), "{e}");
        let e = Logo::from_bytes(&[0xFF, 0xD8, 0xFF, 0xDA, 0, 2]).unwrap_err();
        assert!(e.to_string().contains("no frame header"), "{e}");
        let e = Logo::from_bytes(PNG_MAGIC).unwrap_err();
        assert!(e.to_string().contains("IHDR"), "{e}");
    }

    #[test]
    fn jpeg_size_skips_other_segments() {
        // SOI, APP0 (len 4), SOF0 with 300 high x 500 wide.
        let b = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 1, 2, 0xFF, 0xC0, 0, 11, 8, 0x01, 0x2C, 0x01, 0xF4, 3,
        ];
        assert_eq!(jpeg_size(&b).unwrap(), (500, 300));
    }
}
