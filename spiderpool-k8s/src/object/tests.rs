#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::*;
use crate::testing::fixtures;

/// Core → KubeObject → core is the identity, and the KubeObject's JSON is the
/// core object's JSON (same wire shape), for every kind.
fn assert_lossless<K: Kind>(object: K) {
    let kube = KubeObject::from_core(object.clone()).unwrap();
    assert_eq!(serde_json::to_value(&kube).unwrap(), serde_json::to_value(&object).unwrap());
    // Decoding the core's JSON as a KubeObject gives the same object back.
    let decoded: KubeObject<K> =
        serde_json::from_value(serde_json::to_value(&object).unwrap()).unwrap();
    assert_eq!(decoded, kube);
    assert_eq!(kube.to_core(), object);
    assert_eq!(kube.into_core(), object);
}

#[test]
fn every_kind_round_trips_losslessly() {
    assert_lossless(fixtures::full_ippool("p"));
    assert_lossless(fixtures::full_subnet("s"));
    assert_lossless(fixtures::full_reserved_ip("r"));
    assert_lossless(fixtures::full_endpoint("ns", "e"));
    assert_lossless(fixtures::full_multus_config("ns", "m"));
    assert_lossless(fixtures::full_coordinator("c"));
    assert_lossless(fixtures::seed_ippool());
    assert_lossless(fixtures::seed_multus_config());
    assert_lossless(fixtures::seed_coordinator());
    assert_lossless(SpiderEndpoint::new("ns", "empty", Default::default()));
}

#[test]
fn server_metadata_is_kept_and_dropped_only_on_into_core() {
    let v = json!({
        "apiVersion": "spiderpool.spidernet.io/v2beta1",
        "kind": "SpiderIPPool",
        "metadata": {
            "name": "p", "uid": "u-1", "resourceVersion": "77", "generation": 2,
            "creationTimestamp": "2024-05-01T10:00:00Z",
            "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "spiderpool.spidernet.io/v2beta1"}]
        },
        "spec": {"subnet": "10.6.0.0/16", "default": false}
    });
    let kube: IPPoolObject = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(kube.metadata.managed_fields.as_ref().map(Vec::len), Some(1));
    assert_eq!(kube.metadata.resource_version.as_deref(), Some("77"));
    let core = kube.to_core();
    assert_eq!(core.metadata.resource_version.as_deref(), Some("77"));
    assert_eq!(core.metadata.creation_timestamp.as_deref(), Some("2024-05-01T10:00:00Z"));
    let mut expected = v;
    expected["metadata"].as_object_mut().unwrap().remove("managedFields");
    assert_eq!(serde_json::to_value(&core).unwrap(), expected);
}

#[test]
fn endpoint_has_no_spec_and_null_sections_are_absent() {
    let kube = KubeObject::from_core(fixtures::full_endpoint("ns", "e")).unwrap();
    let v = serde_json::to_value(&kube).unwrap();
    assert!(v.get("spec").is_none(), "{v}");
    let decoded: EndpointObject = serde_json::from_value(json!({
        "metadata": {"name": "e", "namespace": "ns"}, "spec": {"ignored": 1}, "status": null
    }))
    .unwrap();
    assert_eq!(decoded.status, None);
    assert_eq!(decoded.into_core().status, Default::default());
    let reserved: ReservedIPObject =
        serde_json::from_value(json!({"metadata": null, "spec": null, "status": {"x": 1}}))
            .unwrap();
    assert_eq!(reserved.spec, Default::default());
    assert!(serde_json::to_value(&reserved).unwrap().get("status").is_none());
}

#[test]
fn bad_field_is_an_error_naming_it() {
    let err = serde_json::from_value::<IPPoolObject>(json!({"spec": {"ipVersion": "four"}}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("four"), "{err}");
    let err = serde_json::from_value::<IPPoolObject>(json!([1])).unwrap_err().to_string();
    assert!(err.contains("SpiderIPPool"), "{err}");
}

#[test]
fn resource_names_and_urls() {
    fn url<K: Kind>(ns: Option<&str>) -> String {
        KubeObject::<K>::url_path(&(), ns)
    }
    assert_eq!(url::<SpiderIPPool>(None), "/apis/spiderpool.spidernet.io/v2beta1/spiderippools");
    assert_eq!(
        url::<SpiderCoordinator>(None),
        "/apis/spiderpool.spidernet.io/v2beta1/spidercoordinators"
    );
    assert_eq!(
        url::<SpiderEndpoint>(Some("ns")),
        "/apis/spiderpool.spidernet.io/v2beta1/namespaces/ns/spiderendpoints"
    );
    assert_eq!(IPPoolObject::kind(&()), SpiderIPPool::KIND);
    assert_eq!(IPPoolObject::api_version(&()), API_VERSION);
    let ar = kube::api::ApiResource::erase::<MultusConfigObject>(&());
    assert_eq!((ar.group.as_str(), ar.version.as_str()), (GROUP, VERSION));
    assert_eq!(ar.plural, SpiderMultusConfig::PLURAL);
}

/// `Kind::api` builds the URL for the kind's scope; a cluster-scoped kind
/// ignores the namespace.
#[tokio::test]
async fn kind_api_urls_follow_scope() {
    let (service, _handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    let client = kube::Client::new(service, "default");
    let pools = SpiderIPPool::api(client.clone(), Some("ignored"));
    assert_eq!(pools.resource_url(), "/apis/spiderpool.spidernet.io/v2beta1/spiderippools");
    let endpoints = SpiderEndpoint::api(client.clone(), Some("ns"));
    assert_eq!(
        endpoints.resource_url(),
        "/apis/spiderpool.spidernet.io/v2beta1/namespaces/ns/spiderendpoints"
    );
    let all = SpiderEndpoint::api(client, None);
    assert_eq!(all.resource_url(), "/apis/spiderpool.spidernet.io/v2beta1/spiderendpoints");
}

#[test]
fn value_shape_is_object() {
    let v: Value =
        serde_json::to_value(KubeObject::from_core(fixtures::seed_ippool()).unwrap()).unwrap();
    assert_eq!(v["apiVersion"], API_VERSION);
    assert_eq!(v["kind"], "SpiderIPPool");
}
