//! Printing objects (YAML or JSON) and rejections (as `kubectl` prints them).

use std::io::Write;

use serde::Serialize;
use spiderpool_core::admission::{Rejection, StatusReason};

use super::input::Location;
use super::{CtlError, OutputFormat};

/// A Kubernetes `List` of objects.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List<'a, T> {
    api_version: &'static str,
    kind: &'static str,
    items: &'a [T],
}

/// Prints objects: YAML documents separated by `---`, or JSON (one object, or a
/// `v1` `List` when there are several). Nothing is printed for no objects.
pub fn print_objects<T: Serialize>(
    w: &mut dyn Write,
    objects: &[T],
    format: OutputFormat,
) -> Result<(), CtlError> {
    if objects.is_empty() {
        return Ok(());
    }
    let text = match format {
        OutputFormat::Yaml => {
            serde_saphyr::to_string_multiple(objects).map_err(CtlError::output)?
        }
        OutputFormat::Json => {
            let mut text = match objects {
                [one] => serde_json::to_string_pretty(one),
                many => serde_json::to_string_pretty(&List {
                    api_version: "v1",
                    kind: "List",
                    items: many,
                }),
            }
            .map_err(CtlError::output)?;
            text.push('\n');
            text
        }
    };
    w.write_all(text.as_bytes()).map_err(CtlError::output)
}

/// Writes a rejection the way `kubectl` reports an admission error, with the
/// document it concerns:
///
/// ```text
/// Error from server (Invalid): <doc 1> SpiderIPPool "x" is invalid:
/// spec.ips[0]: Invalid value: "10.7.0.1": not in subnet 10.6.0.0/16
/// ```
///
/// `kind` and `name` are used when the rejection does not carry them.
pub fn write_rejection(
    w: &mut dyn Write,
    location: Location,
    kind: &str,
    name: &str,
    r: &Rejection,
) -> Result<(), CtlError> {
    let kind = if r.kind.is_empty() { kind } else { &r.kind };
    let name = if r.name.is_empty() { name } else { &r.name };
    let reason = match r.reason {
        StatusReason::Invalid => "Invalid",
        StatusReason::Forbidden => "Forbidden",
        StatusReason::AlreadyExists => "AlreadyExists",
        StatusReason::BadRequest => "BadRequest",
    };
    let mut text = format!("Error from server ({reason}): <{location}> {kind} {name:?} ");
    match r.reason {
        StatusReason::AlreadyExists => text.push_str("already exists"),
        StatusReason::Forbidden => text.push_str("is forbidden"),
        _ => text.push_str("is invalid"),
    }
    if !r.message.is_empty() {
        text.push_str(": ");
        text.push_str(&r.message);
    } else if !r.causes.is_empty() {
        text.push(':');
    }
    text.push('\n');
    for cause in &r.causes {
        text.push_str(&cause.to_string());
        text.push('\n');
    }
    w.write_all(text.as_bytes()).map_err(CtlError::output)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use spiderpool_core::admission::FieldError;

    use super::*;

    fn rejection_text(r: &Rejection) -> String {
        let mut out = Vec::new();
        let loc = Location { doc: 2, item: None };
        write_rejection(&mut out, loc, "SpiderIPPool", "fallback", r).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rejections_as_kubectl_prints_them() {
        let r = Rejection::invalid(
            "SpiderIPPool",
            "x",
            vec![
                FieldError::invalid("spec.ips[0]", "10.7.0.1", "not in subnet 10.6.0.0/16"),
                FieldError::required("spec.subnet", ""),
            ],
        );
        assert_eq!(
            rejection_text(&r),
            "Error from server (Invalid): <doc 2> SpiderIPPool \"x\" is invalid:\n\
             spec.ips[0]: Invalid value: \"10.7.0.1\": not in subnet 10.6.0.0/16\n\
             spec.subnet: Required value\n"
        );
        let r = Rejection::forbidden("SpiderIPPool", "x", "3 IPs are allocated");
        assert_eq!(
            rejection_text(&r),
            "Error from server (Forbidden): <doc 2> SpiderIPPool \"x\" is forbidden: 3 IPs are allocated\n"
        );
        let r = Rejection::already_exists("SpiderIPPool", "");
        assert_eq!(
            rejection_text(&r),
            "Error from server (AlreadyExists): <doc 2> SpiderIPPool \"fallback\" already exists\n"
        );
    }

    #[test]
    fn json_one_object_or_a_list() {
        let mut out = Vec::new();
        print_objects(&mut out, &[serde_json::json!({"a": 1})], OutputFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
        let mut out = Vec::new();
        let two = [serde_json::json!({"a": 1}), serde_json::json!({"b": 2})];
        print_objects(&mut out, &two, OutputFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "List");
        assert_eq!(v["items"][1]["b"], 2);
        let mut out = Vec::new();
        print_objects(&mut out, &two, OutputFormat::Yaml).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "a: 1\n---\nb: 2\n");
    }
}
