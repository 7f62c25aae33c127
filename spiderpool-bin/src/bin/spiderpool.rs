//! The `spiderpool` IPAM CNI plugin (see `spiderpool_bin::ipam`). With
//! `SPIDERPOOL_ANNOUNCE_JOB` set it is the detached announcer of an ADD
//! instead (`spiderpool_bin::ipam::Announce::Detached`).

use spiderpool_bin::ipam::{ANNOUNCE_ENV, Announce, Spiderpool, announce_child};

fn main() {
    if let Ok(job) = std::env::var(ANNOUNCE_ENV) {
        std::process::exit(announce_child(&job));
    }
    let plugin = Spiderpool { announce: Announce::Agent, ..Spiderpool::default() };
    let code = spiderpool_bin::cni::run_process(&plugin);
    std::process::exit(code);
}
