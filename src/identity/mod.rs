//! Identity (issue 14 items 3, 4, 6): who may act in an organisation, and the record of
//! what they did. This area owns the tables `api_tokens`, `users`, `user_invites`,
//! `user_sessions` and `audit_log`:
//!
//! - [`roles`]: Togai's four Admin Center roles and the one permission table;
//! - [`tokens`]: API tokens (created and shown once, stored as a SHA-256, listed,
//!   deactivated, re-activated, deleted; authenticated);
//! - [`users`]: users invited by email, accepting with a password (argon2id), and
//!   their sessions;
//! - [`user_admin`]: showing a user, changing its role, removing it or revoking its
//!   invitation (never the organisation's last active Administrator);
//! - [`audit`]: the append-only audit trail every change here writes to.
//!
//! The functions take the organisation as an [`OrgId`], the actor as an [`Actor`] and
//! the instant to act as of (`as_of`, UTC): they read no wall clock and print nothing.
//! Each change writes its audit row in its own transaction when it succeeds, and a
//! `FAILURE` row when it is refused. Secrets are never logged, stored or returned
//! except the one-time display of a new token, invitation link or session token.
//!
//! **Why SHA-256 and not argon2 for tokens.** A token's secret is 256 random bits
//! from the operating system: nobody can guess it, so a slow hash adds nothing, and a
//! fast one (SHA-256, `sha2`) lets a request be authenticated in microseconds. A
//! password is chosen by a person and can be guessed: it is hashed with argon2id
//! (`argon2`, its default parameters: 19 MiB, 2 passes, 1 lane).

use std::fmt;

use sha2::{Digest, Sha256};

use crate::error::{Classify, ErrorKind};
pub use crate::store::OrgId;

pub mod audit;
pub mod demo_admin;
mod invite_email;
pub mod roles;
pub mod sessions;
pub mod throttle;
pub mod token_sessions;
pub mod tokens;
pub mod user_admin;
pub mod users;

pub use roles::{Access, Resource, Role};

/// Why an identity operation failed. Messages name the object and what was expected,
/// and never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The input was wrong (a name, an email address, a role, a password).
    #[error("{0}")]
    Invalid(String),
    /// The token, session, invitation or credentials do not authenticate: unknown,
    /// inactive, deleted, expired, used, or a wrong password. Deliberately vague.
    #[error("{0}")]
    Unauthenticated(String),
    /// The object does not exist in the organisation.
    #[error("{0}")]
    NotFound(String),
    /// The request contradicts the stored state (a duplicate name, a user already
    /// active).
    #[error("{0}")]
    Conflict(String),
    /// Sending the invitation email failed.
    #[error("sending the invitation email: {0}")]
    Mail(String),
    /// The database.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Classify for IdentityError {
    fn kind(&self) -> ErrorKind {
        match self {
            IdentityError::Invalid(_) | IdentityError::Unauthenticated(_) => ErrorKind::Invalid,
            IdentityError::NotFound(_) => ErrorKind::NotFound,
            IdentityError::Conflict(_) => ErrorKind::Conflict,
            IdentityError::Mail(_) => ErrorKind::Unavailable,
            IdentityError::Db(e) => e.kind(),
        }
    }
}

impl From<crate::paging::ListError> for IdentityError {
    fn from(e: crate::paging::ListError) -> Self {
        match e {
            crate::paging::ListError::Db(e) => IdentityError::Db(e),
            bad => IdentityError::Invalid(bad.to_string()),
        }
    }
}

/// A result of this area.
pub type Result<T, E = IdentityError> = std::result::Result<T, E>;

/// Who acts: stored in the audit trail as `actor_kind` and `actor_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActorKind {
    /// A user, by email (through a session).
    User,
    /// An API token, by token id.
    Token,
    /// The command line, by OS user name or `--actor`.
    Cli,
}

impl ActorKind {
    /// The stored text: `USER`, `TOKEN`, `CLI`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "USER",
            ActorKind::Token => "TOKEN",
            ActorKind::Cli => "CLI",
        }
    }
}

/// An actor: its kind and id (an email, a token id, an OS user name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    /// User, token or CLI.
    pub kind: ActorKind,
    /// The user's email, the token's id, or the CLI's OS user / `--actor`.
    pub id: String,
}

impl Actor {
    /// The command line acting as `name` (the OS user, or `--actor`).
    pub fn cli(name: impl Into<String>) -> Actor {
        Actor {
            kind: ActorKind::Cli,
            id: name.into(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.as_str(), self.id)
    }
}

/// Who a token or a session authenticates: the organisation it acts in, its role,
/// and the actor (the token's id, or the user's email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The organisation; the caller can act in this one only.
    pub org: OrgId,
    /// What it may do ([`roles::allows`]).
    pub role: Role,
    /// A token (id) or a user (email).
    pub actor: Actor,
}

/// 32 bytes from the operating system's random source, as 64 lowercase hex digits.
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    use argon2::password_hash::rand_core::RngCore;
    argon2::password_hash::rand_core::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// `n` random lowercase letters and digits (ids and token prefixes; not secrets).
pub(crate) fn random_id(n: usize) -> String {
    use argon2::password_hash::rand_core::RngCore;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = vec![0u8; n];
    argon2::password_hash::rand_core::OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// SHA-256 of `secret`, as 64 lowercase hex digits: what is stored of a token.
pub(crate) fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bits_of_hex_and_hashes_are_sha256() {
        let s = random_secret();
        assert_eq!(s.len(), 64);
        assert!(s.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(s, random_secret());
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert_eq!(random_id(8).len(), 8);
    }
}
