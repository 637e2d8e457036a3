//! Real headless Chromium (Debian's `chromium`), driven over the DevTools
//! protocol (CDP) through a websocket: enough to load pages, fill and
//! submit forms, read the DOM and record the page's network requests.
//!
//! [`Chromium::launch`] starts one browser with a fresh profile and no
//! background networking; dropping it kills the browser's whole process
//! group and removes the profile. [`Browser`] is the CDP connection;
//! [`Page`] a tab attached to it in flat mode (one socket, a session id
//! per tab).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// Where Debian installs Chromium; `ROOMCTL_TEST_CHROMIUM` overrides it.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long any one CDP exchange or page load may take.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// A running headless Chromium with its own profile directory.
pub struct Chromium {
    child: Child,
    profile: Option<tempfile::TempDir>,
    /// The browser's DevTools websocket.
    pub ws_url: String,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Chromium {
    /// Starts Chromium. A missing browser fails the test (naming the
    /// Debian package), as does one that does not start.
    pub fn launch() -> Self {
        let bin = std::env::var_os("ROOMCTL_TEST_CHROMIUM")
            .map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
        super::require::program(&bin.to_string_lossy(), "chromium");
        super::require::kill();
        let profile = tempfile::Builder::new()
            .prefix("roomctl-chromium-")
            .tempdir()
            .expect("creating Chromium's profile directory");
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so Drop can kill the renderers too.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().expect("piped stderr");
        let tail = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
                let mut t = tail.lock().unwrap();
                if t.len() == 40 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let mut chromium = Self {
            child,
            profile: Some(profile),
            ws_url: String::new(),
            stderr,
        };
        match rx.recv_timeout(TIMEOUT) {
            Ok(url) => chromium.ws_url = url,
            Err(_) => panic!(
                "Chromium printed no DevTools URL within {TIMEOUT:?}; its stderr:\n{}",
                chromium.stderr_tail()
            ),
        }
        chromium
    }

    /// The last lines Chromium wrote to stderr, for failure messages.
    pub fn stderr_tail(&self) -> String {
        let t = self.stderr.lock().unwrap();
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Connects to the browser's DevTools websocket.
    pub async fn connect(&self) -> Arc<Browser> {
        Browser::connect(&self.ws_url).await
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The group is the one this process created at spawn.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(p) = self.profile.take() {
            let path = p.path().to_path_buf();
            if let Err(e) = p.close() {
                eprintln!("removing Chromium's profile {}: {e}", path.display());
            }
        }
    }
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// A CDP connection to the browser.
pub struct Browser {
    out: mpsc::UnboundedSender<Message>,
    pending: Pending,
    events: Arc<Mutex<Vec<Value>>>,
    arrived: Arc<Notify>,
    next_id: AtomicU64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Browser {
    /// Connects to `ws_url` and starts reading its messages.
    pub async fn connect(ws_url: &str) -> Arc<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url)
            .await
            .unwrap_or_else(|e| panic!("connecting to Chromium at {ws_url}: {e}"));
        let (mut sink, mut stream) = ws.split();
        let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
        let pending: Pending = Arc::default();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let writer = tokio::spawn(async move {
            while let Some(m) = out_rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let (p, e, n) = (pending.clone(), events.clone(), arrived.clone());
        let reader = tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
                    continue;
                };
                match v.get("id").and_then(Value::as_u64) {
                    Some(id) => {
                        if let Some(tx) = p.lock().unwrap().remove(&id) {
                            let _ = tx.send(v);
                        }
                    }
                    None => {
                        e.lock().unwrap().push(v);
                        n.notify_waiters();
                    }
                }
            }
        });
        Arc::new(Self {
            out,
            pending,
            events,
            arrived,
            next_id: AtomicU64::new(1),
            tasks: vec![writer, reader],
        })
    }

    /// Sends `method` (to the tab `session`, or the browser) and returns
    /// its result; panics on a CDP error or after [`TIMEOUT`].
    pub async fn call(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, tx);
        self.out
            .send(Message::text(msg.to_string()))
            .expect("the CDP writer stopped");
        let reply = tokio::time::timeout(TIMEOUT, rx)
            .await
            .unwrap_or_else(|_| panic!("{method}: no answer within {TIMEOUT:?}"))
            .unwrap_or_else(|_| panic!("{method}: the connection to Chromium closed"));
        if let Some(err) = reply.get("error") {
            panic!("{method} failed: {err}");
        }
        reply["result"].clone()
    }

    /// A new tab (about:blank), attached in flat mode.
    pub async fn new_page(self: &Arc<Self>) -> Page {
        let target = self
            .call(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = self
            .call(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        let session = attached["sessionId"]
            .as_str()
            .expect("attachToTarget returned no sessionId")
            .to_string();
        Page {
            browser: self.clone(),
            session,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One tab.
pub struct Page {
    browser: Arc<Browser>,
    session: String,
}

impl Page {
    /// Sends `method` to this tab.
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.browser.call(Some(&self.session), method, params).await
    }

    /// Where this tab's event log ends now; [`Page::wait_for`] looks after it.
    pub fn mark(&self) -> usize {
        self.browser.events.lock().unwrap().len()
    }

    /// This tab's events named `method`, in order.
    pub fn events(&self, method: &str) -> Vec<Value> {
        self.browser
            .events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["sessionId"] == self.session.as_str() && e["method"] == method)
            .map(|e| e["params"].clone())
            .collect()
    }

    /// Waits for this tab's first event `method` after `mark`.
    pub async fn wait_for(&self, mark: usize, method: &str) -> Value {
        let wait = async {
            loop {
                // Registered before looking, so no event slips in between.
                let arrived = self.browser.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if let Some(e) = self.browser.events.lock().unwrap()[mark..]
                    .iter()
                    .find(|e| e["sessionId"] == self.session.as_str() && e["method"] == method)
                {
                    return e["params"].clone();
                }
                arrived.await;
            }
        };
        tokio::time::timeout(TIMEOUT, wait)
            .await
            .unwrap_or_else(|_| panic!("no {method} within {TIMEOUT:?}"))
    }

    /// Enables the page and network domains (load events, request log).
    pub async fn enable(&self) {
        self.call("Page.enable", json!({})).await;
        self.call("Network.enable", json!({})).await;
    }

    /// Navigates to `url` and waits for its load event.
    pub async fn navigate(&self, url: &str) {
        let mark = self.mark();
        let r = self.call("Page.navigate", json!({"url": url})).await;
        if let Some(e) = r.get("errorText") {
            panic!("navigating to {url}: {e}");
        }
        self.wait_for(mark, "Page.loadEventFired").await;
    }

    /// Evaluates `expression` in the page and returns its value.
    pub async fn eval(&self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("evaluating {expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluates `expression`, which navigates, and waits for the new
    /// page's load event.
    pub async fn eval_and_wait_load(&self, expression: &str) {
        let mark = self.mark();
        self.eval(expression).await;
        self.wait_for(mark, "Page.loadEventFired").await;
    }
}
