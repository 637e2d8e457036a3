//! Merging the database's instances with the operator's files, without a
//! database: the snapshot is built by hand.

mod common;

use chrono::{TimeZone, Utc};
use common::app::billing_fixture;
use common::desired::root;
use roomctl::db::model::{InstanceRow, InstanceStatus, SubStatus};
use roomctl::db::source::{DatabaseSource, Snapshot};
use roomctl::desired::{Source, load_parts};
use roomctl::domain::{InstanceId, RunState};
use uuid::Uuid;

fn row(name: &str, sub: &str, status: SubStatus, price: &str) -> InstanceRow {
    InstanceRow {
        id: Uuid::new_v4(),
        account_id: Uuid::new_v4(),
        app_name: name.into(),
        subdomain: name.into(),
        status: InstanceStatus::Running,
        host: None,
        stripe_subscription_id: sub.into(),
        stripe_price_id: Some(price.into()),
        tier: None,
        sub_status: status,
        trial_ends_at: None,
        cancelled_at: None,
        status_changed_at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        operator_stopped_at: None,
    }
}

const STARTER: &str = "price_fixture_starter_monthly";

fn load(files: &str, rows: Vec<InstanceRow>) -> Result<roomctl::desired::Desired, String> {
    let f = billing_fixture();
    f.write("desired-state/instances/a.toml", files);
    let parts = load_parts(&f.desired(), &f.dir.path().join("templates")).unwrap();
    let tiers = parts.tiers.clone();
    let snapshot = Snapshot { rows };
    let source = DatabaseSource {
        snapshot: &snapshot,
        tiers: &tiers,
        policy: parts.platform.subscriptions,
        now: Utc.timestamp_opt(1_800_000_100, 0).unwrap(),
    };
    parts
        .into_desired(&root(), &[&source])
        .map_err(|e| e.to_string())
}

#[test]
fn database_instances_join_the_files_with_their_subscription_as_source() {
    let d = load("", vec![row("mabc", "sub_1", SubStatus::Active, STARTER)]).unwrap();
    let i = &d.instances[&InstanceId::parse("mabc").unwrap()].instance;
    assert_eq!(i.tier.as_str(), "starter");
    assert_eq!(i.state, RunState::Running);
    assert_eq!(
        i.source,
        Source::Database {
            subscription: "sub_1".into()
        }
    );
}

#[test]
fn an_operators_file_overrides_the_database_instance_of_the_same_id() {
    let files = "[[instance]]\nid = \"mabc\"\ntier = \"enterprise\"\n";
    let d = load(
        files,
        vec![row("mabc", "sub_1", SubStatus::Active, STARTER)],
    )
    .unwrap();
    let i = &d.instances[&InstanceId::parse("mabc").unwrap()].instance;
    assert_eq!(i.tier.as_str(), "enterprise");
    assert!(matches!(i.source, Source::File { .. }));
    let (id, note) = &d.notes[0];
    assert_eq!(id.as_str(), "mabc");
    assert!(
        note.contains("a.toml:1") && note.contains("sub_1"),
        "{note}"
    );
}

#[test]
fn a_subdomain_claimed_by_a_file_and_a_subscription_is_an_error_naming_both() {
    let files = "[[instance]]\nid = \"acme\"\nsubdomain = \"mabc\"\n";
    let e = load(
        files,
        vec![row("mabc", "sub_1", SubStatus::Active, STARTER)],
    )
    .unwrap_err();
    assert!(
        e.contains("a.toml:1") && e.contains("subscription sub_1"),
        "{e}"
    );
}

#[test]
fn a_cancelled_subscription_past_retention_leaves_the_desired_set() {
    let mut r = row("mabc", "sub_1", SubStatus::Cancelled, STARTER);
    r.cancelled_at = Some(Utc.timestamp_opt(1_800_000_000 - 31 * 86_400, 0).unwrap());
    let d = load("", vec![r]).unwrap();
    assert!(d.instances.is_empty());
    let mut r = row("mabc", "sub_1", SubStatus::Cancelled, STARTER);
    r.cancelled_at = Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap());
    let d = load("", vec![r]).unwrap();
    assert_eq!(
        d.instances.values().next().unwrap().instance.state,
        RunState::Stopped
    );
}

#[test]
fn an_operators_stop_keeps_a_paying_subscriptions_instance_stopped() {
    let mut r = row("mabc", "sub_1", SubStatus::Active, STARTER);
    r.operator_stopped_at = Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap());
    let d = load("", vec![r]).unwrap();
    assert_eq!(
        d.instances.values().next().unwrap().instance.state,
        RunState::Stopped
    );
}

#[test]
fn an_operators_stop_does_not_keep_an_ended_subscriptions_instance() {
    let mut r = row("mabc", "sub_1", SubStatus::Cancelled, STARTER);
    r.cancelled_at = Some(Utc.timestamp_opt(1_800_000_000 - 31 * 86_400, 0).unwrap());
    r.operator_stopped_at = Some(Utc.timestamp_opt(1_800_000_000, 0).unwrap());
    let d = load("", vec![r]).unwrap();
    assert!(d.instances.is_empty());
}

#[test]
fn a_row_whose_tier_tiers_toml_no_longer_knows_is_refused_not_stopped() {
    let mut r = row("mabc", "sub_1", SubStatus::Active, "price_gone");
    r.tier = Some("platinum".into());
    let e = load("", vec![r]).unwrap_err();
    assert!(
        e.contains("subscription sub_1") && e.contains("price_gone"),
        "{e}"
    );
}

#[test]
fn a_price_tiers_toml_no_longer_maps_keeps_the_stored_tier() {
    let mut r = row("mabc", "sub_1", SubStatus::Active, "price_gone");
    r.tier = Some("professional".into());
    let d = load("", vec![r]).unwrap();
    assert_eq!(
        d.instances.values().next().unwrap().instance.tier.as_str(),
        "professional"
    );
}

fn tiers_error(edit: impl Fn(&str) -> String) -> String {
    let f = billing_fixture();
    let path = f.desired().join("tiers.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(&text)).unwrap();
    match load_parts(&f.desired(), &f.dir.path().join("templates")) {
        Ok(_) => panic!("tiers.toml should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_price_sold_by_two_tiers_is_refused_at_its_line() {
    let e = tiers_error(|t| {
        t.replace(
            "[tier.enterprise]\n",
            "[tier.enterprise]\nstripe_prices = [\"price_fixture_starter_monthly\"]\n",
        )
    });
    assert!(
        e.contains("tiers.toml:") && e.contains("already buys tier"),
        "{e}"
    );
}

#[test]
fn a_malformed_price_id_is_refused() {
    let e = tiers_error(|t| {
        t.replace(
            "[tier.free]\n",
            "[tier.free]\nstripe_prices = [\"prod_x; rm\"]\n",
        )
    });
    assert!(
        e.contains("field `tier.free.stripe_prices`") && e.contains("not a Stripe price id"),
        "{e}"
    );
}

#[test]
fn only_the_databases_tiers_can_be_sold() {
    let e = tiers_error(|t| {
        t.to_string()
            + "\n[tier.platinum]\nmemory = \"1g\"\ncpu = 1\nstorage_gb = 1\nmax_agents = 1\nmessages_per_day = 1\nstripe_prices = [\"price_platinum\"]\n"
    });
    assert!(
        e.contains("tier.platinum.stripe_prices") && e.contains("database's tiers"),
        "{e}"
    );
}
