//! What tests read from, and do to, the test environment's API server: its
//! request counters (`/metrics`), its address, a restart.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kube::Client;

use super::{TestCluster, TestResult};

/// `apiserver_request_total` of one verb, resource and subresource, by HTTP
/// code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Requests by code (`"200"`, `"409"`, ...).
    pub by_code: BTreeMap<String, u64>,
}

impl RequestCounts {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.by_code.values().sum()
    }

    /// Requests answered with `code`.
    pub fn code(&self, code: &str) -> u64 {
        self.by_code.get(code).copied().unwrap_or(0)
    }

    /// What happened since `earlier`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        let by_code = self
            .by_code
            .iter()
            .map(|(code, n)| (code.clone(), n.saturating_sub(earlier.code(code))))
            .collect();
        RequestCounts { by_code }
    }
}

/// Reads `apiserver_request_total{verb, resource, subresource}` from the API
/// server's `/metrics` (`subresource` empty: requests without one).
pub async fn request_counts(
    client: &Client,
    verb: &str,
    resource: &str,
    subresource: &str,
) -> TestResult<RequestCounts> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    Ok(parse_request_counts(&text, verb, resource, subresource))
}

/// [`request_counts`] over the text of `/metrics`.
pub fn parse_request_counts(
    text: &str,
    verb: &str,
    resource: &str,
    subresource: &str,
) -> RequestCounts {
    let mut counts = RequestCounts::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else { continue };
        let Some((labels, value)) = rest.rsplit_once("} ") else { continue };
        let labels: BTreeMap<&str, &str> = labels
            .split("\",")
            .filter_map(|pair| pair.split_once("=\""))
            .map(|(k, v)| (k, v.trim_end_matches('"')))
            .collect();
        let get = |k: &str| labels.get(k).copied().unwrap_or("");
        if get("verb") != verb || get("resource") != resource || get("subresource") != subresource {
            continue;
        }
        let n = value.trim().parse::<f64>().unwrap_or(0.0) as u64;
        *counts.by_code.entry(get("code").to_owned()).or_default() += n;
    }
    counts
}

impl TestCluster {
    /// The directory of the `scripts/k8s-testenv.sh` environment this
    /// cluster runs from (the kubeconfig's directory, when it is one).
    pub fn testenv_dir(&self) -> Option<PathBuf> {
        let dir = self.kubeconfig().parent()?;
        dir.join(".spiderpool-k8s-testenv").exists().then(|| dir.to_owned())
    }

    /// The API server's address (host and port of the kubeconfig's server).
    pub fn apiserver_addr(&self) -> TestResult<SocketAddr> {
        let uri = &self.config().cluster_url;
        let host = uri.host().ok_or("kubeconfig server has no host")?.trim_matches(['[', ']']);
        let port = uri.port_u16().unwrap_or(443);
        Ok(SocketAddr::new(host.parse()?, port))
    }

    /// A client configuration that reaches the API server through `addr`
    /// (an [`super::ApiProxy`]); same credentials and CA.
    pub fn config_through(&self, addr: SocketAddr) -> TestResult<kube::Config> {
        let mut config = self.config().clone();
        config.cluster_url = format!("https://{addr}").parse()?;
        Ok(config)
    }

    /// Restarts the test environment's kube-apiserver with
    /// `scripts/k8s-testenv.sh restart-apiserver DIR SECONDS`, keeping it down
    /// for `down_for`; returns once it answers again.
    pub async fn restart_apiserver(&self, down_for: Duration) -> TestResult<()> {
        let dir =
            self.testenv_dir().ok_or("the cluster is not a scripts/k8s-testenv.sh environment")?;
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/k8s-testenv.sh");
        let out = tokio::process::Command::new("bash")
            .arg(script)
            .arg("restart-apiserver")
            .arg(&dir)
            .arg(format!("{:.1}", down_for.as_secs_f64()))
            .output()
            .await?;
        if !out.status.success() {
            return Err(format!(
                "restart-apiserver {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_counts_sum_codes_of_the_wanted_series() {
        let text = r#"# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="spiderpool.spidernet.io",resource="spiderippools",scope="resource",subresource="status",verb="PUT",version="v2beta1"} 12
apiserver_request_total{code="409",component="apiserver",contentType="application/json",dry_run="",group="spiderpool.spidernet.io",resource="spiderippools",scope="resource",subresource="status",verb="PUT",version="v2beta1"} 3
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="spiderpool.spidernet.io",resource="spiderippools",scope="resource",subresource="",verb="PUT",version="v2beta1"} 7
apiserver_request_total{code="200",component="apiserver",contentType="application/json",dry_run="",group="spiderpool.spidernet.io",resource="spiderippools",scope="resource",subresource="status",verb="GET",version="v2beta1"} 9
"#;
        let c = parse_request_counts(text, "PUT", "spiderippools", "status");
        assert_eq!((c.total(), c.code("200"), c.code("409")), (15, 12, 3));
        let earlier = RequestCounts { by_code: BTreeMap::from([("200".to_owned(), 10)]) };
        assert_eq!(c.since(&earlier).total(), 5);
        assert_eq!(parse_request_counts(text, "PUT", "spiderippools", "").total(), 7);
    }
}
