//! The zone planner's rules.

use super::*;

fn rec(
    name: &str,
    kind: RecordType,
    content: &str,
    notes: Option<&str>,
    id: Option<&str>,
) -> DnsRecord {
    let mut r = DnsRecord::new(name, kind, content);
    r.notes = notes.map(str::to_owned);
    r.id = id.map(str::to_owned);
    r
}

const MINE: Option<&str> = Some("roomctl:prod:acme");

fn changes(p: &ZonePlan) -> &[DnsChange] {
    match p {
        ZonePlan::Known { changes, .. } => changes,
        ZonePlan::Unknown { .. } => panic!("unknown"),
    }
}

#[test]
fn a_zone_that_matches_needs_no_changes() {
    let want = [rec("acme.x.test", RecordType::A, "1.2.3.4", MINE, None)];
    let have = [rec(
        "acme.x.test",
        RecordType::A,
        "1.2.3.4",
        MINE,
        Some("7"),
    )];
    let (p, notes) = plan_zone("prod", &want, &have, true);
    assert!(changes(&p).is_empty());
    assert!(notes.is_empty());
}

#[test]
fn a_moved_instance_has_its_record_edited_in_place() {
    let want = [rec("acme.x.test", RecordType::A, "5.6.7.8", MINE, None)];
    let have = [rec(
        "acme.x.test",
        RecordType::A,
        "1.2.3.4",
        MINE,
        Some("7"),
    )];
    let (p, _) = plan_zone("prod", &want, &have, true);
    assert!(matches!(&changes(&p)[0], DnsChange::Update { id, .. } if id == "7"));
}

#[test]
fn records_of_others_are_never_changed_or_deleted() {
    let have = [
        rec(
            "x.test",
            RecordType::Alias,
            "pixie.porkbun.com",
            None,
            Some("1"),
        ),
        rec(
            "*.x.test",
            RecordType::Cname,
            "pixie.porkbun.com",
            None,
            Some("2"),
        ),
        rec(
            "old.x.test",
            RecordType::A,
            "9.9.9.9",
            Some("roomctl:staging:old"),
            Some("3"),
        ),
    ];
    let (p, _) = plan_zone("prod", &[], &have, true);
    assert!(changes(&p).is_empty());
}

#[test]
fn a_conflicting_foreign_record_blocks_the_create_and_is_reported() {
    let want = [rec(
        "x.test",
        RecordType::A,
        "1.2.3.4",
        Some("roomctl:prod:-"),
        None,
    )];
    let have = [rec(
        "x.test",
        RecordType::Alias,
        "pixie.porkbun.com",
        None,
        Some("1"),
    )];
    let (p, notes) = plan_zone("prod", &want, &have, true);
    assert!(changes(&p).is_empty());
    assert!(notes[0].1.contains("ALIAS x.test"), "{notes:?}");
}

#[test]
fn a_record_no_longer_wanted_is_deleted_only_when_deletes_are_allowed() {
    let have = [rec(
        "gone.x.test",
        RecordType::A,
        "1.2.3.4",
        MINE,
        Some("9"),
    )];
    let (p, _) = plan_zone("prod", &[], &have, true);
    assert!(
        matches!(&changes(&p)[0], DnsChange::Delete { record } if record.id.as_deref() == Some("9"))
    );
    let (p, notes) = plan_zone("prod", &[], &have, false);
    assert!(changes(&p).is_empty());
    assert!(notes[0].1.contains("held back"));
}

#[test]
fn creates_come_before_deletes_and_carry_their_instance() {
    let want = [rec("new.x.test", RecordType::A, "1.2.3.4", MINE, None)];
    let have = [rec(
        "old.x.test",
        RecordType::Aaaa,
        "::1",
        Some("roomctl:prod:old"),
        Some("4"),
    )];
    let (p, _) = plan_zone("prod", &want, &have, true);
    let c = changes(&p);
    assert!(matches!(c[0], DnsChange::Create { .. }));
    assert!(matches!(c[1], DnsChange::Delete { .. }));
    assert_eq!(c[0].instance().unwrap().as_str(), "acme");
    assert_eq!(c[1].instance().unwrap().as_str(), "old");
}

#[test]
fn type_conflicts_follow_dns_rules() {
    use RecordType::*;
    assert!(conflicts(&Cname, &A));
    assert!(conflicts(&A, &Cname));
    assert!(conflicts(&Alias, &A));
    assert!(conflicts(&Aaaa, &Alias));
    assert!(!conflicts(&A, &Aaaa));
    assert!(!conflicts(&Txt, &A));
    assert!(
        conflicts(&A, &A),
        "someone else's address would share the name"
    );
    assert!(!conflicts(&Txt, &Txt), "several TXT values coexist");
}
