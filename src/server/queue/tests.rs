use super::*;

fn id(s: &str) -> InstanceId {
    InstanceId::parse(s).unwrap()
}

fn ids(v: &[&str]) -> BTreeSet<InstanceId> {
    v.iter().map(|s| id(s)).collect()
}

#[test]
fn a_burst_of_triggers_for_one_instance_collapses_into_one_batch() {
    let q = WorkQueue::default();
    for _ in 0..50 {
        q.instance(id("acme"), Reason::Webhook);
    }
    assert_eq!(q.depth(), 1);
    let b = q.try_take().unwrap();
    assert_eq!(b.instances, ids(&["acme"]));
    assert_eq!(q.try_take(), None);
}

#[test]
fn a_trigger_during_a_run_queues_exactly_one_more_run() {
    let q = WorkQueue::default();
    q.instance(id("acme"), Reason::Webhook);
    let running = q.try_take().unwrap();
    q.instance(id("acme"), Reason::Webhook);
    q.instance(id("acme"), Reason::Webhook);
    q.finished(&running.instances, &BTreeSet::new());
    assert_eq!(q.try_take().unwrap().instances, ids(&["acme"]));
    assert_eq!(q.try_take(), None);
}

#[test]
fn a_failing_instance_waits_out_its_backoff_while_others_run() {
    let q = WorkQueue::new(Backoff {
        base: Duration::from_secs(60),
        max: Duration::from_secs(600),
    });
    q.instance(id("bad"), Reason::Webhook);
    let b = q.try_take().unwrap();
    q.finished(&BTreeSet::new(), &b.instances);
    assert_eq!(q.try_take(), None, "bad waits its backoff");
    q.instance(id("good"), Reason::Webhook);
    q.full(Reason::Timer);
    let b = q.try_take().unwrap();
    assert_eq!(b.instances, ids(&["good"]));
    assert!(b.full);
    assert_eq!(b.excluded, ids(&["bad"]), "the resync leaves bad out");
    assert_eq!(q.failing().get(&id("bad")), Some(&1));
}

#[test]
fn an_operator_request_skips_the_backoff() {
    let q = WorkQueue::new(Backoff {
        base: Duration::from_secs(60),
        max: Duration::from_secs(600),
    });
    q.instance(id("bad"), Reason::Webhook);
    let b = q.try_take().unwrap();
    q.finished(&BTreeSet::new(), &b.instances);
    q.instance(id("bad"), Reason::Admin);
    let b = q.try_take().unwrap();
    assert_eq!(b.instances, ids(&["bad"]));
    assert!(b.excluded.is_empty());
    assert_eq!(b.reason(), Reason::Admin);
}

#[test]
fn backoff_doubles_up_to_its_maximum() {
    let b = Backoff {
        base: Duration::from_secs(10),
        max: Duration::from_secs(60),
    };
    let waits: Vec<u64> = (1..=6).map(|n| b.wait(n).as_secs()).collect();
    assert_eq!(waits, vec![10, 20, 40, 60, 60, 60]);
    assert_eq!(b.wait(u32::MAX).as_secs(), 60);
}

#[test]
fn success_clears_the_failure_count() {
    let q = WorkQueue::new(Backoff {
        base: Duration::ZERO,
        max: Duration::ZERO,
    });
    q.instance(id("x"), Reason::Webhook);
    let b = q.try_take().unwrap();
    q.finished(&BTreeSet::new(), &b.instances);
    let b = q.try_take().unwrap();
    assert_eq!(b.reason(), Reason::Retry);
    q.finished(&b.instances, &BTreeSet::new());
    assert!(q.failing().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_worker_wakes_when_a_backoff_ends() {
    let q = WorkQueue::new(Backoff {
        base: Duration::from_secs(30),
        max: Duration::from_secs(30),
    });
    q.instance(id("x"), Reason::Webhook);
    let b = q.next().await;
    q.finished(&BTreeSet::new(), &b.instances);
    let started = tokio::time::Instant::now();
    let b = q.next().await;
    assert_eq!(b.instances, ids(&["x"]));
    assert!(started.elapsed() >= Duration::from_secs(30));
}

#[test]
fn a_webhook_goes_to_the_targeted_lane_while_a_resync_waits_in_the_full_lane() {
    let q = WorkQueue::default();
    q.full(Reason::Timer);
    q.instance(id("acme"), Reason::Webhook);
    let full = q.try_take_lane(Lane::Full).unwrap();
    assert!(full.full && full.instances.is_empty());
    assert_eq!(full.reason(), Reason::Timer);
    let targeted = q.try_take_lane(Lane::Targeted).unwrap();
    assert!(!targeted.full);
    assert_eq!(targeted.instances, ids(&["acme"]));
    assert_eq!(targeted.reason(), Reason::Webhook);
    assert_eq!(q.try_take(), None);
}

#[test]
fn an_instance_a_running_pass_holds_waits_until_it_is_released() {
    let q = WorkQueue::default();
    let resync = q.claims();
    assert!(resync.claim(&ids(&["acme", "beta"])).is_empty());
    q.instance(id("acme"), Reason::Webhook);
    q.instance(id("gamma"), Reason::Webhook);
    let b = q.try_take_lane(Lane::Targeted).unwrap();
    assert_eq!(b.instances, ids(&["gamma"]), "acme is held");
    let webhook = q.claims();
    assert_eq!(webhook.claim(&ids(&["beta", "gamma"])), ids(&["beta"]));
    assert_eq!(q.try_take_lane(Lane::Targeted), None);
    drop(resync);
    assert_eq!(
        q.try_take_lane(Lane::Targeted).unwrap().instances,
        ids(&["acme"])
    );
}

#[test]
fn a_pass_may_not_change_an_instance_another_pass_changed_after_it_began_reading() {
    let q = WorkQueue::default();
    let resync = q.claims();
    let webhook = q.claims();
    assert!(webhook.claim(&ids(&["acme"])).is_empty());
    drop(webhook);
    assert_eq!(
        resync.claim(&ids(&["acme", "beta"])),
        ids(&["acme"]),
        "the resync read acme before the webhook's pass changed it"
    );
    assert!(
        resync.requeue(Reason::Timer).is_empty(),
        "the webhook's pass had the newer picture: nothing to run again"
    );
    let later = q.claims();
    assert_eq!(later.claim(&ids(&["acme"])), ids(&[]));
}

#[tokio::test(start_paused = true)]
async fn a_resync_asked_for_later_runs_then_and_not_before() {
    let q = WorkQueue::default();
    let started = tokio::time::Instant::now();
    q.full_at(started + Duration::from_secs(60));
    q.full_at(started + Duration::from_secs(90));
    assert_eq!(q.try_take_lane(Lane::Full), None);
    let b = q.next_lane(Lane::Full).await;
    assert!(b.full);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}
