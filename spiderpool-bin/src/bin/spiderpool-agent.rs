//! `spiderpool-agent`: serves Spiderpool's agent API on a unix socket, and
//! runtime probes on a TCP port. See `docs/agent.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use clap::{Parser, ValueEnum};
use spiderpool_bin::agent::{
    Agent, AgentBackend, AgentConfig, AgentSocket, ServerLimits, api_router, bind_socket,
    health_router, metrics_router, replay_release_journal, restrict_journal_files, router,
    serve_announcements, serve_router, serve_socket,
};
use spiderpool_bin::store::{EmbeddedStore, SyncMode};
use spiderpool_core::admission::ClusterSettings;
use spiderpool_core::agent_api::DEFAULT_SOCKET;
use spiderpool_core::autopool::SubnetFeature;
use spiderpool_core::store::MemoryStore;
use spiderpool_k8s::{CommitMode, FactsOptions, KubeBackend, KubeStoreOptions};
use tokio::signal::unix::{SignalKind, signal};

/// Which store holds pools and allocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    /// A redb database under `--data-dir`.
    Embedded,
    /// Memory only: everything is lost when the agent stops.
    Memory,
    /// The cluster's SpiderIPPools, SpiderReservedIPs and SpiderEndpoints,
    /// with pod facts from watch caches (`--kubeconfig`, `KUBECONFIG` or the
    /// pod's service account). No administrative routes: use kubectl.
    Kubernetes,
}

/// When the embedded store's writes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreSync {
    /// Writes are staged in one transaction and every answer waits for its
    /// commit, one fsync shared by the requests that finished meanwhile
    /// (group commit).
    Group,
    /// Every write commits with its own fsync.
    EveryWrite,
}

