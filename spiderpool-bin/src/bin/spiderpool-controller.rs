//! `spiderpool-controller`: admission webhooks for Spiderpool's resources on
//! every replica, the leader's work on the holder of a Lease, health and
//! metrics. See `docs/controller.md`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use spiderpool_bin::agent::ServerLimits;
use spiderpool_bin::controller::duration::parse_duration;
use spiderpool_bin::controller::init::run_init;
use spiderpool_bin::controller::leader_work::{LeaderWorkOptions, leader_work};
use spiderpool_bin::controller::{ControllerConfig, TlsMode, run};
use spiderpool_core::admission::ClusterSettings;
use spiderpool_k8s::gc::GcOptions;
use spiderpool_k8s::leader::ElectionConfig;
use spiderpool_k8s::reconcile::{
    AutoPoolOptions, CoordinatorOptions, FIELD_MANAGER, ReconcileOptions, Reporter,
};
use spiderpool_k8s::webhook::config::DEFAULT_CONFIGURATION_NAME;
use tokio::signal::unix::{SignalKind, signal};

/// Spiderpool's controller: webhooks, leader election, health and metrics.
#[derive(Debug, Parser)]
#[command(name = "spiderpool-controller", version)]
struct Args {
    /// Kubeconfig file; unset: in-cluster configuration, then `$KUBECONFIG`
    /// and `~/.kube/config`.
    #[arg(long, global = true, env = "SPIDERPOOL_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// Namespace the controller runs in (its Secret and Lease live here).
    #[arg(long, global = true, env = "SPIDERPOOL_POD_NAMESPACE", default_value = "kube-system")]
    namespace: String,
    /// This replica's identity in the Lease (the pod name); default:
    /// `<hostname>-<pid>`.
    #[arg(long, env = "SPIDERPOOL_POD_NAME")]
    identity: Option<String>,
    /// Name of the webhook Service: the generated certificate names
    /// `<service>`, `<service>.<ns>`, `<service>.<ns>.svc` and
    /// `<service>.<ns>.svc.cluster.local`.
    #[arg(
        long,
        global = true,
        env = "SPIDERPOOL_CONTROLLER_SERVICE",
        default_value = "spiderpool-controller"
    )]
    service_name: String,
    /// HTTPS port of the admission webhooks.
    #[arg(long, env = "SPIDERPOOL_WEBHOOK_PORT", default_value_t = 5722)]
    webhook_port: u16,
    /// Address the webhook port binds to.
    #[arg(long, env = "SPIDERPOOL_WEBHOOK_ADDRESS", default_value = "0.0.0.0")]
    webhook_address: IpAddr,
    /// Port of `/v1/runtime/{startup,readiness,liveness}`, `/readyz`,
    /// `/livez`; 0 disables it.
    #[arg(long, env = "SPIDERPOOL_HEALTH_PORT", default_value_t = 5720)]
    health_port: u16,
    /// Address the health port binds to.
    #[arg(long, env = "SPIDERPOOL_HEALTH_ADDRESS", default_value = "0.0.0.0")]
    health_address: IpAddr,
    /// Prometheus metrics port (text on every path); 0 disables it.
    #[arg(long, env = "SPIDERPOOL_METRIC_HTTP_PORT", default_value_t = 5721)]
    metrics_port: u16,
    /// Address the metrics port binds to.
    #[arg(long, env = "SPIDERPOOL_METRIC_HTTP_ADDRESS", default_value = "0.0.0.0")]
    metrics_address: IpAddr,
    /// Serving certificate (PEM chain) of the webhooks; with
    /// `--tls-key-file`. Reloaded when the file changes. Unset: the
    /// controller generates its certificates (`--tls-secret-name`).
    #[arg(long, env = "SPIDERPOOL_TLS_CERT_FILE", requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// Private key (PEM) of `--tls-cert-file`.
    #[arg(long, env = "SPIDERPOOL_TLS_KEY_FILE", requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// How often the certificate files are checked for changes.
    #[arg(long, env = "SPIDERPOOL_TLS_RELOAD_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    tls_reload_interval: Duration,
    /// Generated mode: the Secret holding the CA and serving certificate.
    #[arg(
        long,
        env = "SPIDERPOOL_TLS_SECRET_NAME",
        default_value = "spiderpool-controller-server-certs"
    )]
    tls_secret_name: String,
    /// Generated mode: another DNS name or IP address for the certificate
    /// (repeatable), e.g. `127.0.0.1` for a `url:` webhook on loopback.
    #[arg(long = "tls-extra-san", env = "SPIDERPOOL_TLS_EXTRA_SANS", value_delimiter = ',')]
    tls_extra_sans: Vec<String>,
    /// Generated mode: validity of a serving certificate; renewed when a
    /// third of it is left.
    #[arg(long, env = "SPIDERPOOL_TLS_CERT_VALIDITY", default_value = "365d", value_parser = parse_duration)]
    tls_cert_validity: Duration,
    /// Generated mode: how often the Secret and the `caBundle`s are checked.
    #[arg(long, env = "SPIDERPOOL_TLS_CHECK_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    tls_check_interval: Duration,
    /// Mutating- and ValidatingWebhookConfiguration (same name) whose
    /// `caBundle` the controller keeps in generated mode; empty: none.
    #[arg(long, env = "SPIDERPOOL_WEBHOOK_CONFIGURATION", default_value = DEFAULT_CONFIGURATION_NAME)]
    webhook_configuration: String,
    /// Name of the Lease of the leader election.
    #[arg(long, env = "SPIDERPOOL_LEASE_NAME", default_value = "spiderpool-controller-leases")]
    lease_name: String,
    /// Namespace of the Lease; default: `--namespace`.
    #[arg(long, env = "SPIDERPOOL_LEASE_NAMESPACE")]
    lease_namespace: Option<String>,
    /// How long the Lease stays taken without renewal.
    #[arg(long, env = "SPIDERPOOL_LEADER_DURATION", default_value = "15s", value_parser = parse_duration)]
    leader_election_lease_duration: Duration,
    /// How long the leader tries to renew before it steps down.
    #[arg(long, env = "SPIDERPOOL_LEADER_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    leader_election_renew_deadline: Duration,
    /// Time between acquire and renew attempts.
    #[arg(long, env = "SPIDERPOOL_LEADER_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    leader_election_retry_period: Duration,
    /// Admit IPv4 pools, subnets and reserved IPs.
    #[arg(long, env = "SPIDERPOOL_ENABLE_IPV4", default_value_t = true, action = clap::ArgAction::Set)]
    enable_ipv4: bool,
    /// Admit IPv6 pools, subnets and reserved IPs.
    #[arg(long, env = "SPIDERPOOL_ENABLE_IPV6", default_value_t = true, action = clap::ArgAction::Set)]
    enable_ipv6: bool,
    /// The SpiderSubnet feature (`enableSpiderSubnet`: subnets admitted,
    /// pools of a subnet's CIDR adopted by it).
    #[arg(long, env = "SPIDERPOOL_ENABLE_SPIDER_SUBNET", default_value_t = false, action = clap::ArgAction::Set)]
    enable_spider_subnet: bool,
    /// Auto-pools for applications (`enableAutoPoolForApplication`; only
    /// with --enable-spider-subnet): the leader runs the application
    /// controller (docs/subnet.md).
    #[arg(long, env = "SPIDERPOOL_ENABLE_AUTO_POOL_FOR_APPLICATION", default_value_t = false, action = clap::ArgAction::Set)]
    enable_auto_pool_for_application: bool,
    /// Spare addresses of an auto-pool whose application sets no
    /// `ipam.spidernet.io/ippool-ip-number`
    /// (`clusterSubnetAutoPoolDefaultRedundantIPNumber`).
    #[arg(long, env = "SPIDERPOOL_AUTO_POOL_DEFAULT_REDUNDANT_IP_NUMBER", default_value_t = 1)]
    auto_pool_default_redundant_ip_number: u64,
    /// Refuse deleting pools and subnets that still have allocations
    /// (`enableValidatingResourcesDeletedWebhook`; the webhook configuration
    /// must then send DELETE too).
    #[arg(long, env = "SPIDERPOOL_ENABLE_DELETE_WEBHOOK", default_value_t = false, action = clap::ArgAction::Set)]
    enable_delete_webhook: bool,
    /// Test only: the leader writes a heartbeat into this ConfigMap of
    /// `--namespace` every second.
    #[arg(long, hide = true)]
    leader_heartbeat_configmap: Option<String>,
    /// Test only: the reconcilers and the collector look only at objects
    /// labelled `KEY=VALUE` (so that a test's controller leaves other tests'
    /// objects alone).
    #[arg(long, hide = true, value_parser = parse_label)]
    scope_label: Option<(String, String)>,
    /// Run the reconcilers on the leader (pool and subnet status and
    /// finalizers, SpiderMultusConfig → NAD, SpiderCoordinator status).
    #[arg(long, env = "SPIDERPOOL_RECONCILE", default_value_t = true, action = clap::ArgAction::Set)]
    reconcile: bool,
    /// Render SpiderMultusConfigs into NetworkAttachmentDefinitions (needs
    /// Multus' NAD CRD; Spiderpool's `SPIDERPOOL_MULTUS_CONFIG_ENABLED`).
    #[arg(long, env = "SPIDERPOOL_MULTUS_CONFIG_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    enable_multus_config: bool,
    /// Keep the SpiderCoordinator's status (pod and service CIDRs) up to date
    /// (Spiderpool's `SPIDERPOOL_COORDINATOR_ENABLED`).
    #[arg(long, env = "SPIDERPOOL_COORDINATOR_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    enable_coordinator: bool,
    /// Name of the SpiderCoordinator whose status the reconciler keeps.
    #[arg(long, env = "SPIDERPOOL_COORDINATOR_DEFAULT_NAME", default_value = "default")]
    coordinator_name: String,
    /// The node's CNI configuration directory, read to detect the overlay
    /// CNI (`podCIDRType: auto`).
    #[arg(long, env = "SPIDERPOOL_CNI_CONFIG_DIR", default_value = "/etc/cni/net.d")]
    cni_config_dir: PathBuf,
    /// Cilium's ConfigMap as `namespace/name`.
    #[arg(long, env = "SPIDERPOOL_CILIUM_CONFIGMAP_NAMESPACE_NAME", default_value = "kube-system/cilium-config", value_parser = parse_namespaced)]
    cilium_configmap: (String, String),
    /// Run IP garbage collection on the leader (docs/gc.md).
    #[arg(long, env = "SPIDERPOOL_GC_IP_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    gc: bool,
    /// Time between the collector's full scans (a number is seconds).
    #[arg(long, env = "SPIDERPOOL_GC_DEFAULT_INTERVAL_DURATION", default_value = "600s", value_parser = parse_duration)]
    gc_interval: Duration,
    /// How far apart the two observations that release an address must be.
    #[arg(long, env = "SPIDERPOOL_GC_GRACE", default_value = "30s", value_parser = parse_duration)]
    gc_grace: Duration,
    /// Extra time after a terminating pod's grace period before its
    /// addresses may go (a number is seconds).
    #[arg(long, env = "SPIDERPOOL_GC_ADDITIONAL_GRACE_DELAY", default_value = "0s", value_parser = parse_duration)]
    gc_terminating_delay: Duration,
    /// How often the reconcilers look at every object again without a change.
    #[arg(long, env = "SPIDERPOOL_RESYNC_PERIOD", default_value = "60s", value_parser = parse_duration)]
    resync_period: Duration,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, env = "SPIDERPOOL_LOG_LEVEL", default_value = "info")]
    log_level: tracing::Level,
    /// A one-off step instead of the controller.
    #[command(subcommand)]
    command: Option<Step>,
}

