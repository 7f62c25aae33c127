//! The walk-through of docs/kubernetes.md ("Walk-through: two agents on the
//! test cluster"), run as written: the CRDs and the seed's SpiderIPPool
//! applied with kubectl, the seed's two nodes and pods, two
//! `spiderpool-agent --store kubernetes` processes, a CNI ADD of each pod
//! through the `spiderpool` IPAM plugin binary, and `kubectl get se` printing
//! the seed's table (with our addresses: the lowest free ones).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod agent_harness;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;
use spiderpool_core::model::{SpiderEndpoint, SpiderIPPool};
use spiderpool_k8s::testing::{TestCluster, TestResult};

use agent_harness::Dir;
use agent_harness::process::AgentProcess;

const SEED_POOL: &str = r#"apiVersion: spiderpool.spidernet.io/v2beta1
kind: SpiderIPPool
metadata:
  name: 10-6-v4
spec:
  disable: false
  gateway: 10.6.0.1
  ips:
  - 10.6.212.200-10.6.212.240
  subnet: 10.6.0.0/16
"#;

/// `kubectl ARGS` with `stdin`; stdout, or a panic with stderr.
fn kubectl(cluster: &TestCluster, args: &[&str], stdin: &str) -> String {
    let mut child = cluster
        .kubectl()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The `spiderpool` plugin's ADD of `pod` (uid) through `socket`, as macvlan
/// calls it: its CNI result.
fn plugin_add(dir: &Path, socket: &Path, pod: &str, uid: &str) -> serde_json::Value {
    let conf = json!({"cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "macvlan",
        "master": "ens192", "mode": "bridge",
        "ipam": {"type": "spiderpool", "default_ipv4_ippool": ["10-6-v4"],
                 "ipam_unix_socket_path": socket,
                 "log_file_path": dir.join("plugin.log"),
                 "release_journal_path": dir.join("plugin.journal")}});
    let mut child = Command::new(env!("CARGO_BIN_EXE_spiderpool"))
        .env_clear()
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", format!("ctr-{pod}"))
        .env("CNI_NETNS", format!("/var/run/netns/{pod}"))
        .env("CNI_IFNAME", "net1")
        .env("CNI_PATH", "/usr/lib/cni")
        .env(
            "CNI_ARGS",
            format!(
                "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod};K8S_POD_UID={uid}"
            ),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(conf.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "plugin ADD {pod}: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_and_the_plugin_fill_the_seeds_endpoint_table() -> TestResult<()> {
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    let scope = cluster.scope("walk");
    let pods = [("nginx-4653bc4f24-xngkm", "worker01"), ("nginx-4653bc4f24-ougjk", "controller")];
    scope.track::<SpiderIPPool>(None, "10-6-v4");
    for (pod, node) in pods {
        scope.track_resource::<Node>(None, node);
        scope.track_resource::<Pod>(Some("default"), pod);
        scope.track::<SpiderEndpoint>(Some("default"), pod);
    }
    let dir = Dir::new("sp-walk");

    // 1. CRDs and the seed's pool, with kubectl.
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/spiderpool/crds/");
    kubectl(&cluster, &["apply", "-f", crds], "");
    kubectl(&cluster, &["apply", "-f", "-"], SEED_POOL);
    // 2. The seed's nodes and pods (the test plays their kubelets).
    for (pod, node) in pods {
        kubectl(
            &cluster,
            &["apply", "-f", "-"],
            &json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node}})
            .to_string(),
        );
        kubectl(
            &cluster,
            &["apply", "-f", "-"],
            &json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": "default", "labels": {"app": "nginx"}},
            "spec": {"nodeName": node, "automountServiceAccountToken": false,
                     "containers": [{"name": "nginx", "image": "nginx"}]}})
            .to_string(),
        );
    }
    // 3. One agent per node.
    let mut agents = Vec::new();
    for (_, node) in pods {
        let socket = dir.path().join(format!("{node}.sock"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_spiderpool-agent"));
        c.args(["--store", "kubernetes", "--health-port", "0", "--node-name", node]);
        c.arg("--kubeconfig").arg(cluster.kubeconfig()).arg("--socket").arg(&socket);
        c.arg("--release-journal").arg(dir.path().join(format!("{node}.journal")));
        let mut agent = AgentProcess::spawn(c, &socket, &dir.path().join(format!("{node}.log")));
        tokio::task::block_in_place(|| agent.wait_healthy(Duration::from_secs(60)));
        agents.push(agent);
    }
    // 4. The IPAM plugin's ADD of each pod, through its node's agent.
    for ((pod, _), agent) in pods.iter().zip(&agents) {
        let uid = kubectl(
            &cluster,
            &["get", "pod", pod, "-n", "default", "-o", "jsonpath={.metadata.uid}"],
            "",
        );
        let result =
            tokio::task::block_in_place(|| plugin_add(dir.path(), &agent.socket, pod, &uid));
        assert_eq!(result["ips"][0]["gateway"], json!("10.6.0.1"), "{result}");
    }
    // 5. The seed's table.
    let table = kubectl(&cluster, &["get", "se", "-n", "default"], "");
    println!("{table}");
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "INTERFACE", "IPV4POOL", "IPV4", "IPV6POOL", "IPV6", "NODE"]);
    let row = |pod: &str| {
        rows.iter().find(|r| r[0] == pod).cloned().unwrap_or_else(|| panic!("{pod} in {table}"))
    };
    assert_eq!(row(pods[0].0), [pods[0].0, "net1", "10-6-v4", "10.6.212.200/16", "worker01"]);
    assert_eq!(row(pods[1].0), [pods[1].0, "net1", "10-6-v4", "10.6.212.201/16", "controller"]);
    for mut agent in agents {
        tokio::task::block_in_place(|| agent.terminate());
    }
    Ok(())
}
