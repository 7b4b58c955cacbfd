//! The bill run: close due cycles, compute their invoices, finalize them.
//!
//! ```text
//! cycle-close (scheduled)   find accounts with work as of `as_of`: a plan association
//!   |                       to open, an open cycle that has ended, a stale draft;
//!   |                       and drafts whose grace period is over
//!   +-> close-chunk         per chunk of accounts, in one transaction: open first
//!   |     |                 cycles, close every ended cycle (catching up), write one
//!   |     |                 DRAFT invoice per cycle boundary, recompute stale drafts,
//!   |     +-> finalize-chunk  for the chunk's drafts already past their grace period
//!   +-> finalize-chunk      apply credits, number the drafts (gapless, per
//!         |                 organisation), set the invoice and due dates, DRAFT -> DUE
//!         +-> render-chunk  the HTML and PDF of each finalized invoice, stored
//!               +-> deliver-chunk  emails each newly rendered invoice to its
//!                                  recipients, once per recipient
//! ```
//! Every step decides from database state and `as_of`, never from "the tick that
//! triggered it", so a missed tick is caught up by the next, and a retried or doubled
//! step changes nothing: cycles are locked and re-checked, invoices are unique per
//! (account, association, boundary), numbers are drawn under a row lock in the
//! transaction that makes the invoice DUE.

pub mod close;
pub mod cycle_close;
pub mod deliver;
pub mod finalize;
pub mod invoices;
pub mod load;
pub mod overview;
pub mod render;
pub mod rules_log;

pub use load::OrgSettings;
