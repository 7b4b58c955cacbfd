//! Validation errors that say which field was wrong and what was expected.

use std::fmt;

/// A value at `path` (e.g. `usageRateCards[2].ratePlan.slabs`) was not acceptable.
///
/// Parsing at the edge (plan JSON, CSV rows, CLI flags) reports these so that a user
/// can find and fix the input without reading code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the bad value is, as a JSON-path-like string (`a.b[3].c`).
    pub path: String,
    /// What was wrong and what was expected instead.
    pub message: String,
}

impl FieldError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error seen from one level up: `prefix.path`.
    pub fn within(mut self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        self.path = if self.path.is_empty() {
            prefix.to_string()
        } else if self.path.starts_with('[') {
            format!("{prefix}{}", self.path)
        } else {
            format!("{prefix}.{}", self.path)
        };
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Several field errors at once (e.g. one per rate card of a plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

impl From<FieldError> for FieldErrors {
    fn from(e: FieldError) -> Self {
        FieldErrors(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_prefixes_paths() {
        let e = FieldError::new("rate", "must not be negative").within("slabRates[1]");
        assert_eq!(e.path, "slabRates[1].rate");
        let e = FieldError::new("[0]", "x").within("slabs");
        assert_eq!(e.path, "slabs[0]");
        assert_eq!(e.to_string(), "slabs[0]: x");
    }
}