/// Spiderpool's node agent: IPAM and coordinator configuration over a unix
/// socket, backed by a store.
#[derive(Debug, Parser)]
#[command(name = "spiderpool-agent", version)]
struct Args {
    /// Unix socket to serve the agent API on (created mode 0600; a stale socket
    /// is replaced; `<socket>.lock` beside it is held while the agent runs, and
    /// an agent finding it held, or a live agent on the socket, refuses to
    /// start).
    #[arg(long, env = "SPIDERPOOL_IPAM_UNIX_SOCKET_PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// This node's name.
    #[arg(long, env = "SPIDERPOOL_NODE_NAME")]
    node_name: String,
    /// The store.
    #[arg(long, value_enum, env = "SPIDERPOOL_STORE", default_value = "embedded")]
    store: StoreKind,
    /// Directory of the embedded store's database.
    #[arg(long, env = "SPIDERPOOL_DATA_DIR", default_value = "/var/lib/spiderpool")]
    data_dir: PathBuf,
    /// How the embedded store makes writes durable. Either way no answer is
    /// sent before the writes it reports are on disk.
    #[arg(long, value_enum, env = "SPIDERPOOL_STORE_SYNC", default_value = "group")]
    store_sync: StoreSync,
    /// `--store kubernetes`: the kubeconfig to use. Without it the client is
    /// inferred: `KUBECONFIG`, `~/.kube/config`, then the pod's service account.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// `--store kubernetes`: merge the pool writes waiting on this node into
    /// one status write per pool (group commit); `false` writes once per
    /// allocation, as Spiderpool does.
    #[arg(long, env = "SPIDERPOOL_GROUP_COMMIT", default_value_t = true, action = clap::ArgAction::Set)]
    group_commit: bool,
    /// How often a request whose commit conflicted with another node's is run
    /// again (the first time at once, then after a random wait of up to
    /// 500 ms) before it fails; keep it well above the number of nodes
    /// allocating from one pool at the same time.
    #[arg(long, env = "SPIDERPOOL_CONFLICT_RETRIES", default_value_t = 100)]
    conflict_retries: u32,
    /// `--store kubernetes`: seconds a request waits for the watch caches'
    /// first lists (at start, or while the API server is away) before it fails.
    #[arg(long, env = "SPIDERPOOL_K8S_SYNC_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    k8s_sync_timeout: u64,
    /// `--store kubernetes`: time limit in seconds of one request to the API
    /// server.
    #[arg(long, env = "SPIDERPOOL_K8S_REQUEST_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    k8s_request_timeout: u64,
    /// `--store kubernetes`: see only pools, reserved IPs and endpoints
    /// labelled KEY=VALUE, and label the endpoints this agent creates so —
    /// independent agents in one cluster (tests, benchmarks).
    #[arg(long, env = "SPIDERPOOL_K8S_SCOPE_LABEL", value_parser = parse_label)]
    k8s_scope_label: Option<(String, String)>,
    /// The SpiderSubnet feature (`enableSpiderSubnet`): pods' subnet
    /// annotations come first in pool selection.
    #[arg(long, env = "SPIDERPOOL_ENABLE_SPIDER_SUBNET", default_value_t = false, action = clap::ArgAction::Set)]
    enable_spider_subnet: bool,
    /// Auto-pools for applications (`enableAutoPoolForApplication`); with it
    /// off, a pod's subnet annotation is refused.
    #[arg(long, env = "SPIDERPOOL_ENABLE_AUTO_POOL_FOR_APPLICATION", default_value_t = true, action = clap::ArgAction::Set)]
    enable_auto_pool_for_application: bool,
    /// Spare addresses of an auto-pool whose pod names no
    /// `ipam.spidernet.io/ippool-ip-number`
    /// (`clusterSubnetAutoPoolDefaultRedundantIPNumber`).
    #[arg(long, env = "SPIDERPOOL_AUTO_POOL_DEFAULT_REDUNDANT_IP_NUMBER", default_value_t = 1)]
    auto_pool_default_redundant_ip_number: u64,
    /// Checks for a controller-made auto-pool before an ADD fails.
    #[arg(long, env = "SPIDERPOOL_WAIT_SUBNET_POOL_MAX_RETRIES", default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    wait_subnet_pool_max_retries: u32,
    /// Seconds between those checks.
    #[arg(long, env = "SPIDERPOOL_WAIT_SUBNET_POOL_TIME_IN_SECOND", default_value_t = 2)]
    wait_subnet_pool_time_in_second: u64,
    /// Allocate IPv4 addresses.
    #[arg(long, env = "SPIDERPOOL_ENABLE_IPV4", default_value_t = true, action = clap::ArgAction::Set)]
    enable_ipv4: bool,
    /// Allocate IPv6 addresses.
    #[arg(long, env = "SPIDERPOOL_ENABLE_IPV6", default_value_t = true, action = clap::ArgAction::Set)]
    enable_ipv6: bool,
    /// Namespace Spiderpool runs in (bare NAD names resolve here).
    #[arg(long, env = "SPIDERPOOL_AGENT_NAMESPACE", default_value = "kube-system")]
    agent_namespace: String,
    /// `ns/name` of the Multus cluster network NAD.
    #[arg(long, env = "MULTUS_CLUSTER_NETWORK")]
    multus_cluster_network: Option<String>,
    /// Ask the IPAM plugin to probe for IP conflicts (ARP/NDP).
    #[arg(long, env = "SPIDERPOOL_ENABLED_IP_CONFLICT_DETECTION", default_value_t = false, action = clap::ArgAction::Set)]
    enable_ip_conflict_detection: bool,
    /// Ask the IPAM plugin to probe the gateway.
    #[arg(long, env = "SPIDERPOOL_ENABLED_GATEWAY_DETECTION", default_value_t = false, action = clap::ArgAction::Set)]
    enable_gateway_detection: bool,
    /// Allow batch releases of conflicting IPs (`isReleaseConflictIPs`).
    #[arg(long, env = "SPIDERPOOL_ENABLED_RELEASE_CONFLICT_IPS", default_value_t = true, action = clap::ArgAction::Set)]
    enable_release_conflict_ips: bool,
    /// TCP port of `/v1/runtime/{startup,readiness,liveness}`; 0 disables it.
    #[arg(long, env = "SPIDERPOOL_HEALTH_PORT", default_value_t = 5710)]
    health_port: u16,
    /// Address the health port binds to.
    #[arg(long, env = "SPIDERPOOL_HEALTH_ADDRESS", default_value = "127.0.0.1")]
    health_address: std::net::IpAddr,
    /// Prometheus metrics port (OpenMetrics text on every path); unset: no
    /// metrics server.
    #[arg(long, env = "SPIDERPOOL_METRIC_HTTP_PORT")]
    metrics_port: Option<u16>,
    /// Address the metrics port binds to.
    #[arg(long, env = "SPIDERPOOL_METRIC_HTTP_ADDRESS", default_value = "127.0.0.1")]
    metrics_address: std::net::IpAddr,
    /// Release journal of the `spiderpool` IPAM plugin (DELs made while the
    /// agent was down), replayed before serving.
    #[arg(
        long,
        env = "SPIDERPOOL_RELEASE_JOURNAL",
        default_value = "/var/lib/spiderpool/release-journal.jsonl"
    )]
    release_journal: PathBuf,
    /// Seconds between replays of the release journal while serving (DELs
    /// journaled because the agent was slow or briefly away); 0: only at
    /// start-up.
    #[arg(long, env = "SPIDERPOOL_RELEASE_JOURNAL_INTERVAL", default_value_t = 10)]
    release_journal_interval: u64,
    /// Seconds a client may take, from the first byte of a request, to send
    /// the whole request head; then the connection is closed.
    #[arg(long, env = "SPIDERPOOL_HTTP_HEADER_READ_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    http_header_read_timeout: u64,
    /// Seconds a connection may wait for its next request (after it opened or
    /// after its previous answer); then it is closed.
    #[arg(long, env = "SPIDERPOOL_HTTP_IDLE_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    http_idle_timeout: u64,
    /// Open connections at most, per server (socket, health port, metrics
    /// port). At the cap a new connection replaces the one idle longest;
    /// keep it well below the open-file limit (`ulimit -n`).
    #[arg(long, env = "SPIDERPOOL_HTTP_MAX_CONNECTIONS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    http_max_connections: u64,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, env = "SPIDERPOOL_LOG_LEVEL", default_value = "info")]
    log_level: tracing::Level,
}

