//! Renderings kept between loads of a long-running process.
//!
//! `roomctl serve` loads the whole desired state for every pass, and a pass
//! that one webhook triggered would otherwise render every instance of the
//! fleet again (template, derived secrets, fingerprints, nginx snippets).
//! A [`RenderMemo`] keeps each instance's rendering next to everything it
//! was rendered from:
//! - the instance spec: the instance's declaration, and the platform, the
//!   tiers, the template's text and the root secret;
//! - its nginx digests: the snippet inputs, the snippet templates' digest
//!   and `[platform.nginx]`.
//!
//! A rendering is reused only when all of those are equal, so a memoized
//! load returns exactly what a fresh one returns. Renderings that failed
//! are never kept, and instances that left the fleet are dropped at the
//! next load.

use super::model::{DesiredInstance, InstanceSpec, Platform, Tier};
use super::nginx::NginxSettings;
use super::secrets::RootSecret;
use crate::domain::{AppName, InstanceId, Label};
use crate::nginx::SnippetInputs;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

/// Instance renderings reused across loads. Share one (in an `Arc`)
/// between the passes of a process; a fresh one (the default) reuses
/// nothing.
#[derive(Default)]
pub struct RenderMemo {
    specs: Mutex<Table<SpecContext, DesiredInstance, InstanceSpec>>,
    nginx: Mutex<Table<SnippetContext, SnippetInputs, Digests>>,
    reused: Mutex<Reused>,
}

/// How many renderings the last load took from the memo.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reused {
    /// Instance specs (template, secrets, fingerprints).
    pub specs: usize,
    /// Instances' nginx snippet digests.
    pub snippets: usize,
}

impl std::fmt::Debug for RenderMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderMemo")
            .field("specs", &lock(&self.specs).entries.len())
            .field("nginx", &lock(&self.nginx).entries.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What every instance spec is rendered from besides its declaration.
pub(crate) struct SpecContext {
    pub platform: Platform,
    pub tiers: BTreeMap<Label, Tier>,
    pub template: String,
    pub root: RootSecret,
}

impl PartialEq for SpecContext {
    fn eq(&self, other: &Self) -> bool {
        self.platform == other.platform
            && self.tiers == other.tiers
            && self.template == other.template
            && self.root.same_as(&other.root)
    }
}

/// What every instance's snippets are rendered from besides its inputs.
#[derive(PartialEq)]
pub(crate) struct SnippetContext {
    pub templates: String,
    pub settings: NginxSettings,
}

/// The nginx digest of each app of one instance.
pub(crate) type Digests = Vec<(AppName, String)>;

/// Renderings from one context: per instance, its input and its output.
struct Table<C, I, O> {
    context: Option<C>,
    entries: HashMap<InstanceId, (I, O)>,
}

impl<C, I, O> Default for Table<C, I, O> {
    fn default() -> Self {
        Self {
            context: None,
            entries: HashMap::new(),
        }
    }
}

/// One load's view of a table: what the last load kept, and what this
/// load keeps. Dropping it without [`Round::finish`] keeps nothing new,
/// which is right for a load that failed part-way.
pub(crate) struct Round<'a, C, I, O> {
    table: &'a Mutex<Table<C, I, O>>,
    reused: &'a Mutex<Reused>,
    count: fn(&mut Reused) -> &mut usize,
    old: HashMap<InstanceId, (I, O)>,
    new: HashMap<InstanceId, (I, O)>,
    context: C,
    hits: usize,
}

/// A load's round of instance specs.
pub(crate) type SpecRound<'a> = Round<'a, SpecContext, DesiredInstance, InstanceSpec>;
/// A load's round of nginx digests.
pub(crate) type SnippetRound<'a> = Round<'a, SnippetContext, SnippetInputs, Digests>;

impl RenderMemo {
    /// What the last load that finished reused.
    pub fn reused(&self) -> Reused {
        *lock(&self.reused)
    }

    /// Starts a load that renders specs with `context`; the last load's
    /// specs are reusable only when its context was the same.
    pub(crate) fn specs(&self, context: SpecContext) -> SpecRound<'_> {
        Round::start(&self.specs, &self.reused, |r| &mut r.specs, context)
    }

    /// Starts a round of nginx digests with `context` (see
    /// [`RenderMemo::specs`]).
    pub(crate) fn snippets(&self, context: SnippetContext) -> SnippetRound<'_> {
        Round::start(&self.nginx, &self.reused, |r| &mut r.snippets, context)
    }
}

impl<'a, C: PartialEq, I: PartialEq + Clone, O: Clone> Round<'a, C, I, O> {
    fn start(
        table: &'a Mutex<Table<C, I, O>>,
        reused: &'a Mutex<Reused>,
        count: fn(&mut Reused) -> &mut usize,
        context: C,
    ) -> Self {
        let mut g = lock(table);
        let old = if g.context.as_ref() == Some(&context) {
            std::mem::take(&mut g.entries)
        } else {
            HashMap::new()
        };
        Self {
            table,
            reused,
            count,
            old,
            new: HashMap::new(),
            context,
            hits: 0,
        }
    }

    /// The output last rendered for `id` from exactly `input`, if any.
    pub fn reuse(&mut self, id: &InstanceId, input: &I) -> Option<O> {
        let (prev, out) = self.old.remove(id)?;
        if &prev != input {
            return None;
        }
        let copy = out.clone();
        self.new.insert(id.clone(), (prev, out));
        self.hits += 1;
        Some(copy)
    }

    /// Remembers that `input` rendered to `out` for `id`.
    pub fn keep(&mut self, id: &InstanceId, input: &I, out: O) {
        self.new.insert(id.clone(), (input.clone(), out));
    }

    /// Stores this load's renderings for the next load.
    pub fn finish(self) {
        *(self.count)(&mut lock(self.reused)) = self.hits;
        let mut g = lock(self.table);
        g.context = Some(self.context);
        g.entries = self.new;
    }
}
