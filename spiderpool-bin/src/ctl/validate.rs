//! `spiderpoolctl validate`: admission, offline.
//!
//! Objects are admitted one after the other, as `kubectl apply -f` would send
//! them: each accepted CREATE or UPDATE joins the existing objects seen by the
//! documents after it (so two pools of the same name in one file clash), and
//! each allowed DELETE leaves them. For UPDATE, the `--old` object is in the
//! cluster (replacing any `--existing` object of the same identity); for
//! DELETE, the object being deleted is.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use spiderpool_core::admission::{self, ClusterSettings, Context, Existing, Operation, Rejection};
use spiderpool_core::model::{ObjectMeta, Resource};

use super::input::{self, Location, Object};
use super::output::{print_objects, write_rejection};
use super::{CtlError, EXIT_OK, EXIT_REJECTED, OperationArg, Phase, ValidateArgs};

/// The identity of an object: kind, namespace (`default` when unset, for
/// namespaced kinds only) and name.
type Key = (&'static str, Option<String>, String);

fn key(r: &Resource) -> Key {
    let ns = r.is_namespaced().then(|| r.namespace().unwrap_or("default").to_owned());
    (r.kind(), ns, r.name().to_owned())
}

/// True when `meta` has the identity `(ns, name)` of `key`.
fn same(key: &Key, meta: &ObjectMeta) -> bool {
    let (_, ns, name) = key;
    meta.name_str() == name
        && ns.as_deref().is_none_or(|ns| meta.namespace.as_deref().unwrap_or("default") == ns)
}

/// Applies `$f` to the list of `$r`'s kind in `$existing` (SpiderEndpoints are
/// not kept: admission does not read them).
macro_rules! with_list {
    ($existing:expr, $r:expr, |$list:ident| $body:expr, $otherwise:expr) => {
        match $r {
            Resource::IPPool(_) => {
                let $list = &mut $existing.ippools;
                $body
            }
            Resource::Subnet(_) => {
                let $list = &mut $existing.subnets;
                $body
            }
            Resource::ReservedIP(_) => {
                let $list = &mut $existing.reserved_ips;
                $body
            }
            Resource::MultusConfig(_) => {
                let $list = &mut $existing.multus_configs;
                $body
            }
            Resource::Coordinator(_) => {
                let $list = &mut $existing.coordinators;
                $body
            }
            _ => $otherwise,
        }
    };
}

/// Removes the object with `r`'s identity from `existing`.
fn remove(existing: &mut Existing, r: &Resource) {
    let k = key(r);
    with_list!(existing, r, |list| list.retain(|x| !same(&k, &x.metadata)), ());
}

/// Puts `r` into `existing`, replacing the object with its identity.
fn upsert(existing: &mut Existing, r: &Resource) {
    remove(existing, r);
    existing.push(r.clone());
}

/// Every path given, to check that standard input is read at most once.
fn check_stdin_once(args: &ValidateArgs) -> Result<(), CtlError> {
    let paths = std::iter::once(&args.file).chain(&args.existing).chain(&args.old);
    if paths.filter(|p| p.as_path() == Path::new("-")).count() > 1 {
        return Err(CtlError::Usage("standard input (-) can be given only once".into()));
    }
    Ok(())
}

/// Runs `validate`; see the module docs.
pub fn run(
    args: &ValidateArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    check_stdin_once(args)?;
    let op = operation(args)?;
    let source = input::source_name(&args.file);
    let objects = read_new_objects(&args.file, &source, stdin)?;
    let mut existing = read_existing(&args.existing, stdin)?;
    let olds = match &args.old {
        Some(path) => read_old_objects(path, stdin)?,
        None => Vec::new(),
    };
    // Pair every new object with its old one before admitting anything.
    let pairs = pair_with_old(op, objects, &olds, &source)?;
    let settings = cluster_settings(args);
    let mut accepted = Vec::new();
    let mut rejected = false;
    for (location, mut obj, old) in pairs {
        let (kind, name) = (obj.kind(), obj.name().to_owned());
        match admit(op, args.only, &settings, &mut existing, &mut obj, old.as_ref()) {
            Ok(()) if op == Operation::Delete => remove(&mut existing, &obj),
            Ok(()) => {
                upsert(&mut existing, &obj);
                accepted.push(obj);
            }
            Err(rejection) => {
                rejected = true;
                write_rejection(stderr, location, kind, &name, &rejection)?;
            }
        }
    }
    print_objects(stdout, &accepted, args.output)?;
    Ok(if rejected { EXIT_REJECTED } else { EXIT_OK })
}

/// The admission operation of `--operation`, with `--old` given exactly when
/// it is UPDATE.
fn operation(args: &ValidateArgs) -> Result<Operation, CtlError> {
    let op = match args.operation {
        OperationArg::Create => Operation::Create,
        OperationArg::Update => Operation::Update,
        OperationArg::Delete => Operation::Delete,
    };
    match (op, &args.old) {
        (Operation::Update, None) => {
            Err(CtlError::Usage("--operation update needs --old FILE".into()))
        }
        (Operation::Create | Operation::Delete, Some(_)) => {
            Err(CtlError::Usage("--old is only used with --operation update".into()))
        }
        _ => Ok(op),
    }
}

/// The objects to admit, in file order; at least one.
fn read_new_objects(
    file: &Path,
    source: &str,
    stdin: &mut dyn Read,
) -> Result<Vec<(Location, Resource)>, CtlError> {
    let mut objects = Vec::new();
    for (location, object) in input::read_objects(file, stdin, false)? {
        match object {
            Object::Spider(r) => objects.push((location, *r)),
            // Not yielded when NADs are not allowed.
            Object::Nad(_) => {}
        }
    }
    if objects.is_empty() {
        return Err(CtlError::Usage(format!("{source}: no objects")));
    }
    Ok(objects)
}

/// The cluster of `--existing` (a later object replaces an earlier one with
/// its identity; NetworkAttachmentDefinitions are kept too).
fn read_existing(paths: &[PathBuf], stdin: &mut dyn Read) -> Result<Existing, CtlError> {
    let mut existing = Existing::default();
    for path in paths {
        for (_, object) in input::read_objects(path, stdin, true)? {
            match object {
                Object::Spider(r) => upsert(&mut existing, &r),
                Object::Nad(n) => existing.nads.push(*n),
            }
        }
    }
    Ok(existing)
}

/// The stored objects of `--old`.
fn read_old_objects(path: &Path, stdin: &mut dyn Read) -> Result<Vec<Resource>, CtlError> {
    let mut olds = Vec::new();
    for (_, object) in input::read_objects(path, stdin, false)? {
        if let Object::Spider(r) = object {
            olds.push(*r);
        }
    }
    Ok(olds)
}

/// One object to admit: where it was read, the object, and for UPDATE the
/// stored object it replaces.
type Pair = (Location, Resource, Option<Resource>);

/// Pairs every new object with the old object of its identity (UPDATE only);
/// a new object without one is an error at its location in `source`.
fn pair_with_old(
    op: Operation,
    objects: Vec<(Location, Resource)>,
    olds: &[Resource],
    source: &str,
) -> Result<Vec<Pair>, CtlError> {
    let mut pairs = Vec::with_capacity(objects.len());
    for (location, new) in objects {
        let old = if op == Operation::Update {
            let k = key(&new);
            let Some(old) = olds.iter().find(|o| key(o) == k) else {
                return Err(CtlError::Decode {
                    source_name: source.to_owned(),
                    location,
                    message: format!(
                        "{} {:?}: no object of that kind, namespace and name in --old",
                        new.kind(),
                        new.name()
                    ),
                });
            };
            Some(old.clone())
        } else {
            None
        };
        pairs.push((location, new, old));
    }
    Ok(pairs)
}

/// The cluster settings the `--enable-*` flags describe.
fn cluster_settings(args: &ValidateArgs) -> ClusterSettings {
    ClusterSettings {
        enable_ipv4: args.enable_ipv4,
        enable_ipv6: args.enable_ipv6,
        enable_spider_subnet: args.enable_spider_subnet,
        enable_delete_webhook: args.enable_delete_webhook,
    }
}

/// Admits one object as the API server would: CREATE and UPDATE mutate then
/// validate (`only` skips one phase) with the stored `old` in the cluster;
/// DELETE validates with the object itself in the cluster. `existing` keeps
/// the object put in; the caller records the outcome.
fn admit(
    op: Operation,
    only: Option<Phase>,
    settings: &ClusterSettings,
    existing: &mut Existing,
    obj: &mut Resource,
    old: Option<&Resource>,
) -> Result<(), Rejection> {
    match op {
        Operation::Create | Operation::Update => {
            // The stored object is in the cluster, whatever --existing says.
            if let Some(old) = old {
                upsert(existing, old);
            }
            let ctx = Context { settings, existing };
            if only != Some(Phase::Validate) {
                admission::mutate(obj, op, &ctx)?;
            }
            if only == Some(Phase::Mutate) {
                return Ok(());
            }
            admission::validate(op, Some(&*obj), old, &ctx)
        }
        Operation::Delete => {
            upsert(existing, obj);
            let ctx = Context { settings, existing };
            if only == Some(Phase::Mutate) {
                return Ok(());
            }
            admission::validate(op, None, Some(&*obj), &ctx)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const AT: Location = Location { doc: 1, item: None };

    fn pool(name: &str, subnet: &str) -> Resource {
        Resource::from_value(serde_json::json!({
            "apiVersion": "spiderpool.spidernet.io/v2beta1",
            "kind": "SpiderIPPool",
            "metadata": { "name": name },
            "spec": { "subnet": subnet, "ips": [] },
        }))
        .unwrap()
    }

    #[test]
    fn pair_with_old_finds_the_old_object_by_identity_for_update_only() {
        let olds = [pool("a", "10.0.0.0/24")];
        let pairs =
            pair_with_old(Operation::Update, vec![(AT, pool("a", "10.0.0.0/24"))], &olds, "f")
                .unwrap();
        assert_eq!(pairs[0].2.as_ref().map(Resource::name), Some("a"));
        let pairs =
            pair_with_old(Operation::Create, vec![(AT, pool("a", "10.0.0.0/24"))], &olds, "f")
                .unwrap();
        assert!(pairs[0].2.is_none());
        let err =
            pair_with_old(Operation::Update, vec![(AT, pool("b", "10.0.0.0/24"))], &olds, "f")
                .unwrap_err();
        assert!(err.to_string().contains("no object of that kind, namespace and name"), "{err}");
    }

    #[test]
    fn admit_runs_the_phases_asked_for() {
        let settings = ClusterSettings::default();
        let mut existing = Existing::default();
        // Mutation infers ipVersion; validation then accepts.
        let mut good = pool("a", "10.0.0.0/24");
        admit(Operation::Create, None, &settings, &mut existing, &mut good, None).unwrap();
        let Resource::IPPool(p) = &good else { panic!("{good:?}") };
        assert_eq!(p.spec.ip_version, Some(4));
        // Validation only: the version was never inferred, so it is refused.
        let mut raw = pool("b", "10.0.0.0/24");
        let only = Some(Phase::Validate);
        assert!(admit(Operation::Create, only, &settings, &mut existing, &mut raw, None).is_err());
        // Mutation only never refuses a bad subnet.
        let mut bad = pool("c", "not-a-cidr");
        let only = Some(Phase::Mutate);
        admit(Operation::Create, only, &settings, &mut existing, &mut bad, None).unwrap();
        // DELETE puts the object in the cluster, and validates it.
        let mut gone = pool("d", "10.1.0.0/24");
        admit(Operation::Delete, None, &settings, &mut existing, &mut gone, None).unwrap();
        assert!(existing.ippools.iter().any(|p| p.metadata.name_str() == "d"));
    }
}