/// One-off steps.
#[derive(Debug, clap::Subcommand)]
enum Step {
    /// Create the default SpiderCoordinator and default pools of a file
    /// (Spiderpool's `spiderpool-init` Helm hook) when they do not exist.
    Init(InitArgs),
}

/// Arguments of `spiderpool-controller init`.
#[derive(Debug, clap::Args)]
struct InitArgs {
    /// YAML documents or a `List`: one SpiderCoordinator and SpiderIPPools.
    #[arg(long, value_name = "FILE")]
    objects: PathBuf,
    /// How long to keep trying while the API server or the webhooks refuse.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    tracing_subscriber::fmt()
        .with_max_level(args.log_level)
        .with_target(false)
        .with_ansi(ansi)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match &args.command {
        Some(Step::Init(init)) => runtime.block_on(init_step(&args, init)),
        None => runtime.block_on(start(args)),
    }
}

/// `spiderpool-controller init`.
async fn init_step(args: &Args, init: &InitArgs) -> anyhow::Result<()> {
    let client = client(args.kubeconfig.as_ref()).await?;
    let settings = ClusterSettings {
        enable_ipv4: args.enable_ipv4,
        enable_ipv6: args.enable_ipv6,
        ..ClusterSettings::default()
    };
    let report = run_init(client, &init.objects, init.timeout, settings).await?;
    for object in &report.created {
        tracing::info!(%object, "init: created");
    }
    for object in &report.existing {
        tracing::info!(%object, "init: exists, left alone");
    }
    Ok(())
}

