//! `RenderMemo`, which `roomctl serve` shares between passes: a load that
//! reuses earlier renderings returns exactly what a fresh load returns, and
//! reuses only renderings whose inputs did not change.

mod common;

use common::desired::{Fixture, root};
use roomctl::desired::nginx::NginxTest;
use roomctl::desired::{self, Desired, RenderMemo, Reused, RootSecret};
use std::sync::Arc;

fn load_with(f: &Fixture, root: &RootSecret, memo: Option<&Arc<RenderMemo>>) -> Desired {
    let mut parts = desired::load_parts(&f.desired(), &f.dir.path().join("templates"))
        .unwrap_or_else(|e| panic!("{e}"));
    parts.nginx_test = NginxTest::IfInstalled;
    parts.memo = memo.cloned();
    parts
        .into_desired(root, &[])
        .unwrap_or_else(|e| panic!("{e}"))
}

fn fresh(f: &Fixture) -> Desired {
    load_with(f, &root(), None)
}

fn memoized(f: &Fixture, memo: &Arc<RenderMemo>) -> Desired {
    load_with(f, &root(), Some(memo))
}

fn edit(f: &Fixture, rel: &str, from: &str, to: &str) {
    let path = f.dir.path().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} contains {from:?}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn with_snippets(d: &Desired) -> usize {
    d.instances
        .values()
        .filter(|i| i.apps.values().any(|a| a.nginx.is_some()))
        .count()
}

#[test]
fn a_second_load_reuses_every_rendering_and_returns_the_same_state() {
    let f = Fixture::shipped();
    let memo = Arc::new(RenderMemo::default());
    let first = memoized(&f, &memo);
    assert_eq!(memo.reused(), Reused::default(), "nothing to reuse yet");
    let second = memoized(&f, &memo);
    assert!(
        with_snippets(&second) > 0,
        "the shipped platform has snippets"
    );
    assert_eq!(
        memo.reused(),
        Reused {
            specs: second.instances.len(),
            snippets: with_snippets(&second),
        }
    );
    assert_eq!(first, second);
    assert_eq!(second, fresh(&f));
}

#[test]
fn an_edited_instance_is_rendered_again_and_the_others_are_reused() {
    let f = Fixture::shipped();
    let memo = Arc::new(RenderMemo::default());
    let before = memoized(&f, &memo);
    edit(
        &f,
        "desired-state/instances/customers.toml",
        "MINDROOM_LOG_LEVEL = \"debug\"",
        "MINDROOM_LOG_LEVEL = \"info\"",
    );
    let after = memoized(&f, &memo);
    assert_eq!(memo.reused().specs, before.instances.len() - 1);
    assert_ne!(before, after, "the edit shows");
    assert_eq!(after, fresh(&f));
    let backend = common::desired::app(&after, "acme-backend");
    assert_eq!(common::desired::env(&backend, "MINDROOM_LOG_LEVEL"), "info");
}

#[test]
fn an_edited_instance_template_renders_every_instance_again() {
    let f = Fixture::shipped();
    let memo = Arc::new(RenderMemo::default());
    memoized(&f, &memo);
    let path = f.dir.path().join("templates/instance.toml.tera");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("# edited\n{text}")).unwrap();
    let after = memoized(&f, &memo);
    assert_eq!(memo.reused().specs, 0);
    assert_eq!(after, fresh(&f));
}

#[test]
fn an_edited_platform_renders_every_instance_again() {
    let f = Fixture::shipped();
    let memo = Arc::new(RenderMemo::default());
    let before = memoized(&f, &memo);
    let platform = std::fs::read_to_string(f.desired().join("platform.toml")).unwrap();
    let image = platform
        .lines()
        .skip_while(|l| !l.starts_with("[platform.images]"))
        .find(|l| l.contains('='))
        .expect("an image line")
        .to_string();
    let (key, _) = image.split_once('=').unwrap();
    let edited = format!("{}= \"ghcr.io/example/edited:1.0\"", key);
    edit(&f, "desired-state/platform.toml", &image, &edited);
    let after = memoized(&f, &memo);
    assert_eq!(memo.reused().specs, 0);
    assert_ne!(before, after);
    assert_eq!(after, fresh(&f));
}

#[test]
fn an_edited_snippet_template_renders_every_snippet_again() {
    let f = Fixture::shipped();
    let memo = Arc::new(RenderMemo::default());
    let before = memoized(&f, &memo);
    let path = f.dir.path().join("templates/nginx/matrix.conf.tera");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("# edited\n{text}")).unwrap();
    let after = memoized(&f, &memo);
    assert_eq!(memo.reused().snippets, 0);
    assert_eq!(memo.reused().specs, after.instances.len());
    assert_ne!(before, after, "the matrix apps' snippet digests changed");
    assert_eq!(after, fresh(&f));
}

#[test]
fn another_root_secret_renders_every_instance_again() {
    let f = Fixture::shipped();
    let memo = Arc::new(RenderMemo::default());
    let before = memoized(&f, &memo);
    let other = RootSecret::new("another-root-secret-of-at-least-32-bytes").unwrap();
    let after = load_with(&f, &other, Some(&memo));
    assert_eq!(memo.reused().specs, 0);
    assert_ne!(before, after, "derived secrets differ");
    assert_eq!(after, load_with(&f, &other, None));
}
