//! The `spiderpool` IPAM CNI plugin (see `spiderpool_bin::ipam`).

fn main() {
    let code = spiderpool_bin::cni::run_process(&spiderpool_bin::ipam::Spiderpool::default());
    std::process::exit(code);
}
