//! Settings that feed invoice documents, and their command line.
//!
//! - [`settings`]: storage of the organisation's logo (one current logo, every
//!   upload kept as an immutable version), billing-details profiles, invoice
//!   templates (the built-in one plus the organisation's, each upload an immutable
//!   version), the organisation's default template and accounts' own templates; and
//!   [`settings::ChunkSettings`], what `render-chunk` loads once per chunk.
//! - [`sandbox`]: organisation templates rendered (and checked on upload) in a
//!   child process with limits.
//! - [`commands`]: `billrun logo|billing-details|template ...` and
//!   `billrun account set-template`.
//!
//! Tables: `migrations/20261121000008_document_settings.sql`. Rendering itself is
//! `crate::bill_run::render`.

pub mod commands;
pub mod sandbox;
pub mod settings;
