//! Metadata both mutations and the terminating rule use: the finalizer, labels
//! and the CIDR label value.

use std::collections::BTreeMap;

use crate::admission::Rejection;
use crate::model::{FINALIZER, ObjectMeta};

/// True when `meta` carries the `spiderpool.spidernet.io` finalizer.
pub fn has_finalizer(meta: &ObjectMeta) -> bool {
    meta.finalizers.as_ref().is_some_and(|f| f.iter().any(|x| x == FINALIZER))
}

/// The UPDATE rule for a terminating pool or subnet (Spiderpool's webhooks):
/// `None` when the object is not terminating (validate it as usual);
/// otherwise forbidden while it still has the finalizer (`noun` names the
/// kind as Spiderpool's message does, e.g. "IPPool"), else allowed as is.
pub fn terminating_update(
    kind: &str,
    noun: &str,
    meta: &ObjectMeta,
) -> Option<Result<(), Rejection>> {
    if !meta.is_terminating() {
        return None;
    }
    Some(if has_finalizer(meta) {
        Err(Rejection::forbidden(
            kind,
            meta.name_str(),
            format!("cannot update a terminating {noun}"),
        ))
    } else {
        Ok(())
    })
}

/// Adds the `spiderpool.spidernet.io` finalizer unless present.
pub fn ensure_finalizer(meta: &mut ObjectMeta) {
    if !has_finalizer(meta) {
        meta.finalizers.get_or_insert_with(Vec::new).push(FINALIZER.to_owned());
    }
}

/// Sets one label, creating the label map when needed.
pub fn set_label(meta: &mut ObjectMeta, key: &str, value: &str) {
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    if labels.get(key).map(String::as_str) != Some(value) {
        labels.insert(key.to_owned(), value.to_owned());
    }
}

/// The label value Spiderpool derives from a subnet (`CIDRToLabelValue`):
/// `10.6.0.0/16` → `10-6-0-0-16`, `fd00::/64` → `fd00---64`.
pub fn cidr_label_value(subnet: &str) -> String {
    subnet.replace(['.', ':', '/'], "-")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn cidr_label_value_replaces_separators() {
        assert_eq!(cidr_label_value("10.6.0.0/16"), "10-6-0-0-16");
        assert_eq!(cidr_label_value("fd00::/64"), "fd00---64");
    }

    #[test]
    fn finalizer_and_labels_are_idempotent() {
        let mut m = ObjectMeta::default();
        ensure_finalizer(&mut m);
        ensure_finalizer(&mut m);
        assert_eq!(m.finalizers.as_deref(), Some(&[FINALIZER.to_owned()][..]));
        set_label(&mut m, "a", "b");
        set_label(&mut m, "a", "b");
        assert_eq!(m.label("a"), Some("b"));
    }
}
