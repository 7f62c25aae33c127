//! Generated webhook certificates against a real API server: replicas that
//! start together end up serving one certificate from one Secret, a restart
//! changes nothing, a new name renews the serving certificate under the same
//! CA, and the CA bundle lands in the webhook configurations (Spiderpool
//! #773, #4243, #4357).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use spiderpool_k8s::testing::{TestCluster, TestResult};
use spiderpool_k8s::webhook::certs::{CA_CRT, TLS_CRT};
use spiderpool_k8s::webhook::{CertStore, ConfigurationSpec, GeneratedCerts, Target, service_sans};

/// Deletes the two webhook configurations named `.0` when dropped.
struct Configurations(String, kube::Client);

impl Drop for Configurations {
    fn drop(&mut self) {
        let (name, client) = (self.0.clone(), self.1.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let m: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
                let v: Api<ValidatingWebhookConfiguration> = Api::all(client);
                let _ = m.delete(&name, &DeleteParams::default()).await;
                let _ = v.delete(&name, &DeleteParams::default()).await;
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_secret_and_keep_the_ca_bundle_current() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("certs");
    let ns = scope.namespace("certs").await?;
    let client = cluster.client();
    let name = scope.name("webhook");
    let spec = ConfigurationSpec {
        name: name.clone(),
        target: Target::Url("https://127.0.0.1:1".into()),
        ca_bundle: Vec::new(),
        validate_delete: false,
        // Matches nothing any other test creates.
        object_selector: Some(BTreeMap::from([("spiderpool-rs.test/never".into(), name.clone())])),
        labels: BTreeMap::new(),
    };
    let _guard = Configurations(name.clone(), client.clone());
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    mutating.create(&PostParams::default(), &spec.mutating()).await?;
    validating.create(&PostParams::default(), &spec.validating()).await?;

    let sans = service_sans("spiderpool-controller", &ns, &["127.0.0.1".to_owned()]);
    let replica = || {
        GeneratedCerts::new(client.clone(), &ns, "webhook-certs", sans.clone(), vec![name.clone()])
    };
    let (store_a, store_b) = (CertStore::new(), CertStore::new());
    // Two replicas start at once on an empty namespace.
    let (ra, rb) = (replica(), replica());
    let (a, b) = tokio::join!(ra.sync(&store_a), rb.sync(&store_b));
    let (a, b) = (a?, b?);
    assert_eq!(a.fingerprint, b.fingerprint, "both replicas serve the Secret's certificate");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = secrets.get("webhook-certs").await?;
    let data = secret.data.clone().unwrap();
    let ca = data[CA_CRT].0.clone();
    let m = mutating.get(&name).await?;
    let v = validating.get(&name).await?;
    assert_eq!(m.webhooks.unwrap()[0].client_config.ca_bundle.as_ref().unwrap().0, ca);
    assert_eq!(v.webhooks.unwrap()[0].client_config.ca_bundle.as_ref().unwrap().0, ca);

    // A restart (a new replica, same flags) changes nothing.
    let again = replica().sync(&CertStore::new()).await?;
    assert_eq!(again.fingerprint, a.fingerprint);
    assert_eq!(
        secrets.get("webhook-certs").await?.metadata.resource_version,
        secret.metadata.resource_version
    );

    // A stale caBundle (e.g. re-applied by an upgrade) is put right.
    let mut m = mutating.get(&name).await?;
    m.webhooks.as_mut().unwrap()[0].client_config.ca_bundle =
        Some(k8s_openapi::ByteString(b"stale".to_vec()));
    mutating.replace(&name, &PostParams::default(), &m).await?;
    replica().sync(&store_a).await?;
    let m = mutating.get(&name).await?;
    assert_eq!(m.webhooks.unwrap()[0].client_config.ca_bundle.as_ref().unwrap().0, ca);

    // An upgrade that serves one more name: a new serving certificate, same CA.
    let mut more = replica();
    more.sans.push("spiderpool-controller.example".to_owned());
    let renewed = more.sync(&store_a).await?;
    assert_ne!(renewed.fingerprint, a.fingerprint);
    let data = secrets.get("webhook-certs").await?.data.unwrap();
    assert_eq!(data[CA_CRT].0, ca, "the CA stays: the caBundle in place stays valid");
    assert_ne!(data[TLS_CRT].0, secret.data.unwrap()[TLS_CRT].0);
    assert_eq!(store_a.info().unwrap().fingerprint, renewed.fingerprint);
    Ok(())
}
