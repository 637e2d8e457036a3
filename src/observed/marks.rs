//! roomctl's ownership marks, kept in each app's own env.
//!
//! Every app roomctl creates carries `ROOMCTL_INSTANCE`, `ROOMCTL_ROLE`
//! and `ROOMCTL_OWNER` (the ownership mark), `ROOMCTL_KEYS` (the env keys roomctl manages, so a
//! key dropped from the template is unset while hand-set keys are left
//! alone) and `ROOMCTL_APPLIED` (a digest of the settings last applied in
//! full, see [`crate::plan::digest`]). The env is read on every run anyway,
//! so the marks cost no extra command, and they survive the loss of any
//! local state.

/// Env key holding the owning instance id: the ownership mark.
pub const INSTANCE: &str = "ROOMCTL_INSTANCE";
/// Env key holding the app's role within its instance.
pub const ROLE: &str = "ROOMCTL_ROLE";
/// Env key holding the platform's owner id (`[platform] owner`), so two
/// platforms sharing a host never claim each other's apps.
pub const OWNER: &str = "ROOMCTL_OWNER";
/// Env key holding the comma-separated managed env keys.
pub const KEYS: &str = "ROOMCTL_KEYS";
/// Env key holding the digest of the last fully applied settings.
pub const APPLIED: &str = "ROOMCTL_APPLIED";
/// Env key recording the wildcard certificate installed on the app
/// (`{not_after}:{fingerprint}:{names hash}`, see [`crate::plan::wildcard`]).
pub const CERT: &str = "ROOMCTL_CERT";
/// Prefix reserved for marks; desired env may not use it.
pub const PREFIX: &str = "ROOMCTL_";

/// Whether `key` is one of roomctl's marks.
pub fn is_mark(key: &str) -> bool {
    key.starts_with(PREFIX)
}

/// Who `name` belongs to, judged from its env: roomctl's only when the
/// name is the one roomctl derives for the instance and role in its marks
/// (`{instance}-{role}`) and the owner mark is `owner` (or absent: apps
/// made before owner marks existed). Marks alone never prove ownership:
/// `apps:clone` copies them, and anyone can set them by hand.
pub fn owner_of(
    name: &str,
    env: &std::collections::BTreeMap<String, String>,
    owner: &crate::domain::Label,
) -> super::Owner {
    use crate::domain::{InstanceId, Label};
    let instance = env.get(INSTANCE).and_then(|v| InstanceId::parse(v).ok());
    let role = env.get(ROLE).and_then(|v| Label::parse(v).ok());
    let (Some(instance), Some(role)) = (instance, role) else {
        return match env.keys().any(|k| k == INSTANCE || k == ROLE) {
            true => super::Owner::Disowned {
                why: "its roomctl marks are incomplete or malformed".into(),
            },
            false => super::Owner::Foreign,
        };
    };
    if name != format!("{instance}-{role}") {
        return super::Owner::Disowned {
            why: format!(
                "it carries the marks of {instance}/{role} but roomctl names that app {instance}-{role}: a clone or a hand-made copy"
            ),
        };
    }
    match env.get(OWNER) {
        Some(o) if o != owner.as_str() => super::Owner::Disowned {
            why: format!(
                "it belongs to another roomctl deployment (owner `{o}`, this one is `{owner}`)"
            ),
        },
        _ => super::Owner::Roomctl { instance, role },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::Owner;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn owner() -> crate::domain::Label {
        crate::domain::Label::parse("prod").unwrap()
    }

    #[test]
    fn an_app_is_ours_when_its_name_and_its_marks_agree() {
        let e = env(&[(INSTANCE, "acme"), (ROLE, "backend"), (OWNER, "prod")]);
        assert!(owner_of("acme-backend", &e, &owner()).is_ours());
    }

    #[test]
    fn an_app_made_before_owner_marks_is_claimed_by_name_and_marks() {
        let e = env(&[(INSTANCE, "acme"), (ROLE, "backend")]);
        assert!(owner_of("acme-backend", &e, &owner()).is_ours());
    }

    #[test]
    fn a_clone_or_hand_made_app_with_copied_marks_is_disowned() {
        let e = env(&[(INSTANCE, "acme"), (ROLE, "backend"), (OWNER, "prod")]);
        for name in ["acme-backend-clone", "handmade", "acme-frontend"] {
            let o = owner_of(name, &e, &owner());
            assert!(matches!(o, Owner::Disowned { .. }), "{name}: {o:?}");
        }
    }

    #[test]
    fn another_platforms_app_is_disowned() {
        let e = env(&[(INSTANCE, "acme"), (ROLE, "backend"), (OWNER, "staging")]);
        let o = owner_of("acme-backend", &e, &owner());
        assert!(
            matches!(&o, Owner::Disowned { why } if why.contains("staging")),
            "{o:?}"
        );
    }

    #[test]
    fn an_app_without_marks_is_foreign_and_half_marks_are_disowned() {
        assert_eq!(
            owner_of("x", &env(&[("FOO", "1")]), &owner()),
            Owner::Foreign
        );
        let o = owner_of("acme-backend", &env(&[(INSTANCE, "acme")]), &owner());
        assert!(matches!(o, Owner::Disowned { .. }), "{o:?}");
    }
}
