//! The two namespaces of one CNI command, open on one dedicated thread: a
//! netlink handle in each, and which one the thread itself is in (sysctls,
//! MAC announcements and nftables need the thread inside the namespace).
//! Shared by [`apply`](crate::apply), [`observe`](crate::observe) and
//! [`Session`](crate::Session); it imports none of them.

use rtnetlink::Handle;
use spiderpool_core::coordinator::Side;

use crate::error::Result;
use crate::netns::{Netns, NsFd, connect, connect_strict, on_worker};

/// A namespace with its open netlink handle.
pub(crate) struct SideCtx {
    pub(crate) handle: Handle,
    pub(crate) ns: NsFd,
}

/// Both sides, and which one the thread is in.
pub(crate) struct Ctx {
    pub(crate) pod: SideCtx,
    pub(crate) host: SideCtx,
    entered: Side,
}

impl Ctx {
    pub(crate) fn side(&self, side: Side) -> &SideCtx {
        match side {
            Side::Pod => &self.pod,
            Side::Host => &self.host,
        }
    }
    pub(crate) fn other(&self, side: Side) -> &SideCtx {
        match side {
            Side::Pod => &self.host,
            Side::Host => &self.pod,
        }
    }
    /// Moves the worker thread into `side`'s namespace.
    pub(crate) fn enter(&mut self, side: Side) -> Result<()> {
        if self.entered != side {
            self.side(side).ns.enter()?;
            self.entered = side;
        }
        Ok(())
    }
}

/// Opens both namespaces on a dedicated thread and runs `f` there.
pub(crate) fn with_ctx<T, F, Fut>(pod: &Netns, host: &Netns, f: F) -> Result<T>
where
    T: Send,
    F: FnOnce(Ctx) -> Fut + Send,
    Fut: std::future::Future<Output = Result<T>>,
{
    let pod_ns = NsFd::open(pod)?;
    let host_ns = NsFd::open(host)?;
    on_worker(|| async move {
        pod_ns.enter()?;
        let pod_h = connect()?;
        host_ns.enter()?;
        // Strict: the host view's route dump asks the kernel for the host
        // rule table only (a node's other tables can be large).
        let host_h = connect_strict()?;
        let ctx = Ctx {
            pod: SideCtx { handle: pod_h, ns: pod_ns },
            host: SideCtx { handle: host_h, ns: host_ns },
            entered: Side::Host,
        };
        f(ctx).await
    })
}
