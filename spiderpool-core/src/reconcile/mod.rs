//! The controller's decisions (reference §2.1, §2.2, §6, §7), as pure
//! functions over objects the controller has read: what a pool's and a
//! subnet's status should say, whether Spiderpool's finalizer goes on or
//! comes off, which of two overlapping pools loses an admission race, which
//! SpiderMultusConfig owns a NetworkAttachmentDefinition name and whether the
//! stored NAD needs a write, and what the SpiderCoordinator's status is given
//! the facts gathered from the cluster.
//!
//! The Kubernetes adapter (`spiderpool-k8s`'s `reconcile` module) reads the
//! facts, calls these functions, and writes what they return.

pub mod cidr;
pub mod nad;
pub mod pool;
pub mod subnet;

/// Orders two objects as "who came first": by `metadata.creationTimestamp`
/// (RFC 3339 in the API server's fixed `%Y-%m-%dT%H:%M:%SZ` form, so text
/// order is time order; an object without one sorts first), then by name.
pub fn admitted_before(
    a: (&Option<String>, &str),
    b: (&Option<String>, &str),
) -> std::cmp::Ordering {
    a.0.cmp(b.0).then_with(|| a.1.cmp(b.1))
}
