//! The fake's state: servers, actions and what finishing an action does,
//! and the handlers that change it (`GET`/`POST /servers`, `DELETE`).

use super::wire::{self, answer, error, invalid, now};
use super::{CreatedServer, Inner, take};
use axum::http::StatusCode;
use axum::response::Response;
use roomctl::hetzner::CloudServer;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A stored server and what only the wire shows.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) server: CloudServer,
    pub(crate) image: String,
    pub(crate) created: String,
    pub(crate) firewalls: Vec<u64>,
    pub(crate) networks: Vec<u64>,
}

/// What finishing an action does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Effect {
    /// Sets the server's status.
    Status(u64, &'static str),
    /// Removes the server.
    Remove(u64),
    /// Nothing.
    None,
}

/// An action and how far it is.
#[derive(Debug, Clone)]
pub(crate) struct Action {
    id: u64,
    command: &'static str,
    server: u64,
    started: String,
    finished: Option<String>,
    status: &'static str,
    polls_left: u32,
    fails: bool,
    effect: Effect,
}

/// Everything the fake stores.
#[derive(Default)]
pub(crate) struct World {
    pub(crate) servers: BTreeMap<u64, Stored>,
    pub(crate) actions: BTreeMap<u64, Action>,
    pub(crate) created: Vec<CreatedServer>,
    pub(crate) next_id: u64,
}

impl World {
    /// A fresh id (servers and actions share one sequence).
    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Records a new `running` action on `server` that finishes on its
    /// `polls`-th poll; returns its id.
    fn start_action(&mut self, command: &'static str, server: u64, polls: u32) -> u64 {
        let id = self.new_id();
        let (started, status, effect) = (now(), "running", Effect::None);
        let (finished, fails) = (None, false);
        let polls_left = polls;
        let a = Action {
            id,
            command,
            server,
            started,
            finished,
            status,
            polls_left,
            fails,
            effect,
        };
        self.actions.insert(id, a);
        id
    }

    /// Action `id` as JSON, after counting one poll if `poll`.
    pub(crate) fn action(&mut self, id: u64, poll: bool) -> Option<Value> {
        let a = self.actions.get_mut(&id)?;
        if poll && a.status == "running" {
            a.polls_left = a.polls_left.saturating_sub(1);
            if a.polls_left == 0 {
                a.status = if a.fails { "error" } else { "success" };
                a.finished = Some(now());
                let effect = a.effect;
                match effect {
                    Effect::Status(s, status) => {
                        if let Some(s) = self.servers.get_mut(&s) {
                            s.server.status = status.to_string();
                        }
                    }
                    Effect::Remove(s) => drop(self.servers.remove(&s)),
                    Effect::None => {}
                }
            }
        }
        let a = &self.actions[&id];
        let error = a
            .fails
            .then(|| json!({"code": "action_failed", "message": "Action failed"}));
        let done = a.status != "running";
        Some(json!({
            "command": a.command, "error": if done { error } else { None },
            "finished": a.finished, "id": a.id, "progress": if done { 100 } else { 0 },
            "resources": [{"id": a.server, "type": "server"}],
            "started": a.started, "status": a.status,
        }))
    }
}

impl Inner {
    /// Server `id` as `GET /servers/{id}` shows it.
    pub(crate) fn server_json(&self, id: u64) -> Option<Value> {
        self.world
            .lock()
            .unwrap()
            .servers
            .get(&id)
            .map(wire::server)
    }

    /// `GET /servers`: filtered, sorted, one page of it.
    pub(crate) fn list(&self, query: &str) -> Response {
        let q = match wire::ListQuery::parse(query) {
            Ok(q) => q,
            Err(field) => return invalid(&field, "invalid value"),
        };
        let world = self.world.lock().unwrap();
        let mut servers: Vec<&Stored> = world
            .servers
            .values()
            .filter(|s| q.matches(&s.server))
            .collect();
        q.sort(&mut servers);
        let total = servers.len() as u64;
        let last = total.div_ceil(q.per_page).max(1);
        let start = ((q.page - 1) * q.per_page).min(total) as usize;
        let end = (start + q.per_page as usize).min(servers.len());
        let page: Vec<Value> = servers[start..end]
            .iter()
            .map(|s| wire::server(s))
            .collect();
        let pagination = json!({
            "last_page": last, "next_page": (q.page < last).then_some(q.page + 1),
            "page": q.page, "per_page": q.per_page,
            "previous_page": (q.page > 1).then(|| q.page - 1), "total_entries": total,
        });
        let meta = json!({ "pagination": pagination });
        answer(StatusCode::OK, json!({ "meta": meta, "servers": page }))
    }

