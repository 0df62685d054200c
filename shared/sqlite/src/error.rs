//! The adapter's errors, and how they read through the store port.

use automations_core::store::StoreError;
use rusqlite::ErrorCode;

/// What can go wrong in the SQLite adapter.
#[derive(Debug, thiserror::Error)]
pub enum SqliteError {
    /// SQLite refused or failed a statement (locked past the busy timeout, disk full, I/O).
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be read back.
    #[error("{0}")]
    Corrupt(String),
    /// The database was written by a newer version of this adapter; opening it could lose data.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The version the file is at.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// Another automation of the same entity already has this name.
    #[error("{0}")]
    NameTaken(StoreError),
}

/// The adapter's own result type.
pub type Result<T, E = SqliteError> = std::result::Result<T, E>;

impl SqliteError {
    /// Whether the error is about stored bytes rather than about reaching them: retrying will
    /// not help, an operator has to look.
    pub fn is_corrupt(&self) -> bool {
        match self {
            SqliteError::Corrupt(_) | SqliteError::SchemaTooNew { .. } => true,
            SqliteError::NameTaken(_) => false,
            SqliteError::Sqlite(e) => match e {
                rusqlite::Error::SqliteFailure(f, _) => {
                    matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
                }
                rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..)
                | rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::Utf8Error(..) => true,
                _ => false,
            },
        }
    }
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> StoreError {
        match e {
            SqliteError::NameTaken(taken) => taken,
            e if e.is_corrupt() => StoreError::Corrupt(e.to_string()),
            e => StoreError::Unavailable(e.to_string()),
        }
    }
}
