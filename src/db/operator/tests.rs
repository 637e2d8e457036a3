use super::*;

fn instance(status: &str, want: Want, stopped_by: Option<&str>) -> InstanceInfo {
    InstanceInfo {
        id: "acme".into(),
        account: Uuid::nil(),
        tier: None,
        status: status.into(),
        host: None,
        health_status: "unknown".into(),
        last_health_check: None,
        health_error: None,
        uptime_24h: None,
        uptime_30d: None,
        operator_stopped: stopped_by.is_some(),
        operator_stopped_at: stopped_by.map(|_| Utc::now()),
        operator_stopped_by: stopped_by.map(str::to_string),
        restart_requested_at: None,
        restart_requested_by: None,
        restarted_at: None,
        restart_pending: false,
        want: want.as_str(),
        subscription_wants: want.as_str(),
        urls: BTreeMap::new(),
        row_id: Uuid::nil(),
    }
}

#[test]
fn a_running_or_wanted_running_instance_may_be_restarted() {
    assert!(restartable(&instance("running", Want::Stopped, None)).is_ok());
    assert!(restartable(&instance("provisioning", Want::Running, None)).is_ok());
}

#[test]
fn a_stopped_instance_that_should_stay_stopped_may_not_be_restarted() {
    let e = restartable(&instance("stopped", Want::Stopped, None)).unwrap_err();
    assert_eq!(e, "it is stopped and its subscription wants it stopped");
}

#[test]
fn an_instance_an_operator_stopped_must_be_started_not_restarted() {
    let e = restartable(&instance("running", Want::Stopped, Some("operator:ops"))).unwrap_err();
    assert!(e.contains("operator:ops stopped it"), "{e}");
}
