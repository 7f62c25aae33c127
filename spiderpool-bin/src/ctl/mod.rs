//! `spiderpoolctl`: the command line, and the commands as library functions.
//!
//! - [`validate`]: run admission (defaulting and validation) over objects read
//!   from files, offline, and print them as the API server would store them;
//! - [`render_nad`]: print the NetworkAttachmentDefinition a
//!   SpiderMultusConfig produces;
//! - [`plan`]: print the coordinator's plan for a scenario file.
//! - [`cni_runner`]: run a CNI network configuration or list like a runtime.
//! - [`agent_cmds`]: `apply`, `get`, `describe`, `delete`, `release` against
//!   a running agent on its unix socket (`--socket`), or `apply`, `get`,
//!   `describe`, `delete` against a cluster (`--kubeconfig`).
//!
//! Exit codes: [`EXIT_OK`] (0), [`EXIT_REJECTED`] (1: admission rejected an
//! object, or a SpiderMultusConfig cannot be rendered) and [`EXIT_BAD_INPUT`]
//! (2: a file cannot be read or parsed, an object cannot be decoded, or the
//! flags do not fit together; clap's usage errors are 2 as well).

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod agent_cmds;
pub mod cni_runner;
pub mod input;
pub mod output;
pub mod plan;
pub mod render_nad;
pub mod validate;

/// Everything was accepted.
pub const EXIT_OK: u8 = 0;
/// Admission rejected at least one object (or a SpiderMultusConfig could not be
/// rendered).
pub const EXIT_REJECTED: u8 = 1;
/// The input could not be read, parsed or decoded, or the flags are
/// inconsistent.
pub const EXIT_BAD_INPUT: u8 = 2;

/// `spiderpoolctl`: offline tools for Spiderpool resources.
#[derive(Debug, Parser)]
#[command(name = "spiderpoolctl", version, about, propagate_version = true)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
    /// The agent's unix socket (for apply, get, describe, delete, release).
    #[arg(long, global = true, value_name = "PATH",
          default_value = spiderpool_core::agent_api::DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Talk to this cluster's API server instead of the agent (apply, get,
    /// describe, delete); admission is then the cluster's webhooks'.
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "socket")]
    pub kubeconfig: Option<PathBuf>,
}

impl Cli {
    /// Where the object commands go: `--kubeconfig`'s cluster, else the
    /// agent on `--socket`.
    pub fn target(&self) -> agent_cmds::Target {
        match &self.kubeconfig {
            Some(path) => agent_cmds::Target::Kubernetes(path.clone()),
            None => agent_cmds::Target::Agent(self.socket.clone()),
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run admission (defaulting, then validation) over objects in a file and
    /// print them as they would be stored.
    Validate(ValidateArgs),
    /// Print the NetworkAttachmentDefinition each SpiderMultusConfig in a file
    /// produces (after its own defaulting and validation).
    RenderNad(RenderNadArgs),
    /// Print the coordinator's route plan for a scenario file (offline, no
    /// root): `ip` command lines or JSON.
    Plan(PlanArgs),
    /// Run a CNI network configuration or list (or a NAD's spec.config) like a
    /// container runtime: add, del, check, gc, status.
    Cni(cni_runner::CniRunArgs),
    /// Send objects to the agent (`--socket`; admission runs there) or to a
    /// cluster (`--kubeconfig`).
    Apply(agent_cmds::ApplyArgs),
    /// List objects from the agent or cluster, with Spiderpool's printer
    /// columns.
    Get(agent_cmds::GetArgs),
    /// Show one object (pools: usage bar and allocations).
    Describe(agent_cmds::ObjectArgs),
    /// Delete one object.
    Delete(agent_cmds::ObjectArgs),
    /// Free the addresses a pod holds (a leaked IP) through the agent.
    Release(agent_cmds::ReleaseArgs),
}

/// Output format of `plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// `ip` command lines (pod side as `ip -n pod ...`).
    Ip,
    /// `{mode, firstInvoke, table, ops}`.
    Json,
}

/// Arguments of `spiderpoolctl plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Scenario file (YAML or JSON); `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "SCENARIO")]
    pub file: PathBuf,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = PlanFormat::Ip)]
    pub output: PlanFormat,
    /// Plan a CNI DEL instead of an ADD.
    #[arg(long)]
    pub del: bool,
    /// Also print the pod's and host's rules and tables after the plan.
    #[arg(long)]
    pub result: bool,
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// YAML documents separated by `---`.
    Yaml,
    /// One JSON object, or a `List` when there are several.
    Json,
}

