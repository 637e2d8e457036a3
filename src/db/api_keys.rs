//! Operator API keys (`api_keys`): created once, stored only as a SHA-256
//! hash, checked on every admin request.
//!
//! A key is `rmk_` followed by 48 hex digits (24 random bytes). Its first
//! 12 characters are kept as `key_prefix` so listings can tell keys apart;
//! the key itself is shown once, by [`create`], and never stored.

use super::DbError;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read the fleet: instances, plan, status page, metrics.
    Read,
    /// Change it: start, stop, restart, trigger a reconcile. Implies `Read`.
    Write,
}

impl Scope {
    /// The label stored in `api_keys.scopes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    /// Parses a stored or typed label.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

/// A key that passed [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `api_keys.id`.
    pub id: Uuid,
    /// The key's name, for audit rows (`operator:{name}`).
    pub name: String,
    /// The key's scopes.
    pub scopes: Vec<Scope>,
}

impl Caller {
    /// Whether the key grants `scope` (`write` implies `read`).
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| *s >= scope)
    }

    /// The audit actor: `operator:{name}`.
    pub fn actor(&self) -> String {
        format!("operator:{}", self.name)
    }
}

/// Why a presented key was not accepted. None of these says which keys exist.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Not a roomctl key, unknown, revoked, expired, or a customer's key.
    #[error("invalid API key")]
    Invalid,
    /// The database could not be asked.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A listed key (never the key itself).
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// `api_keys.id`.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// First 12 characters of the key.
    pub prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last accepted.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation.
    pub revoked_at: Option<DateTime<Utc>>,
}

const PREFIX_LEN: usize = 12;

/// SHA-256 of `key`, lowercase hex.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn looks_like_key(key: &str) -> bool {
    key.len() == 52 && key.starts_with("rmk_") && key[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Creates an operator key named `name` with `scopes`, valid until
/// `expires_at`. Returns its id and the key, which exists nowhere else.
pub async fn create(
    pool: &PgPool,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> Result<(Uuid, String), DbError> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    let key = format!("rmk_{}", hex::encode(bytes));
    let scopes: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let id: Uuid = sqlx::query_scalar(
        "insert into public.api_keys (name, key_prefix, key_hash, scopes, expires_at)
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(name)
    .bind(&key[..PREFIX_LEN])
    .bind(hash(&key))
    .bind(&scopes)
    .bind(expires_at)
    .fetch_one(pool)
    .await?;
    Ok((id, key))
}

/// Checks `key`: an operator key (no account), not revoked, not expired.
/// Records the use in `last_used_at`.
pub async fn verify(pool: &PgPool, key: &str) -> Result<Caller, KeyError> {
    if !looks_like_key(key) {
        return Err(KeyError::Invalid);
    }
    let row = sqlx::query(
        "update public.api_keys set last_used_at = now()
          where key_hash = $1 and account_id is null and revoked_at is null
            and (expires_at is null or expires_at > now())
         returning id, name, scopes",
    )
    .bind(hash(key))
    .fetch_optional(pool)
    .await
    .map_err(DbError::from)?
    .ok_or(KeyError::Invalid)?;
    let scopes: Vec<String> = row.try_get("scopes").map_err(DbError::from)?;
    Ok(Caller {
        id: row.try_get("id").map_err(DbError::from)?,
        name: row.try_get("name").map_err(DbError::from)?,
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
    })
}

/// Every operator key, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<KeyInfo>, DbError> {
    let rows = sqlx::query(
        "select id, name, key_prefix, scopes, created_at, last_used_at, expires_at, revoked_at
           from public.api_keys where account_id is null order by created_at desc",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(KeyInfo {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                prefix: r.try_get("key_prefix")?,
                scopes: r.try_get("scopes")?,
                created_at: r.try_get("created_at")?,
                last_used_at: r.try_get("last_used_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(DbError::from)
}

/// Revokes the operator key whose id or prefix is `which`. Returns how
/// many keys were revoked (0 or 1; a prefix shared by two keys revokes
/// none and counts 2 without changing anything).
pub async fn revoke(pool: &PgPool, which: &str) -> Result<u64, DbError> {
    let id = Uuid::parse_str(which).ok();
    let mut tx = pool.begin().await?;
    let matching: i64 = sqlx::query_scalar(
        "select count(*) from public.api_keys
          where account_id is null and revoked_at is null and (id = $1 or key_prefix = $2)",
    )
    .bind(id)
    .bind(which)
    .fetch_one(&mut *tx)
    .await?;
    if matching != 1 {
        return Ok(matching.max(0) as u64);
    }
    sqlx::query(
        "update public.api_keys set revoked_at = now()
          where account_id is null and revoked_at is null and (id = $1 or key_prefix = $2)",
    )
    .bind(id)
    .bind(which)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_implies_read_but_not_the_reverse() {
        let c = |scopes| Caller {
            id: Uuid::nil(),
            name: "x".into(),
            scopes,
        };
        assert!(c(vec![Scope::Write]).may(Scope::Read));
        assert!(!c(vec![Scope::Read]).may(Scope::Write));
        assert!(!c(vec![]).may(Scope::Read));
    }

    #[test]
    fn only_well_formed_keys_reach_the_database() {
        assert!(looks_like_key(&format!("rmk_{}", "ab".repeat(24))));
        assert!(!looks_like_key("rmk_short"));
        assert!(!looks_like_key(&format!("xyz_{}", "ab".repeat(24))));
        assert!(!looks_like_key(&format!("rmk_{}a'", "ab".repeat(23))));
    }
}