/// `KEY=VALUE`.
fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?}: expected KEY=VALUE")),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Colours only on a terminal: a log file or journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    let runtime =
        runtime_for(args.store).enable_all().build().context("starting the tokio runtime")?;
    runtime.block_on(run(args))
}

/// The runtime for a store. With the stores on this machine (`embedded`,
/// `memory`) the agent is one thread: a request is a few tens of
/// microseconds of work and, with the embedded store, one shared fsync, so
/// the thread that wakes up for a request handles it whole — on an idle
/// machine every hand-off to another thread costs a wake-up (0.1–0.3 ms
/// here, more than the work), and an IPAM answer needed three. The
/// embedded store writes inline on it and gives the requests that are ready
/// a turn before each fsync, so concurrent requests still share one
/// (`EmbeddedStore::sync`). With `kubernetes` every request waits for the
/// API server and the watches decode large lists: a worker per core.
fn runtime_for(store: StoreKind) -> tokio::runtime::Builder {
    match store {
        StoreKind::Embedded | StoreKind::Memory => tokio::runtime::Builder::new_current_thread(),
        StoreKind::Kubernetes => tokio::runtime::Builder::new_multi_thread(),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.node_name.is_empty() {
        bail!("--node-name (SPIDERPOOL_NODE_NAME): required, must not be empty");
    }
    let config = AgentConfig {
        node_name: args.node_name.clone(),
        enable_ipv4: args.enable_ipv4,
        enable_ipv6: args.enable_ipv6,
        agent_namespace: args.agent_namespace.clone(),
        multus_cluster_network: args.multus_cluster_network.clone(),
        enable_ip_conflict_detection: args.enable_ip_conflict_detection,
        enable_gateway_detection: args.enable_gateway_detection,
        enable_release_conflict_ips: args.enable_release_conflict_ips,
        admission: ClusterSettings {
            enable_ipv4: args.enable_ipv4,
            enable_ipv6: args.enable_ipv6,
            enable_spider_subnet: args.enable_spider_subnet,
            ..ClusterSettings::default()
        },
        conflict_retries: args.conflict_retries,
        subnet: SubnetFeature {
            enable_spider_subnet: args.enable_spider_subnet,
            enable_auto_pool: args.enable_auto_pool_for_application,
            default_redundant: args.auto_pool_default_redundant_ip_number,
        },
        auto_pool_wait_retries: args.wait_subnet_pool_max_retries,
        auto_pool_wait_interval: std::time::Duration::from_secs(
            args.wait_subnet_pool_time_in_second,
        ),
    };
    // The socket first: a second agent must stop here, before it opens a
    // store or replays the journal of the agent that owns the socket.
    let socket = bind_socket(&args.socket).await.context("--socket")?;
    // Beside it, the announce socket of the IPAM plugin's ADDs (a plugin
    // that finds none announces itself): failing to serve it is not fatal.
    let announce_path = spiderpool_core::agent_api::announce_socket(&args.socket);
    let _announce = match serve_announcements(&announce_path) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(path = %announce_path.display(), error = %e, "no announce socket: plugins announce themselves");
            None
        }
    };
    match args.store {
        StoreKind::Memory => {
            run_with_store(&args, MemoryStore::new(), config, socket, router::<MemoryStore>).await
        }
        StoreKind::Kubernetes => {
            let backend = kube_backend(&args).await?;
            let synced = backend.clone();
            tokio::spawn(async move { report_sync(synced).await });
            run_with_store(&args, backend, config, socket, api_router::<KubeBackend>).await
        }
        StoreKind::Embedded => {
            let dir = args.data_dir.clone();
            let mode = match args.store_sync {
                StoreSync::Group => SyncMode::Group,
                StoreSync::EveryWrite => SyncMode::EveryWrite,
            };
            let store =
                tokio::task::spawn_blocking(move || EmbeddedStore::open_dir_with(&dir, mode))
                    .await
                    .context("opening the embedded store")?
                    .with_context(|| format!("--data-dir {}", args.data_dir.display()))?;
            run_with_store(&args, store, config, socket, router::<EmbeddedStore>).await
        }
    }
}

