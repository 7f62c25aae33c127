use crate::autopool::*;

fn app(kind: &str) -> AppRef {
    AppRef::native(kind, "ns", "app", "u").unwrap()
}

fn third_party() -> AppRef {
    AppRef {
        api_version: "apps.kruise.io/v1alpha1".into(),
        kind: "CloneSet".into(),
        namespace: "ns".into(),
        name: "clone".into(),
        uid: "u".into(),
    }
}

/// Go `GetAppReplicas` and `CalculateJobPodNum` examples.
#[test]
fn replicas_per_workload() {
    let job = |parallelism, completions| Workload::Job { parallelism, completions };
    let cases = [
        (Workload::Replicas(None), 0),
        (Workload::Replicas(Some(4)), 4),
        (Workload::Replicas(Some(-3)), 0),
        (Workload::DaemonSet { desired_number_scheduled: 7 }, 7),
        (Workload::DaemonSet { desired_number_scheduled: -1 }, 0),
        // parallelism only: 0 counts as 1
        (job(Some(0), None), 1),
        (job(Some(2), None), 2),
        // completions only: 0 counts as 1
        (job(None, Some(0)), 1),
        (job(None, Some(2)), 2),
        // both: completions decides
        (job(Some(3), Some(0)), 1),
        (job(Some(3), Some(2)), 2),
        (job(Some(2), Some(10)), 10),
        // neither: 1
        (job(None, None), 1),
        (job(Some(-5), None), 0),
        (Workload::ThirdParty, 0),
    ];
    for (w, want) in cases {
        assert_eq!(app_replicas(w), want, "{w:?}");
    }
}

#[test]
fn desired_sizes() {
    // flexible: replicas + N (Spiderpool docs: 2 replicas, "+1" -> 3)
    assert_eq!(desired_pool_size(&app("Deployment"), 2, IpNumber::Flexible(1)), Ok(3));
    assert_eq!(desired_pool_size(&app("DaemonSet"), 5, IpNumber::Flexible(0)), Ok(5));
    assert_eq!(desired_pool_size(&app("CronJob"), 0, IpNumber::Flexible(2)), Ok(2));
    // fixed: exactly N, at least the replicas
    assert_eq!(desired_pool_size(&app("StatefulSet"), 3, IpNumber::Fixed(5)), Ok(5));
    assert_eq!(desired_pool_size(&app("Job"), 3, IpNumber::Fixed(3)), Ok(3));
    let err = desired_pool_size(&app("Deployment"), 3, IpNumber::Fixed(2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ipam.spidernet.io/ippool-ip-number: fixed size 2 of Deployment ns/app is smaller than \
         its 3 replicas; use at least 3, or \"+N\" for replicas plus N"
    );
    // third-party controllers: fixed only
    assert_eq!(desired_pool_size(&third_party(), 0, IpNumber::Fixed(4)), Ok(4));
    let err = desired_pool_size(&third_party(), 0, IpNumber::Flexible(1)).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("ipam.spidernet.io/ippool-ip-number: CloneSet ns/clone"), "{msg}");
    assert!(msg.contains("apps.kruise.io/v1alpha1") && msg.contains("fixed number"), "{msg}");
    // orphan pods are refused
    let pod = AppRef { api_version: "v1".into(), kind: "Pod".into(), ..third_party() };
    let err = desired_pool_size(&pod, 1, IpNumber::Fixed(1)).unwrap_err();
    assert!(matches!(&err, AutoPoolError::OrphanPod { pod } if pod == "ns/clone"), "{err}");
    assert!(err.to_string().contains("has no controller"), "{err}");
    // overflow is an error, not a wrap
    let err = desired_pool_size(&app("Deployment"), u64::MAX, IpNumber::Flexible(1)).unwrap_err();
    assert!(matches!(err, AutoPoolError::SizeOverflow { .. }), "{err}");
}