/// The admission operation to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OperationArg {
    /// New objects.
    Create,
    /// Changed objects; `--old` gives the stored ones.
    Update,
    /// Objects being deleted (the file holds the stored objects).
    Delete,
}

/// A single admission phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    /// Only defaulting (the mutating webhook).
    Mutate,
    /// Only validation (the validating webhook), of the object as given.
    Validate,
}

/// Arguments of `spiderpoolctl validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// File with the objects to admit: multi-document YAML, a JSON object or a
    /// JSON `List`; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,
    /// File with objects that already exist in the cluster (may include
    /// NetworkAttachmentDefinitions); repeatable.
    #[arg(long = "existing", value_name = "FILE")]
    pub existing: Vec<PathBuf>,
    /// File with the stored objects an UPDATE replaces, matched by kind,
    /// namespace and name.
    #[arg(long = "old", value_name = "FILE")]
    pub old: Option<PathBuf>,
    /// The admission operation.
    #[arg(long = "operation", value_enum, default_value_t = OperationArg::Create)]
    pub operation: OperationArg,
    /// Run a single phase only.
    #[arg(long = "only", value_enum, value_name = "PHASE")]
    pub only: Option<Phase>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
    /// IPv4 is enabled in the cluster.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_ipv4: bool,
    /// IPv6 is enabled in the cluster.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_ipv6: bool,
    /// The SpiderSubnet feature is on.
    #[arg(long, value_name = "BOOL", default_value_t = false, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_spider_subnet: bool,
    /// The delete-protection webhook is on (pools and subnets with allocations
    /// cannot be deleted).
    #[arg(long, value_name = "BOOL", default_value_t = false, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_delete_webhook: bool,
}

/// Arguments of `spiderpoolctl render-nad`.
#[derive(Debug, Args)]
pub struct RenderNadArgs {
    /// File with SpiderMultusConfigs; `-` reads standard input.
    #[arg(short = 'f', long = "filename", value_name = "SMC_FILE")]
    pub file: PathBuf,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
}

/// A failure that is not an admission decision: unreadable or undecodable
/// input, inconsistent flags, or output that cannot be written. Exit code
/// [`EXIT_BAD_INPUT`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CtlError {
    /// A file (or standard input) cannot be read.
    #[error("cannot read {source_name}")]
    Read {
        /// The file name, or `<stdin>`.
        source_name: String,
        /// The I/O error: `source()`, not part of the message (`spiderpoolctl`
        /// prints the chain, so it appears once).
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML or JSON.
    #[error("{source_name}: {message}")]
    Parse {
        /// The file name, or `<stdin>`.
        source_name: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// One object cannot be decoded (unknown kind, wrong apiVersion, a field of
    /// the wrong type, or a kind this command does not take).
    #[error("{source_name}: {location}: {message}")]
    Decode {
        /// The file name, or `<stdin>`.
        source_name: String,
        /// Which document (and item of a `List`).
        location: input::Location,
        /// What is wrong, naming the kind, the name and the field.
        message: String,
    },
    /// The flags or files do not fit together.
    #[error("{0}")]
    Usage(String),
    /// The result cannot be printed.
    #[error("cannot write output: {0}")]
    Output(String),
}

impl CtlError {
    fn output(e: impl std::fmt::Display) -> Self {
        CtlError::Output(e.to_string())
    }
}

/// Runs a command. Returns the exit code for admission outcomes
/// ([`EXIT_OK`] or [`EXIT_REJECTED`]); an `Err` means [`EXIT_BAD_INPUT`].
pub fn run(
    cli: &Cli,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    match &cli.command {
        Command::Validate(args) => validate::run(args, stdin, stdout, stderr),
        Command::RenderNad(args) => render_nad::run(args, stdin, stdout, stderr),
        Command::Plan(args) => plan::run(args, stdin, stdout, stderr),
        Command::Cni(args) => cni_runner::run(args, stdin, stdout, stderr),
        Command::Apply(args) => agent_cmds::apply(&cli.target(), args, stdin, stdout, stderr),
        Command::Get(args) => agent_cmds::get(&cli.target(), args, stdout, stderr),
        Command::Describe(args) => agent_cmds::describe(&cli.target(), args, stdout, stderr),
        Command::Delete(args) => agent_cmds::delete(&cli.target(), args, stdout, stderr),
        Command::Release(_) if cli.kubeconfig.is_some() => {
            writeln!(
                stderr,
                "error: release: needs the agent (--socket): the agent frees addresses, not the API server"
            )
            .map_err(|e| CtlError::Output(e.to_string()))?;
            Ok(EXIT_BAD_INPUT)
        }
        Command::Release(args) => agent_cmds::release(&cli.socket, args, stdout, stderr),
    }
}
