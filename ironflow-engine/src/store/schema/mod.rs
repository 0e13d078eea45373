//! Versioned schema migrations, tracked in `PRAGMA user_version`.

use rusqlite::{Connection, OptionalExtension};

use super::{StoreError, StoreResult};

mod migrations;

use migrations::MIGRATIONS;

/// The newest schema version this build knows.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Brings the database to the latest schema, each migration in its own
/// transaction.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > LATEST {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: LATEST,
        });
    }
    if current == LATEST {
        return Ok(());
    }
    // Rebuilding a referenced table needs foreign keys off (they cannot be
    // switched inside a transaction); each migration is checked before it
    // commits instead.
    let enforced: i64 = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let result = (|| {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                return Err(StoreError::Commit(format!(
                    "migration {} leaves rows of {table} without their referenced row",
                    i + 1
                )));
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    })();
    conn.pragma_update(
        None,
        "foreign_keys",
        if enforced != 0 { "ON" } else { "OFF" },
    )?;
    result
}

#[cfg(test)]
mod tests;
