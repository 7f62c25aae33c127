//! The application an auto-pool belongs to ([`AppRef`]), the pool's name
//! ([`auto_pool_name`]) and its pod affinity ([`auto_pool_pod_affinity`],
//! [`matches_auto_pool_affinity`]).

use std::collections::BTreeMap;

use super::AutoPoolError;
use crate::ip::IpFamily;
use crate::model::LabelSelector;
use crate::name::{DNS1123_SUBDOMAIN_MAX, dns1123_subdomain};

/// `podAffinity.matchLabels` key: the application's API group (`""` for the core group).
pub const AFFINITY_APP_API_GROUP: &str = "ipam.spidernet.io/app-api-group";
/// `podAffinity.matchLabels` key: the application's API version.
pub const AFFINITY_APP_API_VERSION: &str = "ipam.spidernet.io/app-api-version";
/// `podAffinity.matchLabels` key: the application's kind.
pub const AFFINITY_APP_KIND: &str = "ipam.spidernet.io/app-kind";
/// `podAffinity.matchLabels` key: the application's namespace.
pub const AFFINITY_APP_NAMESPACE: &str = "ipam.spidernet.io/app-namespace";
/// `podAffinity.matchLabels` key: the application's name.
pub const AFFINITY_APP_NAME: &str = "ipam.spidernet.io/app-name";

/// The Kubernetes controllers the SpiderSubnet application controller
/// watches, with their `apiVersion`; any other owner is a third-party
/// controller.
pub const NATIVE_CONTROLLERS: [(&str, &str); 6] = [
    ("Deployment", "apps/v1"),
    ("ReplicaSet", "apps/v1"),
    ("StatefulSet", "apps/v1"),
    ("DaemonSet", "apps/v1"),
    ("Job", "batch/v1"),
    ("CronJob", "batch/v1"),
];

/// The application (the pod's top controller) an auto-pool is for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppRef {
    /// `apiVersion`, e.g. `apps/v1` (`v1` for the core group).
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

impl AppRef {
    /// An application of a Kubernetes controller kind (see
    /// [`NATIVE_CONTROLLERS`]), its `apiVersion` filled in; `None` for any
    /// other kind.
    pub fn native(kind: &str, namespace: &str, name: &str, uid: &str) -> Option<AppRef> {
        let (kind, api_version) = NATIVE_CONTROLLERS.iter().find(|(k, _)| *k == kind)?;
        Some(AppRef {
            api_version: (*api_version).to_string(),
            kind: (*kind).to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
        })
    }

    /// A pod without a controller (kind `Pod`): it cannot have an auto-pool.
    pub fn is_orphan_pod(&self) -> bool {
        self.kind == "Pod" && self.api_version == "v1"
    }

    /// Not one of [`NATIVE_CONTROLLERS`] (nor an orphan pod): the agent,
    /// not the controller, creates its pools, and only with a fixed size.
    /// Kind and `apiVersion` must match as a pair (Go checks them
    /// separately, so it would call `batch/v1` `Deployment` native).
    pub fn is_third_party(&self) -> bool {
        !self.is_orphan_pod()
            && !NATIVE_CONTROLLERS.iter().any(|(k, v)| *k == self.kind && *v == self.api_version)
    }

    /// The API group and version: `("apps", "v1")`, `("", "v1")` for the core group.
    pub fn group_version(&self) -> (&str, &str) {
        match self.api_version.split_once('/') {
            Some((group, version)) => (group, version),
            None => ("", self.api_version.as_str()),
        }
    }

    /// The `owner-application-gv` label value: `apps_v1`, `v1` for the core
    /// group (Go `ApplicationLabelGV`).
    pub fn group_version_label(&self) -> String {
        self.api_version.replacen('/', "_", 1)
    }

    /// The `application` of a `status.controlledIPPools` entry:
    /// `<group>_<version>_<Kind>_<namespace>_<name>`, `<version>_...` for
    /// the core group (Go `ApplicationNamespacedName`).
    pub fn application_key(&self) -> String {
        format!("{}_{}_{}_{}", self.group_version_label(), self.kind, self.namespace, self.name)
    }