async fn client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    spiderpool_k8s::connect(kubeconfig.map(PathBuf::as_path)).await.context("--kubeconfig")
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), std::process::id())
}

fn port(address: IpAddr, port: u16) -> Option<SocketAddr> {
    (port != 0).then(|| SocketAddr::new(address, port))
}

async fn start(args: Args) -> anyhow::Result<()> {
    if args.namespace.is_empty() {
        bail!("--namespace: must not be empty");
    }
    let identity = args.identity.clone().filter(|s| !s.is_empty()).unwrap_or_else(default_identity);
    let client = client(args.kubeconfig.as_ref()).await?;
    let tls = match (&args.tls_cert_file, &args.tls_key_file) {
        (Some(cert), Some(key)) => TlsMode::Files {
            cert: cert.clone(),
            key: key.clone(),
            reload_interval: args.tls_reload_interval,
        },
        _ => TlsMode::Generated {
            secret_name: args.tls_secret_name.clone(),
            extra_sans: args.tls_extra_sans.clone(),
            validity: args.tls_cert_validity,
            check_interval: args.tls_check_interval,
        },
    };
    let mut config = ControllerConfig {
        namespace: args.namespace.clone(),
        service_name: args.service_name.clone(),
        webhook_addr: SocketAddr::new(args.webhook_address, args.webhook_port),
        health_addr: port(args.health_address, args.health_port),
        metrics_addr: port(args.metrics_address, args.metrics_port),
        tls,
        webhook_configurations: [args.webhook_configuration.clone()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect(),
        election: ElectionConfig {
            namespace: args.lease_namespace.clone().unwrap_or_else(|| args.namespace.clone()),
            lease_name: args.lease_name.clone(),
            identity: identity.clone(),
            lease_duration: args.leader_election_lease_duration,
            renew_deadline: args.leader_election_renew_deadline,
            retry_period: args.leader_election_retry_period,
        },
        admission: ClusterSettings {
            enable_ipv4: args.enable_ipv4,
            enable_ipv6: args.enable_ipv6,
            enable_spider_subnet: args.enable_spider_subnet,
            enable_delete_webhook: args.enable_delete_webhook,
        },
        limits: ServerLimits::default(),
        gc_metrics: None,
    };
    config.election.check().context("--leader-election-*")?;
    let gc = args.gc.then(|| gc_options(&args, &identity));
    config.gc_metrics = gc.as_ref().map(|o| o.metrics.clone());
    let work = leader_work(
        client.clone(),
        LeaderWorkOptions {
            namespace: args.namespace.clone(),
            identity,
            heartbeat_configmap: args.leader_heartbeat_configmap.clone(),
            reconcile: args.reconcile.then(|| reconcile_options(&args)),
            gc: gc.clone(),
        },
    );
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let shutdown = async move {
        let which = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = which, "shutting down");
    };
    run(client, config, work, shutdown).await
}

