//! The mutating webhook's JSONPatch: what defaulting changed, as operations on
//! the object the API server sent.
//!
//! The core's model carries the fields Spiderpool defines, not everything an
//! object holds (`metadata.managedFields`, fields a newer CRD adds), and it
//! writes them in its own normal form. A plain diff between the request's
//! object and the defaulted model would remove what the model does not carry
//! and rewrite what it normalises. So the patch is built in two steps:
//! compare the model before and after defaulting, carry exactly those changes
//! onto the original object ([`overlay`]), and diff the original against that.

use serde_json::Value;

/// The JSONPatch that turns `original` into `original` with the changes
/// between `before` and `after` (the decoded object before and after
/// defaulting). Empty when defaulting changed nothing.
pub fn defaulting_patch(original: &Value, before: &Value, after: &Value) -> json_patch::Patch {
    let mut target = original.clone();
    overlay(&mut target, before, after);
    json_patch::diff(original, &target)
}

/// Applies to `target` the differences between `before` and `after`:
/// members added, removed or changed in objects (recursively), and any other
/// changed value replaced whole. Parts equal in `before` and `after` keep
/// whatever `target` holds there.
pub fn overlay(target: &mut Value, before: &Value, after: &Value) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let Some(t) = target.as_object_mut() else { return };
            for key in b.keys().filter(|k| !a.contains_key(*k)) {
                t.remove(key);
            }
            for (key, av) in a {
                match b.get(key) {
                    // Unchanged: whatever `target` holds (or lacks) there stays.
                    Some(bv) if bv == av => {}
                    Some(bv) => {
                        let slot = t.entry(key.clone()).or_insert(Value::Null);
                        overlay(slot, bv, av);
                    }
                    None => {
                        t.insert(key.clone(), av.clone());
                    }
                }
            }
        }
        _ => *target = after.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_member_absent_from_the_object_and_unchanged_by_defaulting_stays_absent() {
        // A SpiderMultusConfig without chainCNIJsonData: the model decodes it as [] both
        // before and after defaulting; the patch must not add it (as null or otherwise).
        let original = json!({"spec": {"cniType": "macvlan"}});
        let before = json!({"spec": {"cniType": "macvlan", "chainCNIJsonData": []}});
        let after = json!({"spec": {"cniType": "macvlan", "chainCNIJsonData": [], "enableCoordinator": true}});
        let mut target = original.clone();
        overlay(&mut target, &before, &after);
        assert_eq!(target, json!({"spec": {"cniType": "macvlan", "enableCoordinator": true}}));
    }

    #[test]
    fn only_defaulted_fields_change_and_unknown_ones_stay() {
        let original = json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}]},
            "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.2", "10.6.0.1"], "extra": 1}
        });
        let before = json!({
            "metadata": {"name": "p"},
            "spec": {"subnet": "10.6.0.0/16", "ips": ["10.6.0.2", "10.6.0.1"]}
        });
        let after = json!({
            "metadata": {"name": "p", "finalizers": ["spiderpool.spidernet.io"]},
            "spec": {"subnet": "10.6.0.0/16", "ipVersion": 4, "ips": ["10.6.0.1-10.6.0.2"]}
        });
        let patch = defaulting_patch(&original, &before, &after);
        let mut patched = original.clone();
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(
            patched,
            json!({
                "metadata": {"name": "p", "managedFields": [{"manager": "kubectl"}],
                             "finalizers": ["spiderpool.spidernet.io"]},
                "spec": {"subnet": "10.6.0.0/16", "ipVersion": 4, "ips": ["10.6.0.1-10.6.0.2"],
                         "extra": 1}
            })
        );
    }

    #[test]
    fn nothing_defaulted_is_an_empty_patch() {
        let v = json!({"metadata": {"name": "p"}, "spec": {"x": [1, 2]}});
        let original = json!({"metadata": {"name": "p", "uid": "u"}, "spec": {"x": [1, 2]}});
        assert!(defaulting_patch(&original, &v, &v).0.is_empty());
    }
}
