//! One dedicated thread for a whole CNI command: read the pod view, read the
//! host view, apply the plan, all through the same two netlink sockets.
//!
//! [`read_view`](crate::read_view), [`read_host_view`](crate::host::read_host_view)
//! and [`apply`](crate::apply) each spawn a thread, enter a namespace and build
//! a tokio runtime. A plugin that calls the three in a row pays that three
//! times, and on a busy node every thread start is a hand-off the scheduler may
//! delay. [`with_session`] pays it once: the caller's closure runs on one thread
//! that holds a socket in each namespace, and may plan (pure, synchronous) between
//! the reads and the apply.
//!
//! What it does not do: plan (the caller does, with `spiderpool-core`), or keep
//! anything after the closure returns.

use std::future::Future;
use std::net::IpAddr;

use spiderpool_core::coordinator::{HostView, LinkView, NetnsView, RoutePlan};

use crate::apply::apply_with;
use crate::context::{Ctx, with_ctx};
use crate::error::Result;
use crate::host::read_host_view_with;
use crate::netns::Netns;
use crate::read::{read_link_with, read_links_and_addresses_with, read_view_with};

/// The pod and host namespaces, each with an open netlink socket, on the
/// dedicated thread running the [`with_session`] closure.
pub struct Session {
    ctx: Ctx,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("pod", &self.ctx.pod.ns.name)
            .field("host", &self.ctx.host.ns.name)
            .finish()
    }
}

impl Session {
    /// What the pod namespace holds (see [`read_view_with`]).
    pub async fn pod_view(&self) -> Result<NetnsView> {
        read_view_with(&self.ctx.pod.handle).await
    }

    /// The host view for the planner (see [`read_host_view_with`]).
    pub async fn host_view(&self, pod_ips: &[IpAddr], host_rule_table: u32) -> Result<HostView> {
        read_host_view_with(&self.ctx.host.handle, pod_ips, host_rule_table).await
    }

    /// The pod's links and addresses only (no routes, rules): the pod part
    /// of a [`DelView`](spiderpool_core::coordinator::DelView).
    pub async fn pod_links_and_addresses(&self) -> Result<NetnsView> {
        read_links_and_addresses_with(&self.ctx.pod.handle).await
    }

    /// One host link by name, with a single `RTM_GETLINK` for that name (no
    /// dump of the host's links); `None` when the host has none: the host
    /// part of a [`DelView`](spiderpool_core::coordinator::DelView).
    pub async fn host_link(&self, name: &str) -> Result<Option<LinkView>> {
        read_link_with(&self.ctx.host.handle, name).await
    }

    /// Applies `plan` in order, exactly as [`apply`](crate::apply) does.
    pub async fn apply(&mut self, plan: &RoutePlan) -> Result<()> {
        apply_with(&mut self.ctx, plan).await
    }
}

/// Opens `pod` and `host` on one dedicated thread (which `setns`'s into each
/// to open its socket, with a current-thread tokio runtime) and runs `f` there
/// with the [`Session`]. Blocks until `f` finishes. Fails before `f` runs when
/// a namespace cannot be opened or entered.
pub fn with_session<T, F, Fut>(pod: &Netns, host: &Netns, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Session) -> Fut + Send,
    Fut: Future<Output = Result<T>>,
{
    with_ctx(pod, host, |ctx| async move { f(Session { ctx }).await })
}
