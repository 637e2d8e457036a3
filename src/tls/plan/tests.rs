//! The wildcard planner's rules, one scenario per test.

use super::*;

const BASE: &str = "mindroom.chat";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn days(d: i64) -> TimeDelta {
    TimeDelta::days(d)
}

/// `{base}`, `*.{base}` and `*.{sub}.{base}` for each instance.
fn names_for(instances: &[&str]) -> BTreeSet<String> {
    let mut names = BTreeSet::from([BASE.to_string(), format!("*.{BASE}")]);
    names.extend(instances.iter().map(|i| format!("*.{i}.{BASE}")));
    names
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn stored(certs: &[(&str, BTreeSet<String>, TimeDelta)]) -> BTreeMap<String, StoredCert> {
    certs
        .iter()
        .map(|(name, names, left)| {
            let cert = StoredCert {
                names: names.clone(),
                not_after: now() + *left,
            };
            (name.to_string(), cert)
        })
        .collect()
}

fn limits(budget: u32) -> Limits {
    Limits::lets_encrypt(budget)
}

fn plan(
    needed: &BTreeSet<String>,
    stored: &BTreeMap<String, StoredCert>,
    ledger: &[DateTime<Utc>],
    limits: Limits,
) -> WildcardPlan {
    plan_wildcards(needed, stored, ledger, now(), &limits)
}

fn order(
    cert: &str,
    names: BTreeSet<String>,
    added: BTreeSet<String>,
    reason: OrderReason,
) -> CertOrder {
    CertOrder {
        cert: cert.to_string(),
        names,
        added,
        reason,
    }
}

#[test]
fn a_fresh_start_orders_one_certificate_with_every_name() {
    let needed = names_for(&["alice", "bob"]);
    let p = plan(&needed, &BTreeMap::new(), &[], limits(5));
    let new = order(
        "wildcard-0",
        needed.clone(),
        needed.clone(),
        OrderReason::New,
    );
    assert_eq!(p.orders, [new]);
    assert!(p.waiting.is_empty());
    assert_eq!((p.budget_used, p.budget), (1, 5));
    assert!(p.covering.values().all(|c| c == "wildcard-0"));
    assert_eq!(p.covering.keys().cloned().collect::<BTreeSet<_>>(), needed);
}

#[test]
fn a_new_instance_adds_its_wildcard_to_the_first_cert_with_room() {
    let mut lim = limits(5);
    lim.max_names = 4;
    let full = names_for(&["alice", "bob"]);
    let roomy = set(&["*.carol.mindroom.chat"]);
    let certs = stored(&[
        ("wildcard-0", full.clone(), days(60)),
        ("wildcard-1", roomy.clone(), days(60)),
    ]);
    let mut needed = names_for(&["alice", "bob", "carol", "dave"]);
    let p = plan(&needed, &certs, &[], lim);
    let dave = set(&["*.dave.mindroom.chat"]);
    let names = roomy.union(&dave).cloned().collect();
    assert_eq!(
        p.orders,
        [order("wildcard-1", names, dave, OrderReason::AddNames)]
    );
    assert_eq!(p.covering["*.dave.mindroom.chat"], "wildcard-1");
    assert_eq!(p.covering["*.alice.mindroom.chat"], "wildcard-0");
    assert_eq!(p.budget_used, 1);

    // Nothing changes once it is there.
    needed.remove("*.dave.mindroom.chat");
    assert!(plan(&needed, &certs, &[], lim).orders.is_empty());
}

#[test]
fn a_renewal_is_never_held_back_by_the_budget() {
    let names = names_for(&["alice"]);
    let certs = stored(&[("wildcard-0", names.clone(), days(29))]);
    let ledger = [now() - days(1), now() - days(2)];
    let p = plan(&names, &certs, &ledger, limits(2));
    let renew = order("wildcard-0", names, BTreeSet::new(), OrderReason::Renew);
    assert_eq!(p.orders, [renew]);
    assert!(!OrderReason::Renew.counts_against_budget());
    assert_eq!((p.budget_used, p.budget), (2, 2));
    // An expired certificate is renewed too.
    let certs = stored(&[("wildcard-0", names_for(&["alice"]), days(-3))]);
    let p = plan(&names_for(&["alice"]), &certs, &ledger, limits(0));
    assert_eq!(p.orders[0].reason, OrderReason::Renew);
}

#[test]
fn new_names_wait_when_the_weekly_budget_is_spent() {
    let certs = stored(&[("wildcard-0", names_for(&["alice"]), days(60))]);
    let needed = names_for(&["alice", "bob"]);
    let ledger = [now() - days(1), now() - days(6)];
    let p = plan(&needed, &certs, &ledger, limits(2));
    assert!(p.orders.is_empty());
    assert_eq!(p.waiting, set(&["*.bob.mindroom.chat"]));
    assert!(!p.covering.contains_key("*.bob.mindroom.chat"));
    assert_eq!(p.covering.len(), 3);
    assert_eq!((p.budget_used, p.budget), (2, 2));
}

#[test]
fn a_due_renewal_goes_ahead_with_its_names_while_new_names_wait() {
    let old = names_for(&["alice"]);
    let certs = stored(&[("wildcard-0", old.clone(), days(10))]);
    let needed = names_for(&["alice", "bob"]);
    let p = plan(&needed, &certs, &[now() - days(3)], limits(1));
    assert_eq!(
        p.orders,
        [order(
            "wildcard-0",
            old.clone(),
            BTreeSet::new(),
            OrderReason::Renew
        )]
    );
    assert_eq!(p.waiting, set(&["*.bob.mindroom.chat"]));

    // With budget, the same pass renews and adds in one order.
    let p = plan(&needed, &certs, &[], limits(1));
    let bob = set(&["*.bob.mindroom.chat"]);
    assert_eq!(
        p.orders,
        [order(
            "wildcard-0",
            needed,
            bob,
            OrderReason::RenewAndAddNames
        )]
    );
    assert!(p.waiting.is_empty());
}

#[test]
fn only_orders_of_the_last_seven_days_count() {
    let needed = names_for(&["alice"]);
    let ledger = [
        now() - days(7),
        now() - days(30),
        now() - days(7) + TimeDelta::seconds(1),
    ];
    let p = plan(&needed, &BTreeMap::new(), &ledger, limits(2));
    assert_eq!(p.orders.len(), 1);
    assert_eq!(p.budget_used, 2);
    let p = plan(&needed, &BTreeMap::new(), &ledger, limits(1));
    assert!(p.orders.is_empty());
    assert_eq!(p.waiting, needed);
    assert!(p.covering.is_empty());
}

#[test]
fn packing_is_stable_when_an_instance_leaves() {
    let mut lim = limits(5);
    lim.max_names = 3;
    let zero = set(&[BASE, "*.mindroom.chat", "*.alice.mindroom.chat"]);
    let one = set(&["*.bob.mindroom.chat", "*.carol.mindroom.chat"]);
    let certs = stored(&[
        ("wildcard-0", zero.clone(), days(60)),
        ("wildcard-1", one.clone(), days(60)),
    ]);
    // alice leaves: nobody moves, nothing is re-issued to drop her.
    let needed = names_for(&["bob", "carol"]);
    let p = plan(&needed, &certs, &[], lim);
    assert!(p.orders.is_empty());
    assert_eq!(p.covering["*.bob.mindroom.chat"], "wildcard-1");
    assert_eq!(p.covering[BASE], "wildcard-0");
    assert!(!p.covering.contains_key("*.alice.mindroom.chat"));
    // dave takes alice's place in wildcard-0, which drops her on the way.
    let needed = names_for(&["bob", "carol", "dave"]);
    let p = plan(&needed, &certs, &[], lim);
    let dave = set(&["*.dave.mindroom.chat"]);
    let names = set(&[BASE, "*.mindroom.chat", "*.dave.mindroom.chat"]);
    assert_eq!(
        p.orders,
        [order("wildcard-0", names, dave, OrderReason::AddNames)]
    );
}

#[test]
fn a_renewal_keeps_the_exact_name_set_so_it_stays_exempt() {
    let old = names_for(&["alice", "bob"]);
    let certs = stored(&[("wildcard-0", old.clone(), days(5))]);
    let p = plan(&names_for(&["bob"]), &certs, &[], limits(5));
    assert_eq!(
        p.orders,
        [order(
            "wildcard-0",
            old,
            BTreeSet::new(),
            OrderReason::Renew
        )]
    );
    assert_eq!(p.budget_used, 0);
    assert!(!p.covering.contains_key("*.alice.mindroom.chat"));
}

#[test]
fn a_cert_with_no_needed_names_is_not_renewed() {
    let certs = stored(&[
        ("wildcard-0", names_for(&["alice"]), days(60)),
        ("wildcard-1", set(&["*.gone.mindroom.chat"]), days(3)),
    ]);
    let p = plan(&names_for(&["alice"]), &certs, &[], limits(5));
    assert!(p.orders.is_empty());
    assert!(p.covering.values().all(|c| c == "wildcard-0"));
}

#[test]
fn a_hundred_and_one_names_need_two_certs() {
    let instances: Vec<String> = (0..99).map(|i| format!("i{i:03}")).collect();
    let refs: Vec<&str> = instances.iter().map(String::as_str).collect();
    let needed = names_for(&refs);
    assert_eq!(needed.len(), 101);
    let p = plan(&needed, &BTreeMap::new(), &[], limits(5));
    assert_eq!(p.orders.len(), 2);
    let (zero, one) = (&p.orders[0], &p.orders[1]);
    assert_eq!((zero.cert.as_str(), zero.names.len()), ("wildcard-0", 100));
    assert_eq!((one.cert.as_str(), one.names.len()), ("wildcard-1", 1));
    assert!(zero.names.contains(BASE) && zero.names.contains("*.mindroom.chat"));
    assert_eq!(one.names, set(&["*.i098.mindroom.chat"]));
    assert_eq!(p.budget_used, 2);
    // One order left in the budget: the second certificate waits.
    let p = plan(&needed, &BTreeMap::new(), &[], limits(1));
    assert_eq!(p.orders.len(), 1);
    assert_eq!(p.waiting, set(&["*.i098.mindroom.chat"]));
}

#[test]
fn new_names_fill_the_lowest_numbered_gap_and_orders_sort_by_number() {
    let mut lim = limits(5);
    lim.max_names = 2;
    let certs = stored(&[
        ("wildcard-0", set(&[BASE, "*.mindroom.chat"]), days(60)),
        (
            "wildcard-2",
            set(&["*.a.mindroom.chat", "*.b.mindroom.chat"]),
            days(60),
        ),
        ("wildcard-10", set(&["*.c.mindroom.chat"]), days(20)),
    ]);
    let needed = names_for(&["a", "b", "c", "d", "e", "f"]);
    let p = plan(&needed, &certs, &[], lim);
    let shown: Vec<(&str, OrderReason)> = p
        .orders
        .iter()
        .map(|o| (o.cert.as_str(), o.reason))
        .collect();
    assert_eq!(
        shown,
        [
            ("wildcard-1", OrderReason::New),
            ("wildcard-3", OrderReason::New),
            ("wildcard-10", OrderReason::Renew),
        ]
    );
    assert_eq!(
        p.orders[0].names,
        set(&["*.d.mindroom.chat", "*.e.mindroom.chat"])
    );
    assert_eq!(p.orders[1].names, set(&["*.f.mindroom.chat"]));
    assert_eq!(p.orders[2].names, set(&["*.c.mindroom.chat"]));
    assert_eq!(p.budget_used, 2);
}

#[test]
fn other_certificates_are_ignored_and_duplicates_stay_in_the_lower_one() {
    let certs = stored(&[
        ("mindroom.chat", names_for(&["alice"]), days(1)),
        ("wildcard-01", names_for(&["alice"]), days(1)),
        ("wildcard-0", names_for(&["alice"]), days(60)),
        ("wildcard-1", set(&["*.alice.mindroom.chat"]), days(2)),
    ]);
    let p = plan(&names_for(&["Alice"]), &certs, &[], limits(5));
    assert!(p.orders.is_empty(), "{:?}", p.orders);
    assert!(p.covering.values().all(|c| c == "wildcard-0"));
    assert_eq!(cert_number("wildcard-01"), None);
    assert_eq!(cert_number("wildcard-"), None);
    assert_eq!(cert_number("wildcard-+1"), None);
    assert_eq!(cert_number("wildcard-12"), Some(12));
}

#[test]
fn the_plan_is_deterministic_and_serializable() {
    let needed = names_for(&["bob", "alice", "carol"]);
    let certs = stored(&[("wildcard-0", names_for(&["alice"]), days(10))]);
    let a = plan(&needed, &certs, &[], limits(3));
    let b = plan(
        &needed.iter().rev().cloned().collect(),
        &certs,
        &[],
        limits(3),
    );
    assert_eq!(a, b);
    let json = serde_json::to_value(&a).unwrap();
    assert_eq!(json["orders"][0]["reason"], "renew_and_add_names");
    assert_eq!(json["covering"]["*.carol.mindroom.chat"], "wildcard-0");
    assert_eq!(json["budget"], 3);
}
