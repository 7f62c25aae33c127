//! `spiderpoolctl validate`: admission, offline.
//!
//! Objects are admitted one after the other, as `kubectl apply -f` would send
//! them: each accepted CREATE or UPDATE joins the existing objects seen by the
//! documents after it (so two pools of the same name in one file clash), and
//! each allowed DELETE leaves them. For UPDATE, the `--old` object is in the
//! cluster (replacing any `--existing` object of the same identity); for
//! DELETE, the object being deleted is.

use std::io::{Read, Write};
use std::path::Path;

use spiderpool_core::admission::{self, ClusterSettings, Context, Existing, Operation};
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
    let op = match args.operation {
        OperationArg::Create => Operation::Create,
        OperationArg::Update => Operation::Update,
        OperationArg::Delete => Operation::Delete,
    };
    match (op, &args.old) {
        (Operation::Update, None) => {
            return Err(CtlError::Usage("--operation update needs --old FILE".into()));
        }
        (Operation::Create | Operation::Delete, Some(_)) => {
            return Err(CtlError::Usage("--old is only used with --operation update".into()));
        }
        _ => {}
    }

    let source = input::source_name(&args.file);
    let mut objects = Vec::new();
    for (location, object) in input::read_objects(&args.file, stdin, false)? {
        match object {
            Object::Spider(r) => objects.push((location, *r)),
            // Not yielded when NADs are not allowed.
            Object::Nad(_) => {}
        }
    }
    if objects.is_empty() {
        return Err(CtlError::Usage(format!("{source}: no objects")));
    }

    let mut existing = Existing::default();
    for path in &args.existing {
        for (_, object) in input::read_objects(path, stdin, true)? {
            match object {
                Object::Spider(r) => upsert(&mut existing, &r),
                Object::Nad(n) => existing.nads.push(*n),
            }
        }
    }

    let mut olds = Vec::new();
    if let Some(path) = &args.old {
        for (_, object) in input::read_objects(path, stdin, false)? {
            if let Object::Spider(r) = object {
                olds.push(*r);
            }
        }
    }
    // Pair every new object with its old one before admitting anything.
    let mut pairs: Vec<(Location, Resource, Option<Resource>)> = Vec::new();
    for (location, new) in objects {
        let old = if op == Operation::Update {
            let k = key(&new);
            let Some(old) = olds.iter().find(|o| key(o) == k) else {
                return Err(CtlError::Decode {
                    source_name: source.clone(),
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

    let settings = ClusterSettings {
        enable_ipv4: args.enable_ipv4,
        enable_ipv6: args.enable_ipv6,
        enable_spider_subnet: args.enable_spider_subnet,
        enable_delete_webhook: args.enable_delete_webhook,
    };
    let mut accepted = Vec::new();
    let mut rejected = false;
    for (location, mut obj, old) in pairs {
        let (kind, name) = (obj.kind(), obj.name().to_owned());
        let outcome = match op {
            Operation::Create | Operation::Update => {
                // The stored object is in the cluster, whatever --existing says.
                if let Some(old) = &old {
                    upsert(&mut existing, old);
                }
                let ctx = Context { settings: &settings, existing: &existing };
                let mutated = if args.only == Some(Phase::Validate) {
                    Ok(())
                } else {
                    admission::mutate(&mut obj, op, &ctx)
                };
                mutated.and_then(|()| {
                    if args.only == Some(Phase::Mutate) {
                        Ok(())
                    } else {
                        admission::validate(op, Some(&obj), old.as_ref(), &ctx)
                    }
                })
            }
            Operation::Delete => {
                upsert(&mut existing, &obj);
                let ctx = Context { settings: &settings, existing: &existing };
                if args.only == Some(Phase::Mutate) {
                    Ok(())
                } else {
                    admission::validate(op, None, Some(&obj), &ctx)
                }
            }
        };
        match outcome {
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
