//! `roomctl api-key create|list|revoke`, run as an operator runs it,
//! against a fresh database.

mod common;

use common::pg::test_db;
use roomctl::db::api_keys::{self, KeyError, Scope};
use std::process::{Command, Output};

fn roomctl(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roomctl"))
        .env("DATABASE_URL", url)
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn create_prints_the_key_once_and_stores_only_its_hash() {
    let db = test_db().await;
    let o = roomctl(
        &db.url,
        &[
            "api-key",
            "create",
            "--name",
            "ci",
            "--scope",
            "write",
            "--expires",
            "90d",
        ],
    );
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let key = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the key on stdout: {stdout}"
    );
    assert!(key.starts_with("rmk_") && key.len() == 52, "{key}");
    assert!(stderr.contains("cannot be shown again"), "{stderr}");
    assert!(!stderr.contains(key), "{stderr}");

    let stored: Vec<(String, String, Vec<String>, bool)> = sqlx::query_as(
        "select key_prefix, key_hash, scopes, expires_at > now() + interval '89 days' from api_keys",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        [(
            key[..12].to_string(),
            api_keys::hash(key),
            vec!["write".to_string()],
            true
        )]
    );
    let dump: String = sqlx::query_scalar("select string_agg(t::text, '') from api_keys t")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert!(!dump.contains(key), "the key itself is stored");
    let caller = api_keys::verify(&db.pool, key).await.unwrap();
    assert_eq!(
        (caller.name.as_str(), caller.scopes),
        ("ci", vec![Scope::Write])
    );
}

#[tokio::test]
async fn keys_are_read_only_unless_asked_and_list_never_shows_them() {
    let db = test_db().await;
    let o = roomctl(&db.url, &["api-key", "create", "--name", "grafana"]);
    let key = out(&o).0.trim().to_string();
    let caller = api_keys::verify(&db.pool, &key).await.unwrap();
    assert_eq!(caller.scopes, vec![Scope::Read]);

    let o = roomctl(&db.url, &["api-key", "list"]);
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(&key[..12]) && stdout.contains("grafana"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&key) && !stdout.contains(&api_keys::hash(&key)),
        "{stdout}"
    );
    let header: Vec<&str> = stdout
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        [
            "ID",
            "PREFIX",
            "NAME",
            "SCOPES",
            "CREATED",
            "LAST USED",
            "EXPIRES",
            "REVOKED"
        ]
    );
}

#[tokio::test]
async fn revoke_by_prefix_ends_the_key() {
    let db = test_db().await;
    let key = out(&roomctl(&db.url, &["api-key", "create", "--name", "old"]))
        .0
        .trim()
        .to_string();
    let o = roomctl(&db.url, &["api-key", "revoke", &key[..12]]);
    assert!(o.status.success(), "{:?}", out(&o));
    assert!(matches!(
        api_keys::verify(&db.pool, &key).await,
        Err(KeyError::Invalid)
    ));
    let again = roomctl(&db.url, &["api-key", "revoke", &key[..12]]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        out(&again).1.contains("no active API key"),
        "{:?}",
        out(&again)
    );
}

#[test]
fn bad_names_and_scopes_are_refused_before_the_database_is_asked() {
    for args in [
        [
            "api-key",
            "create",
            "--name",
            "two words",
            "--scope",
            "read",
        ],
        ["api-key", "create", "--name", "ci", "--scope", "admin"],
    ] {
        let o = roomctl("postgres://nobody@127.0.0.1:1/none", &args);
        assert_eq!(o.status.code(), Some(2), "{:?}", out(&o));
    }
}
