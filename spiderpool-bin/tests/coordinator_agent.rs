//! The coordinator and the agent: ADD is gated on the agent's answer (a
//! SpiderCoordinator that is not `Synced` makes the agent refuse), DEL never
//! is (DESIGN.md §5.5), and without an agent socket the netconf alone is used.
//! Driven in-process through the CNI dispatch with a fake agent on a unix
//! socket; no namespace is touched (the failures happen before).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use spiderpool_bin::cni::run;
use spiderpool_bin::coordinator::Coordinator;

struct FakeAgent {
    dir: PathBuf,
    handle: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl FakeAgent {
    /// Answers `n` requests with `status` and `body`, recording the requests.
    fn start(n: usize, status: &'static str, body: &'static str) -> FakeAgent {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("sp-fake-agent-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("spiderpool.sock")).unwrap();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..n {
                let Ok((mut s, _)) = listener.accept() else { break };
                let mut buf = vec![0u8; 8192];
                let got = s.read(&mut buf).unwrap_or(0);
                seen.push(String::from_utf8_lossy(&buf[..got]).into_owned());
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes());
            }
            seen
        });
        FakeAgent { dir, handle: Some(handle) }
    }

    fn plugin(&self) -> Coordinator {
        Coordinator {
            agent_socket: self.dir.join("spiderpool.sock"),
            agent_timeout: Duration::from_secs(5),
        }
    }

    fn requests(mut self) -> Vec<String> {
        self.handle.take().map(|h| h.join().unwrap()).unwrap_or_default()
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn conf() -> Value {
    json!({
        "cniVersion": "1.0.0", "name": "macvlan-ens192", "type": "coordinator",
        "logOptions": {"logFile": "/dev/null"},
        "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "net1"}],
                       "ips": [{"address": "10.6.212.200/16", "interface": 0}]}
    })
}

fn call(plugin: &Coordinator, command: &str, netns: &str) -> (i32, Value) {
    let env = |k: &str| -> Option<String> {
        match k {
            "CNI_COMMAND" => Some(command.to_string()),
            "CNI_CONTAINERID" => Some("agenttest0123456789".into()),
            "CNI_NETNS" => Some(netns.to_string()),
            "CNI_IFNAME" => Some("net1".into()),
            "CNI_ARGS" => Some("K8S_POD_NAMESPACE=default;K8S_POD_NAME=nginx-1".into()),
            _ => None,
        }
    };
    let mut out = Vec::new();
    let code = run(plugin, &env, conf().to_string().as_bytes(), &mut out);
    (code, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

#[test]
fn add_fails_when_the_agent_refuses_and_names_it() {
    let agent = FakeAgent::start(
        1,
        "500 Internal Server Error",
        r#""spidercoordinator default is not Synced""#,
    );
    let (code, out) = call(&agent.plugin(), "ADD", "/var/run/netns/does-not-matter");
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], 100, "{out}");
    let msg = out["msg"].as_str().unwrap_or("");
    assert!(msg.contains("not Synced") && msg.contains("HTTP 500"), "{msg}");
    let requests = agent.requests();
    assert!(requests[0].starts_with("GET /v1/coordinator/config "), "{requests:?}");
    assert!(
        requests[0].contains(r#""podName":"nginx-1""#)
            && requests[0].contains(r#""podNamespace":"default""#)
    );
}

#[test]
fn add_rejects_a_bad_agent_config_with_the_key_named() {
    let agent = FakeAgent::start(
        1,
        "200 OK",
        r#"{"mode":"auto","tunePodRoutes":true,"overlayPodCIDR":["not-a-cidr"],"serviceCIDR":[]}"#,
    );
    let (code, out) = call(&agent.plugin(), "ADD", "/var/run/netns/does-not-matter");
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], 7, "{out}");
    assert!(out["msg"].as_str().unwrap_or("").contains("clusterConfig.overlayPodCIDR"), "{out}");
}

#[test]
fn del_is_not_gated_on_the_agent() {
    let agent = FakeAgent::start(
        1,
        "500 Internal Server Error",
        r#""spidercoordinator default is not Synced""#,
    );
    // The namespace is gone and the agent refuses: DEL still succeeds.
    let (code, out) = call(&agent.plugin(), "DEL", "/var/run/netns/sp-gone-for-good-test");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn without_an_agent_socket_the_netconf_alone_is_used() {
    let plugin = Coordinator {
        agent_socket: PathBuf::from("/nonexistent/spiderpool.sock"),
        agent_timeout: Duration::from_secs(1),
    };
    // No agent and no namespace: ADD gets as far as opening the namespace.
    let (code, out) = call(&plugin, "ADD", "/var/run/netns/sp-no-such-netns-for-test");
    assert_eq!(code, 1, "{out}");
    assert_eq!(out["code"], 5, "fails on the namespace, not on the agent: {out}");
    assert!(out["msg"].as_str().unwrap_or("").contains("pod netns"), "{out}");
}