    /// `"Kind namespace/name"`, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// At most this many characters of the UID's last segment end the name.
const UID_SUFFIX_LEN: usize = 5;

/// The name of the auto-pool of `app_name` for NIC `ifname` and `family`
/// (Go `AutoPoolName`):
/// `auto<4|6>-<app name>-<interface>-<first 5 characters of the last
/// '-'-separated segment of the app UID>`, lower-cased, e.g.
/// `auto4-demo-deploy-eth0-5d3a1` for UID `...-5d3a1c6f7e21`.
///
/// When the name would pass 253 characters the application name is cut so
/// that it fits exactly (Go's arithmetic allows 254, a name the API server
/// refuses), and a cut that ends in `.` drops the dots (`x.-eth0` is not a
/// DNS name). The result must be a DNS-1123 subdomain, so an empty UID, or
/// an interface name with characters such as `_`, is an error naming the
/// value.
pub fn auto_pool_name(
    app_name: &str,
    family: IpFamily,
    ifname: &str,
    app_uid: &str,
) -> Result<String, AutoPoolError> {
    let last = app_uid.rsplit('-').next().unwrap_or_default();
    let suffix: String = last.chars().take(UID_SUFFIX_LEN).collect();
    if suffix.is_empty() {
        return Err(AutoPoolError::PoolName {
            value: app_uid.to_string(),
            reason: format!("the UID {app_uid:?} of application {app_name:?} has no last segment"),
        });
    }
    // "auto4-" + "-" + "-": 8 characters around the three parts.
    let room = DNS1123_SUBDOMAIN_MAX.saturating_sub(8 + suffix.len() + ifname.len());
    let mut app = app_name;
    if app.len() > room {
        let mut cut = room;
        while !app.is_char_boundary(cut) {
            cut -= 1;
        }
        app = app[..cut].trim_end_matches('.');
    }
    let name = format!("auto{}-{app}-{ifname}-{suffix}", family.version()).to_lowercase();
    if let Some(e) = dns1123_subdomain(&name).first() {
        return Err(AutoPoolError::PoolName {
            value: name.clone(),
            reason: format!(
                "the pool name built from application {app_name:?}, interface {ifname:?} and UID \
                 {app_uid:?} is not a valid object name: {e}"
            ),
        });
    }
    Ok(name)
}

/// The `podAffinity` of an auto-pool: `matchLabels` with the application's
/// API group, version, kind, namespace and name under the
/// `ipam.spidernet.io/app-*` keys (Go `NewAutoPoolPodAffinity`). Pods do
/// not carry these labels: the agent matches them against the pod's top
/// controller ([`matches_auto_pool_affinity`]).
pub fn auto_pool_pod_affinity(app: &AppRef) -> LabelSelector {
    LabelSelector { match_labels: Some(affinity_labels(app)), match_expressions: None }
}

/// Whether `affinity` (an auto-pool's `podAffinity`) is for application
/// `app`: each of the five `ipam.spidernet.io/app-*` keys holds the
/// application's value (Go `IsMatchAutoPoolAffinity`; a missing key counts
/// as `""`, so the core group matches a missing `app-api-group`).
pub fn matches_auto_pool_affinity(affinity: Option<&LabelSelector>, app: &AppRef) -> bool {
    let Some(affinity) = affinity else { return false };
    let labels = affinity.match_labels.as_ref();
    affinity_labels(app)
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)).map_or(v.is_empty(), |have| have == v))
}

fn affinity_labels(app: &AppRef) -> BTreeMap<String, String> {
    let (group, version) = app.group_version();
    [
        (AFFINITY_APP_API_GROUP, group),
        (AFFINITY_APP_API_VERSION, version),
        (AFFINITY_APP_KIND, app.kind.as_str()),
        (AFFINITY_APP_NAMESPACE, app.namespace.as_str()),
        (AFFINITY_APP_NAME, app.name.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
