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
    specs: Mutex<Specs>,
    nginx: Mutex<Snippets>,
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

#[derive(Default)]
struct Specs {
    context: Option<SpecContext>,
    entries: HashMap<InstanceId, (DesiredInstance, InstanceSpec)>,
}

/// What every instance's snippets are rendered from besides its inputs.
#[derive(PartialEq)]
pub(crate) struct SnippetContext {
    pub templates: String,
    pub settings: NginxSettings,
}

/// The nginx digest of each app of one instance.
pub(crate) type Digests = Vec<(AppName, String)>;

#[derive(Default)]
struct Snippets {
    context: Option<SnippetContext>,
    entries: HashMap<InstanceId, (SnippetInputs, Digests)>,
}

/// One load's view of the instance specs: what the last load kept, and
/// what this load keeps. Dropping it without [`SpecRound::finish`] keeps
/// nothing new, which is right for a load that failed part-way.
pub(crate) struct SpecRound<'a> {
    memo: &'a RenderMemo,
    old: HashMap<InstanceId, (DesiredInstance, InstanceSpec)>,
    new: HashMap<InstanceId, (DesiredInstance, InstanceSpec)>,
    context: SpecContext,
    hits: usize,
}

impl RenderMemo {
    /// What the last load that finished reused.
    pub fn reused(&self) -> Reused {
        *lock(&self.reused)
    }

    /// Starts a load that renders with `context`; the last load's
    /// renderings are reusable only when its context was the same.
    pub(crate) fn specs(&self, context: SpecContext) -> SpecRound<'_> {
        let mut g = lock(&self.specs);
        let old = if g.context.as_ref() == Some(&context) {
            std::mem::take(&mut g.entries)
        } else {
            HashMap::new()
        };
        SpecRound {
            memo: self,
            old,
            new: HashMap::new(),
            context,
            hits: 0,
        }
    }

    /// Starts a snippet round with `context` (see [`RenderMemo::specs`]).
    pub(crate) fn snippets(&self, context: SnippetContext) -> SnippetRound<'_> {
        let mut g = lock(&self.nginx);
        let old = if g.context.as_ref() == Some(&context) {
            std::mem::take(&mut g.entries)
        } else {
            HashMap::new()
        };
        SnippetRound {
            memo: self,
            old,
            new: HashMap::new(),
            context,
            hits: 0,
        }
    }
}

impl SpecRound<'_> {
    /// The spec last rendered from exactly `inst`, if any.
    pub fn reuse(&mut self, inst: &DesiredInstance) -> Option<InstanceSpec> {
        let (prev, spec) = self.old.remove(&inst.id)?;
        if &prev != inst {
            return None;
        }
        let out = spec.clone();
        self.new.insert(inst.id.clone(), (prev, spec));
        self.hits += 1;
        Some(out)
    }

    /// Remembers that `inst` rendered to `spec`.
    pub fn keep(&mut self, inst: &DesiredInstance, spec: &InstanceSpec) {
        self.new
            .insert(inst.id.clone(), (inst.clone(), spec.clone()));
    }

    /// Stores this load's renderings for the next load.
    pub fn finish(self) {
        lock(&self.memo.reused).specs = self.hits;
        let mut g = lock(&self.memo.specs);
        g.context = Some(self.context);
        g.entries = self.new;
    }
}

/// One load's view of the nginx digests (see [`SpecRound`]).
pub(crate) struct SnippetRound<'a> {
    memo: &'a RenderMemo,
    old: HashMap<InstanceId, (SnippetInputs, Digests)>,
    new: HashMap<InstanceId, (SnippetInputs, Digests)>,
    context: SnippetContext,
    hits: usize,
}

impl SnippetRound<'_> {
    /// The digests last rendered for `id` from exactly `inputs`, if any.
    pub fn reuse(&mut self, id: &InstanceId, inputs: &SnippetInputs) -> Option<Digests> {
        let (prev, digests) = self.old.remove(id)?;
        if &prev != inputs {
            return None;
        }
        let out = digests.clone();
        self.new.insert(id.clone(), (prev, digests));
        self.hits += 1;
        Some(out)
    }

    /// Remembers that `inputs` rendered to `digests` for `id`.
    pub fn keep(&mut self, id: &InstanceId, inputs: &SnippetInputs, digests: Digests) {
        self.new.insert(id.clone(), (inputs.clone(), digests));
    }

    /// Stores this load's digests for the next load.
    pub fn finish(self) {
        lock(&self.memo.reused).snippets = self.hits;
        let mut g = lock(&self.memo.nginx);
        g.context = Some(self.context);
        g.entries = self.new;
    }
}