/// `--store kubernetes`: the client and the backend. The watches start here
/// and wait for an API server that is not there yet; until every kind is
/// listed the agent answers, and reports not ready with the reason.
async fn kube_backend(args: &Args) -> anyhow::Result<KubeBackend> {
    let client =
        spiderpool_k8s::connect(args.kubeconfig.as_deref()).await.context("--store kubernetes")?;
    let mut store = KubeStoreOptions::default().with_commit(if args.group_commit {
        CommitMode::Group
    } else {
        CommitMode::PerWrite
    });
    if let Some((key, value)) = &args.k8s_scope_label {
        store = store.with_scope_label(key, value);
    }
    let sync = std::time::Duration::from_secs(args.k8s_sync_timeout);
    let request = std::time::Duration::from_secs(args.k8s_request_timeout);
    store.sync_timeout = sync;
    store.request_timeout = request;
    let mut facts = FactsOptions::new(&args.node_name);
    facts.sync_timeout = sync;
    facts.request_timeout = request;
    KubeBackend::new(client, store, facts).context("--store kubernetes")
}

/// Logs, once, when the Kubernetes backend has listed everything; until
/// then, every sync timeout, what it is still waiting for.
async fn report_sync(backend: KubeBackend) {
    loop {
        match backend.wait_synced().await {
            Ok(()) => {
                tracing::info!("kubernetes caches synced");
                return;
            }
            Err(e) => tracing::warn!(error = %e, "kubernetes caches not synced yet"),
        }
    }
}