/// The reconcilers' settings from the flags.
fn reconcile_options(args: &Args) -> ReconcileOptions {
    ReconcileOptions {
        multus_config: args.enable_multus_config,
        coordinator: args.enable_coordinator.then(|| CoordinatorOptions {
            name: args.coordinator_name.clone(),
            cni_config_dir: Some(args.cni_config_dir.clone()),
            cilium_config: args.cilium_configmap.clone(),
            ..CoordinatorOptions::default()
        }),
        resync: args.resync_period,
        label_selector: args.scope_label.as_ref().map(|(k, v)| format!("{k}={v}")),
        spider_subnet: args.enable_spider_subnet,
        auto_pool: (args.enable_spider_subnet && args.enable_auto_pool_for_application).then(
            || AutoPoolOptions {
                enable_ipv4: args.enable_ipv4,
                enable_ipv6: args.enable_ipv6,
                default_redundant: args.auto_pool_default_redundant_ip_number,
                ..AutoPoolOptions::default()
            },
        ),
        ..ReconcileOptions::default()
    }
}

/// `key=value`, both non-empty.
fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not key=value")),
    }
}

/// `namespace/name`, both non-empty.
fn parse_namespaced(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("{s:?} is not namespace/name")),
    }
}

/// The collector's settings from the flags.
fn gc_options(args: &Args, identity: &str) -> GcOptions {
    let mut options = GcOptions::default();
    options.reporter =
        Reporter { controller: FIELD_MANAGER.to_owned(), instance: Some(identity.to_owned()) };
    options.scan_interval = args.gc_interval;
    options.grace = args.gc_grace;
    options.terminating_delay = args.gc_terminating_delay;
    match &args.scope_label {
        Some((key, value)) => options.with_scope_label(key, value),
        None => options,
    }
}
