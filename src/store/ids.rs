//! Typed identifiers shared by every area.

use std::fmt;

/// An organisation's id (Togai's tenant: every customer, account, plan, invoice and
/// job belongs to exactly one). A newtype so that an organisation id is never passed
/// where an account or plan id is expected; it derefs to `&str` for SQL binds and
/// messages. Constructing one does not check that the organisation exists: the
/// front ends do that once per request (the CLI when it opens the database, the API
/// from the caller's credentials), and a query with an unknown id finds nothing.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct OrgId(String);

impl OrgId {
    /// Wraps an id as given (trimmed of nothing; ids are compared exactly).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for OrgId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for OrgId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl From<String> for OrgId {
    fn from(id: String) -> Self {
        Self(id)
    }
}

impl From<&str> for OrgId {
    fn from(id: &str) -> Self {
        Self(id.to_string())
    }
}

impl sqlx::Type<sqlx::Postgres> for OrgId {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <String as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for OrgId {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.0.as_str(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for OrgId {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<String as sqlx::Decode<sqlx::Postgres>>::decode(
            value,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::OrgId;

    #[test]
    fn an_org_id_is_its_text() {
        let org = OrgId::from("acme");
        assert_eq!(&*org, "acme");
        assert_eq!(format!("[{org:<6}]"), "[acme  ]");
        assert_eq!(serde_json::to_string(&org).unwrap(), "\"acme\"");
        let back: OrgId = serde_json::from_str("\"acme\"").unwrap();
        assert_eq!(back, org);
    }
}
