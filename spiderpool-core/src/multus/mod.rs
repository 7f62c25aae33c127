//! SpiderMultusConfig to Multus NetworkAttachmentDefinition (`k8s.cni.cncf.io/v1`)
//! rendering (reference §7). (In progress.)

mod nad;

pub use nad::{NAD_API_VERSION, NAD_KIND, NadSpec, NetworkAttachmentDefinition};
