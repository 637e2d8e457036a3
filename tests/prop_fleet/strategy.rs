//! Random fleets: what was desired before (applied to set the hosts up),
//! what is desired now, the foreign apps made on the hosts by hand, and
//! the drift done to roomctl's own apps since.

use proptest::prelude::*;

/// Instance ids drawn from: small, so "before" and "now" share some.
pub const IDS: [&str; 8] = [
    "acme", "beta", "gamma", "delta", "echo", "fox", "golf", "hotel",
];
/// The roles of the shipped template.
pub const ROLES: [&str; 3] = ["backend", "frontend", "matrix"];
/// Tiers of the shipped `tiers.toml`.
pub const TIERS: [&str; 4] = ["free", "starter", "professional", "enterprise"];
/// This platform's owner mark (the shipped `platform.toml`'s).
pub const OWNER: &str = "mindroom-production";

/// One desired instance.
#[derive(Debug, Clone)]
pub struct Inst {
    pub id: &'static str,
    pub tier: &'static str,
    /// Pinned host index (taken modulo the host count).
    pub host: Option<usize>,
    pub stopped: bool,
    /// An extra backend env value, if any.
    pub welcome: Option<String>,
}

/// How a host runs roomctl's Dokku plugin.
#[derive(Debug, Clone, Copy)]
pub enum Plugin {
    /// The version this build ships: read with `roomctl:observe`.
    Current,
    /// An older plugin: read with Dokku's own commands.
    Old,
}

/// An app someone else made on a host.
#[derive(Debug, Clone)]
pub enum Foreign {
    /// `apps:create NAME` (possibly a name roomctl would use), maybe with
    /// an env key of its own.
    HandMade { name: String, env: bool },
    /// `apps:clone` of one of roomctl's apps (index into its apps): every
    /// mark copied, under another name.
    Clone { source: usize, name: String },
    /// Another roomctl deployment's app: roomctl's name and marks, another
    /// owner.
    OtherOwner {
        id: &'static str,
        role: &'static str,
    },
    /// A hand-made app carrying this platform's marks of `id`/`role` under
    /// another name.
    CopiedMarks {
        id: &'static str,
        role: &'static str,
        name: String,
    },
}

/// A change made by hand to one of roomctl's apps (index into its apps
/// after the first apply).
#[derive(Debug, Clone)]
pub enum Drift {
    /// `config:set --no-restart` of one of the app's keys (index) or a new
    /// key.
    SetEnv { key: Option<usize>, value: String },
    /// `config:unset --no-restart` of one of the app's keys (index): a
    /// managed key, a hand-set one, or a mark.
    UnsetEnv { key: usize },
    /// The owner mark changed to another deployment's.
    Disown,
    /// `domains:add` of a domain roomctl does not want.
    AddDomain,
    /// `domains:clear`.
    ClearDomains,
    /// `nginx:set` of a property roomctl manages, or not.
    NginxProperty {
        key: &'static str,
        value: &'static str,
    },
    /// `roomctl:nginx-unset`: the snippet removed.
    UnsetSnippet,
    /// `ports:set` to another mapping.
    Ports,
    /// `ps:stop`.
    Stop,
    /// `apps:destroy`: the app is missing.
    Destroy,
}

/// One random case.
#[derive(Debug, Clone)]
pub struct Case {
    pub plugins: Vec<Plugin>,
    pub destroy_enabled: bool,
    /// Whether the apply reads every fact of every app (`--deep`).
    pub deep: bool,
    pub before: Vec<Inst>,
    pub now: Vec<Inst>,
    pub foreign: Vec<(usize, Foreign)>,
    pub drift: Vec<(usize, Drift)>,
    /// A permutation seed: the desired files are written in another order
    /// and split differently for the determinism check.
    pub shuffle: u64,
}

fn instances(max: usize) -> impl Strategy<Value = Vec<Inst>> {
    let one = (
        prop::sample::select(TIERS.to_vec()),
        prop::option::weighted(0.4, 0usize..2),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.3, "[a-z $'\"]{0,10}x"),
    );
    prop::sample::subsequence(IDS.to_vec(), 0..=max)
        .prop_flat_map(move |ids| {
            let n = ids.len();
            (Just(ids), prop::collection::vec(one.clone(), n))
        })
        .prop_map(|(ids, attrs)| {
            ids.into_iter()
                .zip(attrs)
                .map(|(id, (tier, host, stopped, welcome))| Inst {
                    id,
                    tier,
                    host,
                    stopped,
                    welcome,
                })
                .collect()
        })
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["shop", "blog", "acme", "acme-db", "wiki"])
            .prop_map(String::from),
        (
            prop::sample::select(IDS.to_vec()),
            prop::sample::select(ROLES.to_vec())
        )
            .prop_map(|(i, r)| format!("{i}-{r}")),
    ]
}

fn foreign() -> impl Strategy<Value = Foreign> {
    let id = || prop::sample::select(IDS.to_vec());
    let role = || prop::sample::select(ROLES.to_vec());
    prop_oneof![
        (name(), any::<bool>()).prop_map(|(name, env)| Foreign::HandMade { name, env }),
        (0usize..64, prop::sample::select(vec!["copy", "old", "2"])).prop_map(|(source, s)| {
            Foreign::Clone {
                source,
                name: s.to_string(),
            }
        }),
        (id(), role()).prop_map(|(id, role)| Foreign::OtherOwner { id, role }),
        (id(), role(), name()).prop_map(|(id, role, name)| Foreign::CopiedMarks { id, role, name }),
    ]
}

fn drift() -> impl Strategy<Value = Drift> {
    prop_oneof![
        3 => (prop::option::of(0usize..64), "[a-z0-9 ]{0,8}")
            .prop_map(|(key, value)| Drift::SetEnv { key, value }),
        2 => (0usize..64).prop_map(|key| Drift::UnsetEnv { key }),
        1 => Just(Drift::Disown),
        1 => Just(Drift::AddDomain),
        1 => Just(Drift::ClearDomains),
        2 => prop::sample::select(vec![
            ("client-max-body-size", "5m"),
            ("proxy-read-timeout", "5s"),
            ("proxy-buffer-size", "8k"),
        ])
        .prop_map(|(key, value)| Drift::NginxProperty { key, value }),
        1 => Just(Drift::UnsetSnippet),
        1 => Just(Drift::Ports),
        1 => Just(Drift::Stop),
        2 => Just(Drift::Destroy),
    ]
}

/// A fleet of 1–2 hosts, 0–`max` instances before and now, up to 4
/// foreign apps and up to 5 drifts.
pub fn case(max: usize) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(
            prop_oneof![4 => Just(Plugin::Current), 1 => Just(Plugin::Old)],
            1..=2,
        ),
        (any::<bool>(), any::<bool>()),
        instances(max),
        instances(max),
        prop::collection::vec((0usize..2, foreign()), 0..=4),
        prop::collection::vec((0usize..64, drift()), 0..=5),
        any::<u64>(),
    )
        .prop_map(
            |(plugins, (destroy_enabled, deep), before, now, foreign, drift, shuffle)| Case {
                plugins,
                destroy_enabled,
                deep,
                before,
                now,
                foreign,
                drift,
                shuffle,
            },
        )
}
