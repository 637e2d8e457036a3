use super::*;
use crate::desired::nginx::NginxTest;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

struct World {
    _tmp: tempfile::TempDir,
    live: PathBuf,
    files: Arc<DesiredFiles>,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("desired-state");
    copy_tree(&repo("desired-state"), &live).unwrap();
    let files = Arc::new(DesiredFiles::new(
        &live,
        &repo("templates"),
        &tmp.path().join("state"),
        RootSecret::new(crate::sandbox::SANDBOX_ROOT_SECRET).unwrap(),
        NginxTest::IfInstalled,
    ));
    World {
        _tmp: tmp,
        live,
        files,
    }
}

fn break_platform(live: &Path) {
    let p = live.join("platform.toml");
    let s = std::fs::read_to_string(&p).unwrap();
    std::fs::write(
        &p,
        s.replace("default_tier = \"free\"", "default_tier = 42"),
    )
    .unwrap();
}

#[test]
fn a_valid_directory_becomes_the_snapshot_and_an_unchanged_one_does_not_twice() {
    let w = world();
    assert_eq!(w.files.refresh(), Ok(true));
    assert!(w.files.good_dir().join("platform.toml").is_file());
    assert_eq!(w.files.refresh(), Ok(false));
    assert_eq!(w.files.status().generation, 1);
}

#[test]
fn a_broken_edit_is_reported_and_the_last_good_snapshot_stays() {
    let w = world();
    w.files.refresh().unwrap();
    let before = std::fs::read(w.files.good_dir().join("platform.toml")).unwrap();
    break_platform(&w.live);
    let err = w.files.refresh().unwrap_err();
    assert!(err.contains("platform.toml"), "{err}");
    assert!(err.contains("default_tier"), "{err}");
    assert_eq!(
        std::fs::read(w.files.good_dir().join("platform.toml")).unwrap(),
        before
    );
    assert!(w.files.status().error.is_some());
}

#[test]
fn snapshots_older_than_the_previous_one_are_removed() {
    let w = world();
    for n in 0..4 {
        std::fs::write(w.live.join("notes.txt"), format!("edit {n}")).unwrap();
        assert_eq!(w.files.refresh(), Ok(true));
    }
    let state = w.files.good_dir().parent().unwrap().to_path_buf();
    let copies = std::fs::read_dir(state)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir() && !e.path().is_symlink())
        .count();
    assert_eq!(copies, 2);
}

#[tokio::test]
async fn an_edit_queues_one_resync_and_a_broken_one_none() {
    let w = world();
    w.files.refresh().unwrap();
    let q = WorkQueue::default();
    let (stop_tx, stop) = watch::channel(false);
    let task = tokio::spawn(watch(
        w.files.clone(),
        q.clone(),
        Duration::from_millis(200),
        stop,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    break_platform(&w.live);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(q.depth(), 0, "a broken edit queues nothing");
    assert!(w.files.status().error.is_some());
    std::fs::copy(
        repo("desired-state/platform.toml"),
        w.live.join("platform.toml"),
    )
    .unwrap();
    std::fs::write(w.live.join("notes.txt"), "a valid edit").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while q.depth() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = q.try_take().expect("a resync was queued");
    assert!(b.full);
    assert!(b.reasons.contains(&Reason::Files));
    assert!(w.files.status().error.is_none());
    stop_tx.send(true).unwrap();
    task.await.unwrap();
}