    /// `POST /servers`: validates, runs the hook, stores the server and
    /// starts its `create_server` (and `start_server`) actions.
    pub(crate) fn create(&self, body: &[u8]) -> Response {
        let req = match wire::CreateRequest::parse(body) {
            Ok(req) => req,
            Err(refusal) => return refusal.response(),
        };
        let taken = |w: &World| w.servers.values().any(|s| s.server.name == req.name);
        let uniqueness = || {
            let message = "server name is already used";
            error(StatusCode::CONFLICT, "uniqueness_error", message)
        };
        let n = {
            let mut world = self.world.lock().unwrap();
            if taken(&world) {
                return uniqueness();
            }
            world.new_id()
        };
        let private = u32::from(Ipv4Addr::new(10, 0, 0, 1)) + n as u32;
        let mut created = CreatedServer {
            server: CloudServer {
                id: n,
                name: req.name.clone(),
                status: "initializing".to_string(),
                labels: req.labels.clone(),
                ipv4: Some(Ipv4Addr::from(
                    u32::from(Ipv4Addr::new(100, 64, 0, 0)) + n as u32,
                )),
                ipv6: Some(Ipv6Addr::from(
                    (0x2001_0db8_u128 << 96) | (u128::from(n) << 64) | 1,
                )),
                private_ipv4: (!req.networks.is_empty()).then(|| Ipv4Addr::from(private)),
                server_type: req.server_type.clone(),
                location: req.location.clone().unwrap_or_else(|| "fsn1".to_string()),
            },
            image: req.image.clone(),
            user_data: req.user_data.clone().unwrap_or_default(),
            ssh_keys: req.ssh_keys.clone(),
            firewalls: req.firewalls.clone(),
            networks: req.networks.clone(),
            start_after_create: req.start_after_create,
        };
        let hook = self.hook.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook(&mut created);
        }
        let fails = take(&mut self.faults.lock().unwrap().failing_creates);
        let mut world = self.world.lock().unwrap();
        if taken(&world) {
            return uniqueness();
        }
        let id = created.server.id;
        let stored = Stored {
            server: created.server.clone(),
            image: created.image.clone(),
            created: now(),
            firewalls: created.firewalls.clone(),
            networks: created.networks.clone(),
        };
        world.servers.insert(id, stored);
        world.created.push(created);
        let polls = self.action_polls;
        let create = world.start_action("create_server", id, polls);
        let after = if req.start_after_create && !fails {
            "running"
        } else {
            "off"
        };
        let a = world.actions.get_mut(&create).unwrap();
        (a.effect, a.fails) = (Effect::Status(id, after), fails);
        let mut next_actions = vec![];
        if req.start_after_create {
            let start = world.start_action("start_server", id, polls);
            world.actions.get_mut(&start).unwrap().fails = fails;
            next_actions.push(world.action(start, false).unwrap());
        }
        let body = json!({
            "action": world.action(create, false).unwrap(),
            "next_actions": next_actions,
            "root_password": req.ssh_keys.is_empty().then_some("YItygq1v3GYjjMomLaKc"),
            "server": wire::server(&world.servers[&id]),
        });
        answer(StatusCode::CREATED, body)
    }

    /// `DELETE /servers/{id}`: marks it `deleting` and starts the action
    /// that removes it; `None` if there is no such server.
    pub(crate) fn delete(&self, id: u64) -> Option<Value> {
        let mut world = self.world.lock().unwrap();
        world.servers.get_mut(&id)?.server.status = "deleting".to_string();
        let action = world.start_action("delete_server", id, self.action_polls);
        world.actions.get_mut(&action).unwrap().effect = Effect::Remove(id);
        world.action(action, false)
    }
}
