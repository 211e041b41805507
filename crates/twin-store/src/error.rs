//! The storage error type. Nothing above this crate matches on diesel or pool errors.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What went wrong in the store, in domain terms.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist (or belongs to another owner: callers cannot tell).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken (duplicate id, duplicate version, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or the pool timed out waiting for a connection.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Input or stored data broke a rule of the schema (check constraint, unknown enum value).
    #[error("invalid data: {0}")]
    Invalid(String),
    /// Applying or reverting migrations failed.
    #[error("migration failed: {0}")]
    Migration(String),
    /// A listing cursor that this store did not hand out.
    #[error("bad cursor")]
    BadCursor,
    /// A conditional change found its condition false: the row changed since it was read
    /// (a key revoked or rotated meanwhile). Nothing was written.
    #[error("precondition failed: {0}")]
    Precondition(String),
    /// A count-limited insert found the limit reached (the plan's active keys).
    #[error("limit reached")]
    LimitReached,
    /// Any other database failure. Its text is for logs, never for API responses.
    #[error("database error: {0}")]
    Database(String),
}

impl StoreError {
    /// Whether this error means the database is unreachable (answer 503, not 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<DieselError> for StoreError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => StoreError::NotFound,
            DieselError::DatabaseError(kind, info) => {
                let msg = info.message().to_owned();
                match kind {
                    DatabaseErrorKind::UniqueViolation => StoreError::Conflict(msg),
                    DatabaseErrorKind::ForeignKeyViolation => StoreError::NotFound,
                    DatabaseErrorKind::CheckViolation | DatabaseErrorKind::NotNullViolation => {
                        StoreError::Invalid(msg)
                    }
                    DatabaseErrorKind::ClosedConnection => StoreError::Unavailable(msg),
                    // SQLite reports a lock held past the busy timeout this way.
                    _ if msg.contains("database is locked") => StoreError::Unavailable(msg),
                    _ => StoreError::Database(msg),
                }
            }
            DieselError::BrokenTransactionManager => {
                StoreError::Unavailable("broken transaction manager".into())
            }
            other => StoreError::Database(other.to_string()),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for StoreError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;
