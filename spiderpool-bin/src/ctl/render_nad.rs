//! `spiderpoolctl render-nad`: the NetworkAttachmentDefinition each
//! SpiderMultusConfig produces.
//!
//! Each SpiderMultusConfig goes through its own CREATE admission first
//! (defaulting, then validation, with the default cluster settings and no
//! existing objects), exactly as the controller only ever renders stored
//! objects; an invalid one is reported as a rejection, not rendered.

use std::io::{Read, Write};

use spiderpool_core::admission::{self, ClusterSettings, Context, Existing, Operation};
use spiderpool_core::model::{Resource, SpiderMultusConfig};

use super::input::{self, Object};
use super::output::{print_objects, write_rejection};
use super::{CtlError, EXIT_OK, EXIT_REJECTED, RenderNadArgs};
use spiderpool_core::multus::render;

/// Runs `render-nad`; see the module docs.
pub fn run(
    args: &RenderNadArgs,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<u8, CtlError> {
    let source = input::source_name(&args.file);
    let mut smcs = Vec::new();
    for (location, object) in input::read_objects(&args.file, stdin, false)? {
        match object {
            Object::Spider(r) => match *r {
                Resource::MultusConfig(smc) => smcs.push((location, smc)),
                other => {
                    return Err(CtlError::Decode {
                        source_name: source,
                        location,
                        message: format!(
                            "{} {:?}: render-nad takes SpiderMultusConfigs only",
                            other.kind(),
                            other.name()
                        ),
                    });
                }
            },
            // Not yielded when NADs are not allowed.
            Object::Nad(_) => {}
        }
    }
    if smcs.is_empty() {
        return Err(CtlError::Usage(format!("{source}: no objects")));
    }

    let (settings, existing) = (ClusterSettings::default(), Existing::default());
    let ctx = Context { settings: &settings, existing: &existing };
    let mut nads = Vec::new();
    let mut rejected = false;
    for (location, smc) in smcs {
        let mut smc: Box<SpiderMultusConfig> = smc;
        let name = smc.metadata.name_str().to_owned();
        let admitted =
            admission::multusconfig::mutate(&mut smc, Operation::Create, &ctx).and_then(|()| {
                admission::multusconfig::validate(Operation::Create, Some(&smc), None, &ctx)
            });
        if let Err(rejection) = admitted {
            rejected = true;
            write_rejection(stderr, location, SpiderMultusConfig::KIND, &name, &rejection)?;
            continue;
        }
        match render(&smc) {
            Ok(nad) => nads.push(nad),
            Err(e) => {
                rejected = true;
                let line = format!(
                    "error: <{location}> {} {name:?}: cannot render: {e}\n",
                    SpiderMultusConfig::KIND
                );
                stderr.write_all(line.as_bytes()).map_err(|e| CtlError::Output(e.to_string()))?;
            }
        }
    }
    print_objects(stdout, &nads, args.output)?;
    Ok(if rejected { EXIT_REJECTED } else { EXIT_OK })
}
