//! The `coordinator` CNI plugin (see `spiderpool_bin::coordinator`).

fn main() {
    let code =
        spiderpool_bin::cni::run_process(&spiderpool_bin::coordinator::Coordinator::default());
    std::process::exit(code);
}
