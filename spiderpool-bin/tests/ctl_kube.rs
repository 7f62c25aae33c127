//! `spiderpoolctl --kubeconfig` against a real API server: apply (created,
//! then configured), get (table, JSON), describe, delete of a pool a
//! finalizer holds (terminating, with what it waits for), the API server's
//! refusal printed as kubectl does, and the errors that name the kubeconfig.
//! Skipped without `SPIDERPOOL_TEST_KUBECONFIG`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::json;
use spiderpool_core::model::SpiderIPPool;
use spiderpool_k8s::testing::{TestCluster, TestResult, install_crds};

/// `spiderpoolctl ARGS` with `stdin`: (exit code, stdout, stderr).
fn ctl(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spiderpoolctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_with_a_kubeconfig_applies_gets_describes_and_deletes_on_the_cluster() -> TestResult<()>
{
    let Some(cluster) = TestCluster::from_env().await? else { return Ok(()) };
    install_crds(&cluster.client()).await?;
    let scope = cluster.scope("ctlkube");
    let name = scope.name("pool");
    scope.track::<SpiderIPPool>(None, &name);
    let kc = cluster.kubeconfig().to_str().unwrap().to_string();
    let pool = |gateway: &str| {
        json!({"apiVersion": "spiderpool.spidernet.io/v2beta1", "kind": "SpiderIPPool",
               "metadata": {"name": name, "finalizers": ["spiderpool.spidernet.io"]},
               "spec": {"subnet": "10.77.0.0/24", "ips": ["10.77.0.10-10.77.0.20"],
                        "gateway": gateway}})
        .to_string()
    };

    // apply: created, then configured (the stored version carried over).
    let (code, out, err) = ctl(&["--kubeconfig", &kc, "apply", "-f", "-"], &pool("10.77.0.1"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("spiderippool.spiderpool.spidernet.io/{name} created\n"));
    let (code, out, err) = ctl(&["--kubeconfig", &kc, "apply", "-f", "-"], &pool("10.77.0.254"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("spiderippool.spiderpool.spidernet.io/{name} configured\n"));

    // get: Spiderpool's columns; JSON with kind, no managedFields.
    let (code, out, err) = ctl(&["--kubeconfig", &kc, "get", "sp", &name], "");
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("NAME"), "{out}");
    let row = lines.next().unwrap();
    assert!(row.starts_with(&name) && row.contains("10.77.0.0/24"), "{out}");
    let (code, out, err) = ctl(&["--kubeconfig", &kc, "get", "sp", &name, "-o", "json"], "");
    assert_eq!(code, 0, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["kind"], "SpiderIPPool");
    assert_eq!(got["spec"]["gateway"], "10.77.0.254");
    assert!(got["metadata"].get("managedFields").is_none(), "{out}");
    let (code, out, _) = ctl(&["--kubeconfig", &kc, "get", "sp"], "");
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l.starts_with(&name)), "{out}");

    // describe.
    let (code, out, err) = ctl(&["--kubeconfig", &kc, "describe", "sp", &name], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&name) && out.contains("10.77.0.0/24"), "{out}");

    // delete of a pool holding addresses: the finalizer keeps it terminating.
    let (group, version) = ("spiderpool.spidernet.io", "v2beta1");
    let gvk = GroupVersionKind::gvk(group, version, "SpiderIPPool");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "spiderippools");
    let api: Api<DynamicObject> = Api::all_with(cluster.client(), &ar);
    let status = json!({"status": {"allocatedIPCount": 2}});
    api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await?;
    let (code, out, err) = ctl(&["--kubeconfig", &kc, "delete", "sp", &name], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!(
            "spiderippool.spiderpool.spidernet.io \"{name}\" deleted (terminating until its 2 allocated address(es) are released)\n"
        )
    );

    // The API server's refusal, as kubectl prints it; exit 1.
    let (code, _, err) = ctl(&["--kubeconfig", &kc, "get", "sp", "no-such-pool-ctlkube"], "");
    assert_eq!(code, 1);
    assert!(err.starts_with("Error from server (NotFound): "), "{err}");
    assert!(err.contains("no-such-pool-ctlkube"), "{err}");

    // A kubeconfig that cannot be used, and the agent-only command: exit 2.
    let (code, _, err) = ctl(&["--kubeconfig", "/nonexistent/kc", "get", "sp"], "");
    assert_eq!(code, 2);
    assert!(err.contains("kubeconfig /nonexistent/kc"), "{err}");
    let (code, _, err) = ctl(&["--kubeconfig", &kc, "release", "--pod", "default/x"], "");
    assert_eq!(code, 2);
    assert!(err.contains("release: needs the agent"), "{err}");
    Ok(())
}