/// Everything after the store is chosen; generic so that each store
/// (`memory`, `embedded`, `kubernetes`) is one arm of the match in [`run`].
/// `routes` builds the socket's router: [`router`] (with the administrative
/// routes) for the stores that keep every object, [`api_router`] otherwise.
async fn run_with_store<S: AgentBackend>(
    args: &Args,
    store: S,
    config: AgentConfig,
    socket: AgentSocket,
    routes: fn(Arc<Agent<S>>) -> Router,
) -> anyhow::Result<()> {
    let limits = ServerLimits {
        header_read_timeout: std::time::Duration::from_secs(args.http_header_read_timeout),
        idle_timeout: std::time::Duration::from_secs(args.http_idle_timeout),
        max_connections: usize::try_from(args.http_max_connections).unwrap_or(usize::MAX),
    };
    let agent = Arc::new(Agent::new(store, config));
    restrict_journal_files(&args.release_journal);
    replay_journal(&agent, &args.release_journal, true).await;

    let stop_rx = shutdown_on_signal()?;
    let replays = (args.release_journal_interval > 0).then(|| {
        let every = std::time::Duration::from_secs(args.release_journal_interval);
        tokio::spawn(replay_periodically(
            agent.clone(),
            args.release_journal.clone(),
            every,
            stop_rx.clone(),
        ))
    });
    let health = match args.health_port {
        0 => None,
        port => {
            let addr = SocketAddr::new(args.health_address, port);
            let app = health_router(agent.clone());
            Some(serve_tcp("--health-port", addr, app, limits, stop_rx.clone()).await?)
        }
    };
    let metrics = match args.metrics_port {
        None => None,
        Some(port) => {
            let addr = SocketAddr::new(args.metrics_address, port);
            let app = metrics_router(agent.clone());
            Some(serve_tcp("--metrics-port", addr, app, limits, stop_rx.clone()).await?)
        }
    };

    tracing::info!(
        socket = %args.socket.display(),
        node = %args.node_name,
        store = ?args.store,
        "spiderpool-agent serving"
    );
    serve_socket(socket, routes(agent), limits, stopped(stop_rx))
        .await
        .context("serving the agent socket")?;
    if let Some(t) = replays {
        t.await.context("release journal task")?;
    }
    for (what, task) in [("health", health), ("metrics", metrics)] {
        if let Some(t) = task {
            t.await
                .with_context(|| format!("{what} server task"))?
                .with_context(|| format!("{what} server"))?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// A receiver that turns `true` on the first SIGTERM or SIGINT.
fn shutdown_on_signal() -> anyhow::Result<tokio::sync::watch::Receiver<bool>> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    tokio::spawn(async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = which, "shutting down");
        let _ = stop_tx.send(true);
    });
    Ok(stop_rx)
}

/// Resolves once `rx` turns `true` (shutdown).
async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}

/// Replays the release journal once and logs what it did (`always`: also
/// when it found nothing, as at start).
async fn replay_journal<S: AgentBackend>(agent: &Agent<S>, path: &Path, always: bool) {
    match replay_release_journal(agent, path).await {
        Ok(o) if always || o.released + o.kept + o.invalid.len() > 0 => tracing::info!(
            journal = %path.display(),
            released = o.released,
            kept = o.kept,
            invalid = o.invalid.len(),
            "release journal replayed"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "--release-journal: not replayed"),
    }
}

/// `--release-journal-interval`: replays the journal every `every` until
/// shutdown (the first replay ran at start).
async fn replay_periodically<S: AgentBackend>(
    agent: Arc<Agent<S>>,
    path: PathBuf,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => break,
        }
        replay_journal(&agent, &path, false).await;
    }
}

/// Binds `addr` (the error names `flag`) and serves `app` on it until
/// shutdown.
async fn serve_tcp(
    flag: &str,
    addr: SocketAddr,
    app: Router,
    limits: ServerLimits,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("{flag} {}: bind {addr}", addr.port()))?;
    tracing::info!(%addr, flag, "listening");
    Ok(tokio::spawn(async move { serve_router(listener, app, limits, stopped(stop)).await }))
}
