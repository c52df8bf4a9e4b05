//! Turns: jobs that one replica at a time should run (missed-delivery
//! recovery), taken without blocking.
//!
//! On PostgreSQL a turn is a session-level advisory lock
//! (`pg_try_advisory_lock`) held on a connection of its own, opened for the
//! turn and closed after it. A replica that crashes or loses its connection
//! loses the turn with it: the server releases session locks when the session
//! ends, and the connection asks the server to probe for a dead client within
//! about a minute. SQLite is one process's database, so its turns are always
//! granted.

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::{Store, StoreError};

/// A job that replicas sharing a database take turns at. The discriminant is
/// the advisory lock key: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnKind {
    /// One pass of missed-delivery recovery.
    DeliveryRecovery = 1,
}

/// Advisory lock keys are one 64-bit space per database, shared with anything
/// else using it; Fixwright's keys are `NAMESPACE << 32 | kind`.
const NAMESPACE: i64 = 0x6678_7772; // "fxwr"

impl TurnKind {
    /// The advisory lock key of this kind of turn.
    pub fn key(self) -> i64 {
        (NAMESPACE << 32) | self as i64
    }
}

/// A turn held by this replica. End it with [`Turn::end`]; dropping it also
/// ends it, when its connection closes.
#[derive(Debug)]
pub struct Turn {
    kind: TurnKind,
    connection: Option<PgConnection>,
}

/// How long taking a turn may wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Takes the turn of `kind` if no other replica holds it; `None` if one does.
    pub async fn try_take_turn(&self, kind: TurnKind) -> Result<Option<Turn>, StoreError> {
        let pool = match self {
            Store::Sqlite(_) => {
                return Ok(Some(Turn {
                    kind,
                    connection: None,
                }));
            }
            Store::Postgres(pool) => pool,
        };
        // A connection of its own: a session lock left on a pooled connection
        // would stay held by whichever task used that connection next.
        let options = pool.connect_options();
        let mut connection =
            tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
                .await
                .map_err(|_| StoreError::ConnectTimeout(CONNECT_TIMEOUT))?
                .map_err(StoreError::Connect)?;
        // The server notices a vanished holder by TCP keepalive: idle 30 s,
        // then 3 probes 10 s apart (no effect over a Unix socket).
        sqlx::query(
            "SELECT set_config('tcp_keepalives_idle', '30', false), \
                    set_config('tcp_keepalives_interval', '10', false), \
                    set_config('tcp_keepalives_count', '3', false)",
        )
        .execute(&mut connection)
        .await?;
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(kind.key())
            .fetch_one(&mut connection)
            .await?;
        if !taken {
            let _ = connection.close().await;
            return Ok(None);
        }
        Ok(Some(Turn {
            kind,
            connection: Some(connection),
        }))
    }
}

impl Turn {
    /// The kind of job this turn is for.
    pub fn kind(&self) -> TurnKind {
        self.kind
    }

    /// Releases the turn so another replica may take it at once.
    pub async fn end(mut self) {
        let Some(mut connection) = self.connection.take() else {
            return;
        };
        let released = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
            .bind(self.kind.key())
            .fetch_one(&mut connection)
            .await;
        if let Err(error) = released {
            // Closing the session below releases it anyway.
            tracing::warn!(%error, kind = ?self.kind, "cannot release a turn explicitly");
        }
        let _ = connection.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_namespaced_and_stable() {
        assert_eq!(TurnKind::DeliveryRecovery.key(), 0x6678_7772_0000_0001);
    }
}
